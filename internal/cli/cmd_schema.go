package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/pemba-authz/pemba/internal/schema"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func newSchemaCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Write, read, diff and format schemas",
		Long: `Write and read a tenant's schema on the server, and compare or format schema
files offline (diff and fmt need no server).`,
	}
	// write and read talk to a server and take the connection flags; diff and fmt are
	// offline and show none of them.
	cmd.AddCommand(newSchemaWriteCommand(), newSchemaReadCommand(), newSchemaDiffCommand(), newSchemaFmtCommand(), newSchemaImportOpenFGACommand())
	return cmd
}

func newSchemaWriteCommand() *cobra.Command {
	var o *clientOptions
	var dryRun bool
	var reason string
	cmd := &cobra.Command{
		Use:   "write FILE",
		Short: "Write a schema (refused when it would orphan stored relationships)",
		Long: `Compile FILE and store it as the tenant's schema. The server compares it with the
schema in force and refuses a change that would orphan stored relationships (a removed
definition, relation or allowed subject type that relationships still use), naming how
many and giving an example. With --dry-run nothing is written: the diff and the verdict
are printed.

Exit status: 0 written (or would be), 1 refused, 2 error (a compile error is shown
with file:line:col and a caret).`,
		Example: `  pemba schema write schema/b2b-ciam/schema.zed --reason "initial model"
  pemba schema write new.zed --dry-run
  cat schema.zed | pemba schema write -`,
		Args: exactArgs(1, "FILE (or - for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			return runSchemaWrite(cmd, o, args[0], string(text), dryRun, reason)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "compile and compare only; write nothing")
	cmd.Flags().StringVar(&reason, "reason", "", "why the schema changes; kept in the audit trail")
	o = addClientFlags(cmd)
	return cmd
}

// schemaWriteJSON is the JSON output of schema write.
type schemaWriteJSON struct {
	Token   string   `json:"token"`
	DryRun  bool     `json:"dry_run"`
	Applied bool     `json:"applied"`
	Changes []string `json:"changes"`
	Refusal string   `json:"refusal,omitempty"`
}

func runSchemaWrite(cmd *cobra.Command, o *clientOptions, file, text string, dryRun bool, reason string) error {
	return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
		client := pb.NewSchemaServiceClient(conn)

		req := &pb.WriteSchemaRequest{Tenant: o.tenant, Schema: text, DryRun: dryRun, Reason: reason}
		res, err := client.WriteSchema(ctx, req)
		if err != nil {
			if res, err = schemaWriteFailed(ctx, cmd, o, client, req, file, err); err != nil {
				return err
			}
		}
		out := cmd.OutOrStdout()
		changes := diffLines(res.GetDiff())
		if o.json() {
			if err := writeJSON(out, schemaWriteJSON{Token: res.GetToken(), DryRun: dryRun, Applied: res.GetApplied(), Changes: changes, Refusal: res.GetRefusal()}); err != nil {
				return err
			}
		} else {
			fmt.Fprintln(out, "changes:")
			if len(changes) == 0 {
				fmt.Fprintln(out, "  (none)")
			}
			for _, c := range changes {
				fmt.Fprintln(out, "  "+c)
			}
			switch {
			case res.GetRefusal() != "":
				writeRefusal(out, res.GetRefusal())
			case res.GetApplied():
				fmt.Fprintf(out, "schema written\ntoken: %s\n", res.GetToken())
			default:
				fmt.Fprintf(out, "dry run: the schema would be written (compared at token %s)\n", res.GetToken())
			}
		}
		if res.GetRefusal() != "" {
			return &ExitError{Code: exitNo}
		}
		return nil
	})
}

// schemaWriteFailed turns a failed schema write into what the user needs to see. A
// compile error is shown against the user's file (compiled locally, since the server
// names it "schema.zed"). A refused write carries only the refusal, so a dry run
// fetches the diff to print with it; if the dry run no longer refuses, the stored
// relationships changed meanwhile and the original error stands.
func schemaWriteFailed(ctx context.Context, cmd *cobra.Command, o *clientOptions, client pb.SchemaServiceClient, req *pb.WriteSchemaRequest, file string, err error) (*pb.WriteSchemaResponse, error) {
	switch status.Code(err) {
	case codes.InvalidArgument:
		if file == "-" {
			file = "stdin"
		}
		if _, cerr := schema.Compile(file, req.GetSchema()); cerr != nil {
			return nil, compileFailure(cmd, cerr)
		}
	case codes.FailedPrecondition:
		dry := proto.Clone(req).(*pb.WriteSchemaRequest)
		dry.DryRun = true
		if res, derr := client.WriteSchema(ctx, dry); derr == nil && res.GetRefusal() != "" {
			res.Applied = false
			return res, nil
		}
	}
	return nil, o.rpcError(err)
}

// diffLines splits the server's diff text into its lines; "no changes" is none.
func diffLines(diff string) []string {
	lines := []string{}
	for _, l := range strings.Split(strings.TrimSpace(diff), "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "no changes" {
			lines = append(lines, l)
		}
	}
	return lines
}

// writeRefusal prints a refusal with one line per group of orphaned relationships.
// The server joins the groups with "; "; the full message is printed whatever its
// shape.
func writeRefusal(w io.Writer, refusal string) {
	parts := strings.Split(refusal, "; ")
	fmt.Fprintln(w, "refused: "+strings.TrimPrefix(parts[0], "schema change refused: "))
	for _, p := range parts[1:] {
		fmt.Fprintln(w, "  "+p)
	}
}

// compileFailure prints every schema error with its position, source line and caret on
// stderr and exits with status 2.
func compileFailure(cmd *cobra.Command, err error) error {
	var list schema.ErrorList
	if !errors.As(err, &list) {
		return usageErrorf("%v", err)
	}
	fmt.Fprintln(cmd.ErrOrStderr(), list.Error())
	return &ExitError{Code: exitError}
}

func newSchemaReadCommand() *cobra.Command {
	var o *clientOptions
	var consistency string
	cmd := &cobra.Command{
		Use:   "read",
		Short: "Print the tenant's schema",
		Long: `Print the schema in force (text output is the schema itself, so it can be
redirected to a file; JSON adds the token it was read at).`,
		Example: `  pemba schema read > schema.zed
  pemba schema read -o json --consistency fully_consistent`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cons, err := parseConsistency(consistency)
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewSchemaServiceClient(conn).ReadSchema(ctx, &pb.ReadSchemaRequest{Tenant: o.tenant, Consistency: cons})
				if err != nil {
					return err
				}
				if o.json() {
					return writeJSON(cmd.OutOrStdout(), map[string]string{"token": res.GetToken(), "schema": res.GetSchema()})
				}
				text := res.GetSchema()
				if !strings.HasSuffix(text, "\n") {
					text += "\n"
				}
				_, err = io.WriteString(cmd.OutOrStdout(), text)
				return err
			})
		},
	}
	addConsistencyFlag(cmd, &consistency)
	o = addClientFlags(cmd)
	return cmd
}

// schemaChangeJSON is one change of `schema diff -o json`.
type schemaChangeJSON struct {
	Kind       string `json:"kind"`
	What       string `json:"what"`
	Definition string `json:"definition,omitempty"`
	Name       string `json:"name,omitempty"`
	Old        string `json:"old,omitempty"`
	New        string `json:"new,omitempty"`
	Text       string `json:"text"`
}

func newSchemaDiffCommand() *cobra.Command {
	var output string
	var exitCode bool
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Compare two schema files (offline)",
		Long: `Compile two schema files and list what changed from OLD to NEW: definitions,
relations, permissions, allowed subject types, caveats and grant rules added (+),
removed (-) or changed (~). Needs no server.`,
		Example: `  pemba schema diff schema.zed schema-next.zed
  pemba schema diff --exit-code -o json old.zed new.zed`,
		Args: exactArgs(2, "OLD NEW"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var compiled [2]*schema.Schema
			for i, file := range args {
				text, err := readInput(cmd, file)
				if err != nil {
					return err
				}
				if compiled[i], err = schema.Compile(file, string(text)); err != nil {
					return compileFailure(cmd, err)
				}
			}
			d := schema.Diff(compiled[0], compiled[1])
			out := cmd.OutOrStdout()
			if output == "json" {
				changes := []schemaChangeJSON{}
				for _, c := range d.Changes {
					changes = append(changes, schemaChangeJSON{Kind: changeKind(c.Kind), What: c.What, Definition: c.Definition, Name: c.Name, Old: c.Old, New: c.New, Text: c.String()})
				}
				if err := writeJSON(out, map[string]any{"changes": changes}); err != nil {
					return err
				}
			} else if _, err := io.WriteString(out, d.String()); err != nil {
				return err
			}
			if exitCode && !d.Empty() {
				return &ExitError{Code: exitNo}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit with status 1 when the schemas differ")
	addOfflineOutputFlag(cmd, &output)
	return cmd
}

func changeKind(k schema.ChangeKind) string {
	switch k {
	case schema.Added:
		return "added"
	case schema.Removed:
		return "removed"
	}
	return "changed"
}

func newSchemaFmtCommand() *cobra.Command {
	var write, check bool
	var output string
	cmd := &cobra.Command{
		Use:   "fmt FILE",
		Short: "Print a schema file in canonical form (offline)",
		Long: `Compile FILE and print it in the canonical form: one tab of indentation, one
blank line between definitions, every comment kept, parentheses wherever two operators
meet. Needs no server. Errors are printed as file:line:col with the source line and a
caret, and exit with status 2.`,
		Example: `  pemba schema fmt schema.zed
  pemba schema fmt -w schema.zed
  pemba schema fmt --check schema.zed   # exit 1 when not formatted, for CI`,
		Args: exactArgs(1, "FILE (or - for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if write && file == "-" {
				return usageErrorf("-w cannot write back to stdin: give a file")
			}
			if write && check {
				return usageErrorf("-w and --check exclude each other")
			}
			text, err := readInput(cmd, file)
			if err != nil {
				return err
			}
			compiled, err := schema.Compile(file, string(text))
			if err != nil {
				return compileFailure(cmd, err)
			}
			formatted := schema.Format(compiled)
			changed := !bytes.Equal(text, []byte(formatted))
			switch {
			case check:
				if !changed {
					return nil
				}
				fmt.Fprintln(cmd.OutOrStdout(), file)
				return &ExitError{Code: exitNo}
			case write:
				if !changed {
					return nil
				}
				info, err := os.Stat(file)
				if err != nil {
					return usageErrorf("%v", err)
				}
				if err := os.WriteFile(file, []byte(formatted), info.Mode().Perm()); err != nil {
					return usageErrorf("writing %s: %v", file, err)
				}
				return nil
			case output == "json":
				return writeJSON(cmd.OutOrStdout(), map[string]any{"file": file, "formatted": formatted, "changed": changed})
			}
			_, err = io.WriteString(cmd.OutOrStdout(), formatted)
			return err
		},
	}
	cmd.Flags().BoolVarP(&write, "write", "w", false, "write the canonical form back to FILE")
	cmd.Flags().BoolVar(&check, "check", false, "print FILE and exit 1 when it is not in canonical form")
	addOfflineOutputFlag(cmd, &output)
	return cmd
}

// addOfflineOutputFlag registers -o for a command that needs no server, which takes
// none of the connection flags.
func addOfflineOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "text", "output format: text (for people) or json (for scripts)")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if *output != "text" && *output != "json" {
			return usageErrorf("--output %q is not a format: use text or json", *output)
		}
		return nil
	}
	cmd.SetFlagErrorFunc(flagError)
}

// readInput reads a file, or stdin for "-".
func readInput(cmd *cobra.Command, name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, usageErrorf("reading stdin: %v", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	return b, nil
}

// addConsistencyFlag registers --consistency on a reading command.
func addConsistencyFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "consistency", "", "revision to read at: minimize_latency (default), fully_consistent, at_least_as_fresh:TOKEN or at_exact_snapshot:TOKEN")
}

// addReviewConsistencyFlag registers --consistency for the governance reviews, which
// the server reads fully consistent unless told otherwise: a review follows the writes
// it reviews.
func addReviewConsistencyFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "consistency", "", "revision to read at: fully_consistent (default), minimize_latency, at_least_as_fresh:TOKEN or at_exact_snapshot:TOKEN")
}
