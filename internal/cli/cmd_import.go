package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// progressEvery is how often import and export report progress on stderr.
const progressEvery = 2 * time.Second

// progress reports a running count and rate on stderr, at most every progressEvery.
type progress struct {
	w       io.Writer
	verb    string
	start   time.Time
	last    time.Time
	enabled bool
}

func newProgress(w io.Writer, verb string, enabled bool) *progress {
	now := time.Now()
	return &progress{w: w, verb: verb, start: now, last: now, enabled: enabled}
}

// tick reports n if the last report is old enough.
func (p *progress) tick(n int64) {
	if !p.enabled {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < progressEvery {
		return
	}
	p.last = now
	fmt.Fprintf(p.w, "%s %d relationships (%.0f/s)\n", p.verb, n, rate(n, now.Sub(p.start)))
}

// done reports the final count, time and rate.
func (p *progress) done(n int64) {
	if !p.enabled {
		return
	}
	d := time.Since(p.start)
	fmt.Fprintf(p.w, "%s %d relationships in %s (%.0f/s)\n", p.verb, n, d.Round(time.Millisecond), rate(n, d))
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// committedRE finds how far a failed import got in the server's error message.
var committedRE = regexp.MustCompile(`after (\d+) relationships were committed`)

func newImportCommand() *cobra.Command {
	var o *clientOptions
	var reason string
	var batch int
	var skip int64
	var noProgress, withSchema bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Load relationships in bulk (FILE, or - for stdin)",
		Long: `Stream relationships to the server, one per line in the text form or as JSON
objects (what "pemba export" prints in either format); blank lines and lines starting
with # or // are skipped. A file is checked completely before anything is sent, so a
typo never leaves half an import behind.

The server writes in batches, each committed on its own, with touch semantics: an
import is idempotent, and running it again after a failure resumes it. The error
says how many relationships were committed; --skip N starts after them.

A validation file (.yaml or .yml, Pemba's or SpiceDB's: schema, relationships,
assertions) imports its relationships; --with-schema writes its schema first. That
moves a SpiceDB validation file, or a Pemba one, onto a server in one command.

Progress (count and relationships per second) is printed on stderr every two seconds
and at the end; --no-progress turns it off.`,
		Example: `  pemba import relationships.txt --reason "initial load"
  pemba export | pemba --endpoint other:50051 import -
  pemba import big.txt --skip 250000
  pemba import --with-schema spicedb-validation.yaml`,
		Args: exactArgs(1, "FILE (or - for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 1 {
				return usageErrorf("--batch-size %d: must be at least 1", batch)
			}
			if skip < 0 {
				return usageErrorf("--skip %d is negative", skip)
			}
			file := args[0]
			if file != "-" {
				// Check the whole file first: a bad line is reported before anything
				// is written.
				in, name, closeIn, err := openImportInput(cmd, file)
				if err != nil {
					return err
				}
				err = scanRelationships(in, name, func(*pb.Relationship) error { return nil })
				closeIn()
				if err != nil {
					return err
				}
			}
			if withSchema {
				if err := writeValidationSchema(cmd, o, file, reason); err != nil {
					return err
				}
			}
			return runImport(cmd, o, file, reason, batch, skip, !noProgress)
		},
	}
	o = addClientFlags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why; kept in the audit trail")
	cmd.Flags().IntVar(&batch, "batch-size", 1000, "relationships per message sent")
	cmd.Flags().Int64Var(&skip, "skip", 0, "skip the first N relationships (resume a failed import)")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "do not report progress on stderr")
	cmd.Flags().BoolVar(&withSchema, "with-schema", false, "FILE is a validation file: write its schema before its relationships")
	return cmd
}

func runImport(cmd *cobra.Command, o *clientOptions, file, reason string, batchSize int, skip int64, showProgress bool) error {
	in, name, closeIn, err := openImportInput(cmd, file)
	if err != nil {
		return err
	}
	defer closeIn()
	return o.withConn(cmd, true, func(ctx context.Context, conn *grpc.ClientConn) error {
		// A bad input line cancels the stream, so the server commits nothing more.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := pb.NewRelationshipServiceClient(conn).ImportRelationships(ctx)
		if err != nil {
			return err
		}

		prog := newProgress(cmd.ErrOrStderr(), "sent", showProgress)
		var sent, seen int64
		msg := &pb.ImportRelationshipsRequest{Tenant: o.tenant, Reason: reason}
		flush := func() error {
			if len(msg.Relationships) == 0 {
				return nil
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
			sent += int64(len(msg.Relationships))
			prog.tick(sent)
			// Only the first message's reason counts; later ones carry the tenant alone.
			msg = &pb.ImportRelationshipsRequest{Tenant: o.tenant}
			return nil
		}
		scanErr := scanRelationships(in, name, func(r *pb.Relationship) error {
			seen++
			if seen <= skip {
				return nil
			}
			msg.Relationships = append(msg.Relationships, r)
			if len(msg.Relationships) >= batchSize {
				return flush()
			}
			return nil
		})
		if scanErr == nil {
			scanErr = flush()
		}
		var exit *ExitError
		if errors.As(scanErr, &exit) {
			// A bad line on stdin: stop the import where it is. Batches already sent
			// may be committed.
			cancel()
			return &ExitError{Code: exitError, Err: fmt.Errorf("%v; the import stopped there after %d relationship(s) were sent, and batches already sent may be committed: fix the input and run the same import again (it is idempotent)", exit.Err, sent)}
		}
		// io.EOF from Send means the server ended the stream: its error comes from
		// CloseAndRecv below.
		serverEnded := errors.Is(scanErr, io.EOF)
		if scanErr != nil && !serverEnded {
			return importFailed(o, scanErr, skip, file)
		}
		if !serverEnded && sent == 0 {
			if skip > 0 {
				return usageErrorf("--skip %d skips every relationship of %s (it has %d)", skip, name, seen)
			}
			return usageErrorf("%s holds no relationships", name)
		}
		res, err := stream.CloseAndRecv()
		if err != nil {
			return importFailed(o, err, skip, file)
		}
		prog.done(sent)
		if o.json() {
			return writeJSON(cmd.OutOrStdout(), map[string]any{"token": res.GetToken(), "imported": res.GetCount(), "skipped": skip})
		}
		fmt.Fprintf(cmd.OutOrStdout(), "imported: %d relationship(s)\ntoken: %s\n", res.GetCount(), res.GetToken())
		return nil
	})
}

// importFailed explains a failed import and how to go on. Import is idempotent and the
// committed batches stay, so after a passing failure (the server or its store
// unavailable, a deadline) the same command resumes it; after the server refused the
// data, running it again would fail the same way, so the hint names the relationship
// to fix first.
func importFailed(o *clientOptions, err error, skip int64, file string) error {
	base := o.rpcError(err)
	st, _ := status.FromError(err)
	var committed int64
	if m := committedRE.FindStringSubmatch(st.Message()); m != nil {
		committed, _ = strconv.ParseInt(m[1], 10, 64)
	}
	resume := fmt.Sprintf("pemba import %s", file)
	if skip+committed > 0 {
		resume += fmt.Sprintf(" --skip %d", skip+committed)
	}
	var hint string
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Canceled, codes.ResourceExhausted, codes.Internal, codes.Unknown:
		hint = fmt.Sprintf("%d relationship(s) were committed and stay; once the cause has passed, resume with: %s", committed, resume)
	default:
		what := "the cause"
		if m := failedRelationshipRE.FindStringSubmatch(st.Message()); m != nil {
			if k, perr := strconv.ParseInt(m[1], 10, 64); perr == nil {
				what = fmt.Sprintf("relationship %d of %s", skip+k, file)
			}
		}
		hint = fmt.Sprintf("the server refused the data, so running the same import again would fail the same way: fix %s, then resume with: %s (%d relationship(s) were committed and stay)", what, resume, committed)
	}
	return &ExitError{Code: exitError, Err: fmt.Errorf("%v\n%s", base, hint)}
}

// failedRelationshipRE finds which relationship of the import the server refused
// ("relationship 3 (...)" or "relationship 3 of the import").
var failedRelationshipRE = regexp.MustCompile(`\brelationship (\d+)\b`)

func newExportCommand() *cobra.Command {
	var o *clientOptions
	var ff filterFlags
	var cursor, consistency string
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "export [FILTER]",
		Short: "Print every relationship (or those matching a filter), for backup or import",
		Long: `Print the tenant's relationships at one revision on stdout, one per line: the text
form, or JSON objects with -o json. Both are what "pemba import" reads. Progress goes
to stderr; when the export breaks, the error gives the --cursor that continues it at
the same revision (append to the file with >>).`,
		Example: `  pemba export > backup.txt
  pemba export -o json > backup.jsonl
  pemba export organization > orgs.txt
  pemba export --cursor "$CURSOR" >> backup.txt`,
		Args: rangeArgs(0, 1, "at most one FILTER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := ff.build(args, false)
			if err != nil {
				return err
			}
			cons, err := parseConsistency(consistency)
			if err != nil {
				return err
			}
			return o.withConn(cmd, true, func(ctx context.Context, conn *grpc.ClientConn) error {
				return runExport(ctx, cmd, o, &pb.ExportRelationshipsRequest{Tenant: o.tenant, Consistency: cons, Filter: filter, Cursor: cursor}, conn, !noProgress)
			})
		},
	}
	o = addClientFlags(cmd)
	ff.register(cmd.Flags())
	addConsistencyFlag(cmd, &consistency)
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue an interrupted export after this cursor")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "do not report progress on stderr")
	return cmd
}

func runExport(ctx context.Context, cmd *cobra.Command, o *clientOptions, req *pb.ExportRelationshipsRequest, conn grpc.ClientConnInterface, showProgress bool) error {
	stream, err := pb.NewRelationshipServiceClient(conn).ExportRelationships(ctx, req)
	if err != nil {
		return o.rpcError(err)
	}
	out := cmd.OutOrStdout()
	prog := newProgress(cmd.ErrOrStderr(), "exported", showProgress)
	var n int64
	var token, cursor string
	err = recvAll(stream.Recv, func(m *pb.ExportRelationshipsResponse) error {
		token = m.GetToken()
		for _, r := range m.GetRelationships() {
			var err error
			if o.json() {
				err = writeJSONLine(out, relationshipToJSON(r))
			} else {
				_, err = fmt.Fprintln(out, formatRelationship(r))
			}
			if err != nil {
				return err
			}
		}
		n += int64(len(m.GetRelationships()))
		cursor = m.GetCursor()
		prog.tick(n)
		return nil
	})
	if err != nil {
		err = o.rpcError(err)
		if cursor != "" {
			err = &ExitError{Code: exitError, Err: fmt.Errorf("%v\nexport stopped after %d relationship(s); continue with: pemba export --cursor %s >> FILE", err, n, cursor)}
		}
		return err
	}
	prog.done(n)
	if showProgress && token != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "token: %s\n", token)
	}
	return nil
}
