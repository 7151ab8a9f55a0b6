package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// queryFlags are the flags of every permission question: caveat context, contextual
// relationships and consistency.
type queryFlags struct {
	context     string
	contextual  []string
	consistency string
}

func (q *queryFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&q.context, "context", "", `caveat context as a JSON object, e.g. '{"client_ip": "10.1.2.3"}'`)
	fs.StringArrayVar(&q.contextual, "contextual", nil, "a relationship that counts for this request only, never stored (repeatable)")
	fs.StringVar(&q.consistency, "consistency", "", "revision to read at: minimize_latency (default), fully_consistent, at_least_as_fresh:TOKEN or at_exact_snapshot:TOKEN")
}

// parse returns the context, contextual relationships and consistency.
func (q *queryFlags) parse() (*structpb.Struct, []*pb.Relationship, *pb.Consistency, error) {
	ctx, err := parseContextJSON("--context", q.context)
	if err != nil {
		return nil, nil, nil, err
	}
	var contextual []*pb.Relationship
	for _, c := range q.contextual {
		r, err := parseRelationshipArg("--contextual", c)
		if err != nil {
			return nil, nil, nil, err
		}
		p, err := relationshipToProto(r)
		if err != nil {
			return nil, nil, nil, usageErrorf("--contextual: %v", err)
		}
		contextual = append(contextual, p)
	}
	cons, err := parseConsistency(q.consistency)
	if err != nil {
		return nil, nil, nil, err
	}
	return ctx, contextual, cons, nil
}

// checkJSON is the JSON output of check.
type checkJSON struct {
	Resource       string       `json:"resource"`
	Permission     string       `json:"permission"`
	Subject        string       `json:"subject"`
	Result         string       `json:"result"`
	MissingContext []string     `json:"missing_context"`
	Token          string       `json:"token"`
	Stats          checkStats   `json:"stats"`
	Explanation    *explainJSON `json:"explanation,omitempty"`
}

type checkStats struct {
	Dispatches uint32 `json:"dispatches"`
	CacheHits  uint32 `json:"cache_hits"`
	MaxDepth   uint32 `json:"max_depth"`
}

func newCheckCommand() *cobra.Command {
	var o *clientOptions
	var q queryFlags
	var explain, explainFull bool
	cmd := &cobra.Command{
		Use:   "check RESOURCE PERMISSION SUBJECT",
		Short: "Ask whether a subject has a permission on a resource",
		Long: `Ask whether SUBJECT has PERMISSION on RESOURCE. The first line is the answer:
allowed, denied, or conditional (missing: a, b) when caveat context not given would
decide it; the second is the token the answer was read at.

--explain prints the evaluation tree below: each step with its answer, the
relationships that granted access with who wrote them, when and on whose behalf (the
grant rule and organisation of a delegated write), whether the step came from the
cache, and how long it took. For an allowed answer it shows the branches that
granted; --explain-full also shows the alternatives that were denied. JSON output
always carries the full tree.

Exit status: 0 allowed, 1 denied or conditional, 2 error.`,
		Example: `  pemba check document:q3 view user:alice
  pemba check document:q3 view user:alice --explain
  pemba check project:apollo view user:erin --context '{"client_ip": "10.1.2.3"}'
  pemba check document:q3 view user:alice --consistency at_least_as_fresh:$TOKEN
  pemba check document:q3 view user:dave --contextual 'document:q3#viewer@user:dave'`,
		Args: exactArgs(3, "RESOURCE PERMISSION SUBJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource, err := parseObjectArg("RESOURCE", args[0])
			if err != nil {
				return err
			}
			subject, err := parseSubjectArg("SUBJECT", args[2])
			if err != nil {
				return err
			}
			caveatCtx, contextual, cons, err := q.parse()
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewPermissionServiceClient(conn).Check(ctx, &pb.CheckRequest{
					Tenant: o.tenant, Consistency: cons, Resource: resource, Permission: args[1], Subject: subject,
					Context: caveatCtx, ContextualRelationships: contextual, Explain: explain || explainFull,
				})
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.json() {
					err = writeJSON(out, checkJSON{
						Resource: args[0], Permission: args[1], Subject: args[2],
						Result: permissionshipName(res.GetPermissionship()), MissingContext: nonNil(res.GetMissingContext()),
						Token:       res.GetToken(),
						Stats:       checkStats{res.GetStats().GetDispatches(), res.GetStats().GetCacheHits(), res.GetStats().GetMaxDepth()},
						Explanation: explainToJSON(res.GetExplanation()),
					})
				} else {
					fmt.Fprintln(out, answerText(res.GetPermissionship(), res.GetMissingContext()))
					fmt.Fprintf(out, "token: %s\n", res.GetToken())
					if e := res.GetExplanation(); e != nil {
						fmt.Fprintln(out)
						writeExplainTree(out, e, explainFull)
						s := res.GetStats()
						fmt.Fprintf(out, "\n%d dispatches, %d cache hits, depth %d\n", s.GetDispatches(), s.GetCacheHits(), s.GetMaxDepth())
					}
				}
				if err != nil {
					return err
				}
				if res.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
					return &ExitError{Code: exitNo}
				}
				return nil
			})
		},
	}
	o = addClientFlags(cmd)
	cmd.Flags().BoolVar(&explain, "explain", false, "print the evaluation tree: what granted or denied, with provenance and timing")
	cmd.Flags().BoolVar(&explainFull, "explain-full", false, "like --explain, also showing denied alternatives of an allowed answer")
	q.register(cmd.Flags())
	return cmd
}

// nonNil turns a nil slice into an empty one, so JSON prints [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// bulkItemJSON is one answer of check-bulk.
type bulkItemJSON struct {
	Resource       string   `json:"resource"`
	Permission     string   `json:"permission"`
	Subject        string   `json:"subject"`
	Result         string   `json:"result"`
	MissingContext []string `json:"missing_context,omitempty"`
	Error          *struct {
		Code    int32  `json:"code"`
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// bulkLine is one parsed check-bulk line, kept with its source for the output.
type bulkLine struct {
	resource, permission, subject string
}

func newCheckBulkCommand() *cobra.Command {
	var o *clientOptions
	var q queryFlags
	var file string
	cmd := &cobra.Command{
		Use:   "check-bulk [\"RESOURCE PERMISSION SUBJECT [CONTEXT]\"...]",
		Short: "Run many checks at one revision",
		Long: `Run many checks in one request, all at one revision. Each check is one line
"RESOURCE PERMISSION SUBJECT", optionally followed by a JSON caveat context for that
check, given as an argument or in --file (- for stdin; blank lines and lines starting
with # or // are skipped). Answers come in the order asked; a bad item gets an error
in its place and the others are still answered.

Exit status: 0 when every check is allowed, 1 when any is denied or conditional, 2
when the request or any item failed.`,
		Example: `  pemba check-bulk "document:q3 view user:alice" "document:q3 edit user:alice"
  pemba check-bulk --file checks.txt -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			lines := append([]string(nil), args...)
			names := make([]string, len(lines))
			for i := range lines {
				names[i] = fmt.Sprintf("argument %d", i+1)
			}
			if file != "" {
				in, name, closeIn, err := openInput(cmd, file)
				if err != nil {
					return err
				}
				defer closeIn()
				sc := bufio.NewScanner(in)
				sc.Buffer(make([]byte, 64*1024), maxLineBytes)
				for n := 1; sc.Scan(); n++ {
					l := strings.TrimSpace(sc.Text())
					if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "//") {
						continue
					}
					lines = append(lines, l)
					names = append(names, fmt.Sprintf("%s:%d", name, n))
				}
				if err := sc.Err(); err != nil {
					return usageErrorf("reading %s: %v", name, err)
				}
			}
			if len(lines) == 0 {
				return usageErrorf("no checks: give \"RESOURCE PERMISSION SUBJECT\" lines as arguments or with --file")
			}
			caveatCtx, contextual, cons, err := q.parse()
			if err != nil {
				return err
			}
			req := &pb.CheckBulkRequest{Tenant: o.tenant, Consistency: cons, Context: caveatCtx, ContextualRelationships: contextual}
			parsed := make([]bulkLine, len(lines))
			for i, l := range lines {
				item, bl, err := parseBulkLine(names[i], l)
				if err != nil {
					return err
				}
				parsed[i] = bl
				req.Items = append(req.Items, item)
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewPermissionServiceClient(conn).CheckBulk(ctx, req)
				if err != nil {
					return err
				}
				if len(res.GetItems()) != len(parsed) {
					return usageErrorf("the server answered %d items for %d checks", len(res.GetItems()), len(parsed))
				}
				return writeBulk(cmd, o, parsed, res)
			})
		},
	}
	o = addClientFlags(cmd)
	cmd.Flags().StringVar(&file, "file", "", "read checks from FILE (- for stdin), one per line")
	q.register(cmd.Flags())
	return cmd
}

// parseBulkLine reads "RESOURCE PERMISSION SUBJECT [CONTEXT_JSON]".
func parseBulkLine(where, line string) (*pb.CheckBulkRequestItem, bulkLine, error) {
	fields := strings.Fields(line)
	if len(fields) < 3 {
		return nil, bulkLine{}, usageErrorf("%s: %q: expected RESOURCE PERMISSION SUBJECT [CONTEXT_JSON]", where, line)
	}
	bl := bulkLine{fields[0], fields[1], fields[2]}
	resource, err := parseObjectArg(where+": RESOURCE", fields[0])
	if err != nil {
		return nil, bl, err
	}
	subject, err := parseSubjectArg(where+": SUBJECT", fields[2])
	if err != nil {
		return nil, bl, err
	}
	item := &pb.CheckBulkRequestItem{Resource: resource, Permission: fields[1], Subject: subject}
	if len(fields) > 3 {
		// The context is the rest of the line after the subject, spaces included.
		rest := strings.TrimSpace(line[strings.Index(line, fields[2])+len(fields[2]):])
		if item.Context, err = parseContextJSON(where+": context", rest); err != nil {
			return nil, bl, err
		}
	}
	return item, bl, nil
}

func writeBulk(cmd *cobra.Command, o *clientOptions, lines []bulkLine, res *pb.CheckBulkResponse) error {
	code := 0
	worst := func(c int) {
		if c > code {
			code = c
		}
	}
	items := make([]bulkItemJSON, len(lines))
	for i, it := range res.GetItems() {
		j := bulkItemJSON{Resource: lines[i].resource, Permission: lines[i].permission, Subject: lines[i].subject}
		if e := it.GetError(); e != nil {
			j.Result = "error"
			j.Error = &struct {
				Code    int32  `json:"code"`
				Status  string `json:"status"`
				Message string `json:"message"`
			}{e.GetCode(), e.GetStatus(), e.GetMessage()}
			worst(exitError)
		} else {
			j.Result = permissionshipName(it.GetPermissionship())
			j.MissingContext = it.GetMissingContext()
			if it.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
				worst(exitNo)
			}
		}
		items[i] = j
	}
	out := cmd.OutOrStdout()
	if o.json() {
		if err := writeJSON(out, map[string]any{"token": res.GetToken(), "items": items}); err != nil {
			return err
		}
	} else {
		tw := newTable(out)
		fmt.Fprintln(tw, "RESOURCE\tPERMISSION\tSUBJECT\tRESULT")
		for i, j := range items {
			result := answerText(res.GetItems()[i].GetPermissionship(), j.MissingContext)
			if j.Error != nil {
				result = "error: " + j.Error.Status + ": " + j.Error.Message
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", j.Resource, j.Permission, j.Subject, result)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(out, "token: %s\n", res.GetToken())
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}
