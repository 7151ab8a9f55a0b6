package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/pemba-authz/pemba/internal/spicedb"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func newRelationshipCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "relationship",
		Aliases: []string{"rel"},
		Short:   "Write, delete and read relationships",
		Long: `Write, delete and read relationships in the text form

  document:q3#viewer@user:alice
  document:q3#viewer@group:finance#member
  document:pub#viewer@user:*
  project:apollo#partner@organization:globex[within_network:{"allowed_cidr":"10.0.0.0/8"}]
  organization:acme#admin@user:bob[expiration:2027-01-01T00:00:00Z]`,
	}
	o := addClientFlags(cmd)
	cmd.AddCommand(newRelWriteCommand(o), newRelDeleteCommand(o), newRelReadCommand(o))
	return cmd
}

// writeFlags are the flags of a write that may be delegated: the acting subject, the
// reason and the preconditions.
type writeFlags struct {
	as            string
	reason        string
	preconditions []string
}

func (w *writeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&w.as, "as", "", "acting subject of a delegated write (e.g. user:bob): the schema's grant rules authorise each update against its rights")
	fs.StringVar(&w.reason, "reason", "", "why; kept in the audit trail")
	fs.StringArrayVar(&w.preconditions, "precondition", nil, "must-match:FILTER or must-not-match:FILTER, checked when the write commits (repeatable)")
}

// actor returns the acting subject, or nil.
func (w *writeFlags) actor() (*pb.SubjectReference, error) {
	if w.as == "" {
		return nil, nil
	}
	return parseSubjectArg("--as", w.as)
}

// parsePreconditions reads --precondition values.
func (w *writeFlags) parsePreconditions() ([]*pb.Precondition, error) {
	var out []*pb.Precondition
	for _, p := range w.preconditions {
		op, filter, ok := strings.Cut(p, ":")
		var operation pb.Precondition_Operation
		switch op {
		case "must-match":
			operation = pb.Precondition_OPERATION_MUST_MATCH
		case "must-not-match":
			operation = pb.Precondition_OPERATION_MUST_NOT_MATCH
		default:
			ok = false
		}
		if !ok {
			return nil, usageErrorf("--precondition %q: expected must-match:FILTER or must-not-match:FILTER (FILTER like document:q3#owner@user:alice)", p)
		}
		f, err := parseFilter("--precondition", filter)
		if err != nil {
			return nil, err
		}
		out = append(out, &pb.Precondition{Operation: operation, Filter: f})
	}
	return out, nil
}

func newRelWriteCommand(o *clientOptions) *cobra.Command {
	var op, from string
	var wf writeFlags
	cmd := &cobra.Command{
		Use:   "write REL...",
		Short: "Create, touch or delete relationships in one atomic write",
		Long: `Apply one update per relationship, all in one transaction: every update is
applied or none. Relationships come from the arguments and from --from (a file, or -
for stdin: one relationship per line in the text form or as a JSON object like
"pemba rel read -o json" prints; blank lines and lines starting with # or // are
skipped).

--op create fails with ALREADY_EXISTS when a relationship exists; touch (the default)
creates or rewrites; delete removes (a missing relationship is not an error).

With --as the write is delegated: made on behalf of the acting subject and allowed
only when the schema's grant rules let that subject write each relationship (delegate
keys can only write this way).`,
		Example: `  pemba rel write document:q3#viewer@user:alice
  pemba rel write --op create 'organization:acme-eu#parent@organization:acme' 'organization:acme#admin@user:bob'
  pemba rel write --as user:bob --reason "new hire" 'organization:acme-eu#member@user:carol'
  pemba rel write --op delete document:q3#viewer@user:alice
  pemba rel write --from relationships.txt
  pemba rel write --precondition must-not-match:project:apollo#blocked@user:carol 'project:apollo#viewer@user:carol[expiration:2027-01-01T00:00:00Z]'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			operation, err := parseOperation(op)
			if err != nil {
				return err
			}
			rels, err := gatherRelationships(cmd, args, from)
			if err != nil {
				return err
			}
			if len(rels) == 0 {
				return usageErrorf("nothing to write: give relationships as arguments or with --from FILE")
			}
			actor, err := wf.actor()
			if err != nil {
				return err
			}
			pre, err := wf.parsePreconditions()
			if err != nil {
				return err
			}
			req := &pb.WriteRelationshipsRequest{Tenant: o.tenant, Preconditions: pre, Actor: actor, Reason: wf.reason}
			for _, r := range rels {
				req.Updates = append(req.Updates, &pb.RelationshipUpdate{Operation: operation, Relationship: r})
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewRelationshipServiceClient(conn).WriteRelationships(ctx, req)
				if err != nil {
					err = o.rpcError(err)
					if strings.Contains(err.Error(), "max-updates-per-write") {
						// One write is atomic and bounded; bulk loads go through import.
						err = &ExitError{Code: exitError, Err: fmt.Errorf("%v\nto load more relationships than one write allows, use: pemba import FILE", err)}
					}
					return err
				}
				if o.json() {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"token": res.GetToken(), "updates": len(req.Updates), "operation": op})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d relationship(s)\ntoken: %s\n", pastTense(op), len(req.Updates), res.GetToken())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&op, "op", "touch", "operation of every update: create, touch or delete")
	cmd.Flags().StringVar(&from, "from", "", "read relationships from FILE (- for stdin), one per line")
	wf.register(cmd.Flags())
	return cmd
}

func parseOperation(op string) (pb.RelationshipUpdate_Operation, error) {
	switch op {
	case "create":
		return pb.RelationshipUpdate_OPERATION_CREATE, nil
	case "touch":
		return pb.RelationshipUpdate_OPERATION_TOUCH, nil
	case "delete":
		return pb.RelationshipUpdate_OPERATION_DELETE, nil
	}
	return 0, usageErrorf("--op %q is not one of create, touch, delete", op)
}

func pastTense(op string) string {
	switch op {
	case "create":
		return "created"
	case "delete":
		return "deleted"
	}
	return "touched"
}

// gatherRelationships parses relationships from arguments and from a file.
func gatherRelationships(cmd *cobra.Command, args []string, from string) ([]*pb.Relationship, error) {
	var out []*pb.Relationship
	for i, a := range args {
		r, err := parseRelationshipArg(fmt.Sprintf("argument %d", i+1), a)
		if err != nil {
			return nil, err
		}
		p, err := relationshipToProto(r)
		if err != nil {
			return nil, usageErrorf("argument %d: %v", i+1, err)
		}
		out = append(out, p)
	}
	if from == "" {
		return out, nil
	}
	in, name, closeIn, err := openInput(cmd, from)
	if err != nil {
		return nil, err
	}
	defer closeIn()
	err = scanRelationships(in, name, func(r *pb.Relationship) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// openInput opens a file, or stdin for "-", and names it for error messages.
func openInput(cmd *cobra.Command, name string) (io.Reader, string, func(), error) {
	if name == "-" {
		return cmd.InOrStdin(), "stdin", func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, "", nil, usageErrorf("%v", err)
	}
	return f, name, func() { f.Close() }, nil
}

// maxLineBytes bounds one line of a relationship file (a relationship with a large
// caveat context).
const maxLineBytes = 1 << 20

// scanRelationships reads one relationship per line, in the text form or as a JSON
// object, skipping blank lines and comments. Errors name the file and line.
func scanRelationships(r io.Reader, name string, each func(*pb.Relationship) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") || strings.HasPrefix(text, "//") {
			continue
		}
		rel, err := parseRelationshipLine(text)
		if err != nil {
			return usageErrorf("%s:%d: %v", name, line, err)
		}
		p, err := relationshipToProto(rel)
		if err != nil {
			return usageErrorf("%s:%d: %v", name, line, err)
		}
		if err := each(p); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return usageErrorf("%s:%d: line longer than %d bytes", name, line+1, maxLineBytes)
		}
		return usageErrorf("reading %s: %v", name, err)
	}
	return nil
}

// parseRelationshipLine reads the text form, or a JSON object with a "text" field or
// the separate fields of relationshipJSON.
func parseRelationshipLine(text string) (tuple.Relationship, error) {
	if !strings.HasPrefix(text, "{") {
		r, err := tuple.Parse(text)
		if first, _, cut := strings.Cut(text, " "); err != nil && cut && !strings.ContainsAny(first, "#@\t") {
			// The columns `zed relationship read` prints: resource relation subject.
			if zr, zerr := spicedb.ParseText(text); zerr == nil {
				return zr, nil
			}
		}
		return r, err
	}
	var j relationshipJSON
	dec := newJSONDecoder(text)
	if err := dec.Decode(&j); err != nil {
		return tuple.Relationship{}, fmt.Errorf("not a relationship JSON object: %v", err)
	}
	if j.Text != "" {
		return tuple.Parse(j.Text)
	}
	r := tuple.Relationship{
		Resource: tuple.ObjectRef{Type: j.ResourceType, ID: j.ResourceID},
		Relation: j.Relation,
		Subject:  tuple.SubjectRef{Type: j.SubjectType, ID: j.SubjectID, Relation: j.SubjectRelation},
	}
	if r.Subject.Relation == tuple.Ellipsis {
		r.Subject.Relation = ""
	}
	if j.Caveat != "" {
		r.Caveat = &tuple.Caveat{Name: j.Caveat, Context: j.CaveatContext}
	}
	if j.ExpiresAt != "" {
		ts, err := parseTime("expires_at", j.ExpiresAt, timeNow())
		if err != nil {
			return tuple.Relationship{}, err
		}
		r.Expiration = ts.AsTime().UTC()
	}
	if j.GrantedBy != "" || j.GrantedVia != "" {
		by, err := tuple.ParseSubject(j.GrantedBy)
		if err != nil {
			return tuple.Relationship{}, fmt.Errorf("granted_by %q: %v", j.GrantedBy, err)
		}
		via, err := tuple.ParseObject(j.GrantedVia)
		if err != nil {
			return tuple.Relationship{}, fmt.Errorf("granted_via %q: %v", j.GrantedVia, err)
		}
		r.Granted = &tuple.Grant{By: by, Via: via} // tuple.Validate checks it is one subject
	}
	if err := tuple.Validate(r); err != nil {
		return tuple.Relationship{}, err
	}
	return r, nil
}

// filterFlags select relationships, by flags or by one FILTER argument.
type filterFlags struct {
	resourceType     string
	resourceIDs      []string
	resourceIDPrefix string
	relation         string
	subject          string
}

func (f *filterFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.resourceType, "resource-type", "", "resource type to match (required unless a FILTER argument is given)")
	fs.StringArrayVar(&f.resourceIDs, "resource-id", nil, "resource id to match (repeatable)")
	fs.StringVar(&f.resourceIDPrefix, "resource-id-prefix", "", "match resource ids starting with this")
	fs.StringVar(&f.relation, "relation", "", "relation to match")
	fs.StringVar(&f.subject, "subject", "", "subject to match: TYPE, TYPE:ID, TYPE:ID#RELATION or TYPE:*")
}

func (f *filterFlags) any() bool {
	return f.resourceType != "" || len(f.resourceIDs) > 0 || f.resourceIDPrefix != "" || f.relation != "" || f.subject != ""
}

// build returns the filter from a FILTER argument and the flags, which may add parts
// the argument leaves out; required says whether a filter must be given.
func (f *filterFlags) build(args []string, required bool) (*pb.RelationshipFilter, error) {
	out := &pb.RelationshipFilter{}
	if len(args) > 0 {
		var err error
		if out, err = parseFilter("filter", args[0]); err != nil {
			return nil, err
		}
	} else if !f.any() {
		if required {
			return nil, usageErrorf("a filter is required: give FILTER (e.g. document:q3#viewer) or --resource-type")
		}
		return nil, nil
	}
	both := func(flag string) error {
		return usageErrorf("the FILTER argument already sets what %s gives: use one or the other", flag)
	}
	if f.resourceType != "" {
		if out.ResourceType != "" {
			return nil, both("--resource-type")
		}
		if err := tuple.ValidateTypeName("--resource-type", f.resourceType); err != nil {
			return nil, usageErrorf("%v", err)
		}
		out.ResourceType = f.resourceType
	}
	if out.ResourceType == "" {
		return nil, usageErrorf("--resource-type is required when filtering")
	}
	if len(f.resourceIDs) > 0 || f.resourceIDPrefix != "" {
		if len(out.ResourceIds) > 0 || out.ResourceIdPrefix != "" {
			return nil, both("--resource-id/--resource-id-prefix")
		}
		for _, id := range f.resourceIDs {
			if err := tuple.ValidateObjectID("--resource-id", id); err != nil {
				return nil, usageErrorf("%v", err)
			}
		}
		out.ResourceIds, out.ResourceIdPrefix = f.resourceIDs, f.resourceIDPrefix
	}
	if f.relation != "" {
		if out.Relation != "" {
			return nil, both("--relation")
		}
		if err := tuple.ValidateRelationName("--relation", f.relation); err != nil {
			return nil, usageErrorf("%v", err)
		}
		out.Relation = f.relation
	}
	if f.subject != "" {
		if out.SubjectFilter != nil {
			return nil, both("--subject")
		}
		sf, err := parseSubjectFilter("--subject", f.subject)
		if err != nil {
			return nil, err
		}
		out.SubjectFilter = sf
	}
	return out, nil
}

func newRelDeleteCommand(o *clientOptions) *cobra.Command {
	var ff filterFlags
	var wf writeFlags
	var limit uint32
	cmd := &cobra.Command{
		Use:   "delete [FILTER]",
		Short: "Delete the relationships matching a filter",
		Long: `Delete every relationship matching a filter, up to --limit, in one transaction.
FILTER is TYPE[:ID][#RELATION][@SUBJECT_TYPE[:SUBJECT_ID][#SUBJECT_RELATION]] (an ID
ending in * matches a prefix), or use the flags. When more relationships match than
the limit, the output says so and the command can be repeated.`,
		Example: `  pemba rel delete 'document:q3#viewer@user:alice'
  pemba rel delete --resource-type document --relation viewer --subject user:alice
  pemba rel delete 'organization:acme-eu#member' --as user:bob --reason "team disbanded"`,
		Args: rangeArgs(0, 1, "at most one FILTER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := ff.build(args, true)
			if err != nil {
				return err
			}
			actor, err := wf.actor()
			if err != nil {
				return err
			}
			pre, err := wf.parsePreconditions()
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewRelationshipServiceClient(conn).DeleteRelationships(ctx, &pb.DeleteRelationshipsRequest{
					Tenant: o.tenant, Filter: filter, Limit: limit, Preconditions: pre, Actor: actor, Reason: wf.reason,
				})
				if err != nil {
					return err
				}
				if o.json() {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"token": res.GetToken(), "deleted": res.GetDeletedCount(), "more": res.GetMore()})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted: %d relationship(s)\ntoken: %s\n", res.GetDeletedCount(), res.GetToken())
				if res.GetMore() {
					fmt.Fprintln(cmd.OutOrStdout(), "more relationships match: run the command again to delete the next batch")
				}
				return nil
			})
		},
	}
	ff.register(cmd.Flags())
	wf.register(cmd.Flags())
	cmd.Flags().Uint32Var(&limit, "limit", 0, "delete at most this many (0: the server's limit)")
	return cmd
}

// readLineJSON is one line of `rel read -o json`.
type readLineJSON struct {
	relationshipJSON
	Token  string `json:"token"`
	Cursor string `json:"cursor"`
}

func newRelReadCommand(o *clientOptions) *cobra.Command {
	var ff filterFlags
	var limit uint32
	var cursor, consistency string
	cmd := &cobra.Command{
		Use:   "read [FILTER]",
		Short: "Print the stored relationships matching a filter",
		Long: `Print stored relationships in the text form, one per line (JSON output: one object
per line with the token and the cursor that resumes after it). Every page is read at
the revision of the first, so the listing is one consistent snapshot. With --limit the
listing stops after that many; when more may follow, the cursor to continue with is
printed on stderr (pass it with --cursor).`,
		Example: `  pemba rel read document
  pemba rel read 'document:q3#viewer'
  pemba rel read --resource-type organization --subject user:alice
  pemba rel read organization --limit 100 --cursor "$CURSOR"`,
		Args: rangeArgs(0, 1, "at most one FILTER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := ff.build(args, true)
			if err != nil {
				return err
			}
			cons, err := parseConsistency(consistency)
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				client := pb.NewRelationshipServiceClient(conn)
				out := cmd.OutOrStdout()
				_, next, err := fetchPages(limit, cursor, func(size uint32, cursor string) (page, error) {
					stream, err := client.ReadRelationships(ctx, &pb.ReadRelationshipsRequest{
						Tenant: o.tenant, Consistency: cons, Filter: filter, Limit: size, Cursor: cursor,
					})
					if err != nil {
						return page{}, err
					}
					var got uint32
					var last string
					for {
						msg, err := stream.Recv()
						if errors.Is(err, io.EOF) {
							return cursorPage(size, got, last), nil
						}
						if err != nil {
							return cursorPage(size, got, last), err
						}
						got++
						last = msg.GetCursor()
						if o.json() {
							err = writeJSONLine(out, readLineJSON{relationshipValueJSON(msg.GetRelationship()), msg.GetToken(), msg.GetCursor()})
						} else {
							_, err = fmt.Fprintln(out, formatRelationship(msg.GetRelationship()))
						}
						if err != nil {
							return cursorPage(size, got, last), err
						}
					}
				})
				if err != nil {
					return err
				}
				if next != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "more may follow: --cursor %s\n", next)
				}
				return nil
			})
		},
	}
	ff.register(cmd.Flags())
	addConsistencyFlag(cmd, &consistency)
	cmd.Flags().Uint32Var(&limit, "limit", 0, "stop after this many (0: print all)")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue after the relationship that carried this cursor")
	return cmd
}

// relationshipValueJSON is relationshipToJSON as a value (empty for a missing
// relationship), for embedding.
func relationshipValueJSON(r *pb.Relationship) relationshipJSON {
	if j := relationshipToJSON(r); j != nil {
		return *j
	}
	return relationshipJSON{}
}
