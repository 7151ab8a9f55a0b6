package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/pemba-authz/pemba/internal/spicedb"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/validation"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// isValidationFile reports whether an import's input is a validation file (Pemba's or
// SpiceDB's YAML) rather than relationships one per line.
func isValidationFile(name string) bool {
	lower := strings.ToLower(name)
	return strings.HasSuffix(lower, ".yaml") || strings.HasSuffix(lower, ".yml")
}

// openImportInput opens an import's input: a relationship file as it is, a validation
// file as its relationships in the text form, in the order written.
func openImportInput(cmd *cobra.Command, name string) (io.Reader, string, func(), error) {
	if name == "-" || !isValidationFile(name) {
		in, label, closeIn, err := openInput(cmd, name)
		if err != nil {
			return nil, "", nil, err
		}
		in, format := sniffInput(in)
		if format == spicedb.FormatText {
			return in, label, closeIn, nil
		}
		converted, stop := convertedInput(in, format)
		return converted, label, func() { stop(); closeIn() }, nil
	}
	f, err := validation.Load(name)
	if err != nil {
		return nil, "", nil, usageErrorf("%v", err)
	}
	var b strings.Builder
	for _, r := range f.Relationships {
		b.WriteString(tuple.Format(r.Relationship))
		b.WriteByte('\n')
	}
	return strings.NewReader(b.String()), name, func() {}, nil
}

// writeValidationSchema writes the schema of a validation file before its
// relationships are imported.
func writeValidationSchema(cmd *cobra.Command, o *clientOptions, file, reason string) error {
	var text string
	if isValidationFile(file) {
		f, err := validation.Load(file)
		if err != nil {
			return usageErrorf("%v", err)
		}
		if f.Schema == nil {
			return usageErrorf("--with-schema: %s has no schema or schemaFile", file)
		}
		text = f.Schema.Text
	} else {
		schema, isBackup, err := backupSchema(file)
		if err != nil {
			return err
		}
		if !isBackup {
			return usageErrorf("--with-schema needs a validation file (.yaml or .yml) or a SpiceDB backup that holds a schema; %s is a relationship file", file)
		}
		text = schema
	}
	return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
		resp, err := pb.NewSchemaServiceClient(conn).WriteSchema(ctx, &pb.WriteSchemaRequest{Tenant: o.tenant, Schema: text, Reason: reason})
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "schema written from %s (token %s)\n", file, resp.GetToken())
		return nil
	})
}
