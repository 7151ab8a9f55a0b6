package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	pemba "github.com/pemba-authz/pemba/client"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// lookupResourceJSON is one line of `lookup-resources -o json`.
type lookupResourceJSON struct {
	Resource       string   `json:"resource"`
	ResourceID     string   `json:"resource_id"`
	Result         string   `json:"result"`
	MissingContext []string `json:"missing_context,omitempty"`
	Token          string   `json:"token"`
	Cursor         string   `json:"cursor"`
}

func newLookupResourcesCommand() *cobra.Command {
	var o *clientOptions
	var q queryFlags
	var limit uint32
	var cursor string
	cmd := &cobra.Command{
		Use:   "lookup-resources TYPE PERMISSION SUBJECT",
		Short: "List the resources of a type a subject has a permission on",
		Long: `List every resource of TYPE on which SUBJECT has PERMISSION, one per line
("conditional (missing: ...)" follows a resource whose answer depends on caveat
context not given). Pages are followed at the revision of the first, so the list is
one consistent snapshot. With --limit the list stops after that many and, when more
may follow, prints on stderr the flags that continue it.`,
		Example: `  pemba lookup-resources document view user:alice
  pemba lookup-resources project view user:erin --context '{"client_ip": "10.1.2.3"}' -o json
  pemba lookup-resources document view user:alice --limit 100`,
		Args: exactArgs(3, "TYPE PERMISSION SUBJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resType := args[0]
			if err := tuple.ValidateTypeName("TYPE", resType); err != nil {
				return usageErrorf("%v", err)
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
				client := pb.NewPermissionServiceClient(conn)
				out := cmd.OutOrStdout()
				var token string
				_, next, err := fetchPages(limit, cursor, func(size uint32, cursor string) (page, error) {
					stream, err := client.LookupResources(ctx, &pb.LookupResourcesRequest{
						Tenant: o.tenant, Consistency: pageConsistency(cons, token), ResourceType: resType, Permission: args[1],
						Subject: subject, Context: caveatCtx, ContextualRelationships: contextual, Limit: size, Cursor: cursor,
						BatchSize: pemba.LookupBatchSize,
					})
					if err != nil {
						return page{}, err
					}
					var got uint32
					var last string
					err = recvAll(stream.Recv, func(m *pb.LookupResourcesResponse) error {
						token = m.GetToken()
						for _, r := range pemba.ResourceResults(m) {
							got++
							last = r.GetCursor()
							if err := o.printResource(out, resType, token, r); err != nil {
								return err
							}
						}
						return nil
					})
					return cursorPage(size, got, last), err
				})
				return o.endLookup(cmd, err, next, token)
			})
		},
	}
	o = addClientFlags(cmd)
	q.register(cmd.Flags())
	addPagingFlags(cmd, &limit, &cursor)
	return cmd
}

// pageConsistency pins every page after the first to the revision of the first, whose
// token the results carried.
func pageConsistency(first *pb.Consistency, token string) *pb.Consistency {
	if token == "" {
		return first
	}
	return &pb.Consistency{Requirement: &pb.Consistency_AtExactSnapshot{AtExactSnapshot: token}}
}

// lookupSubjectJSON is one line of `lookup-subjects -o json`.
type lookupSubjectJSON struct {
	Subject        string   `json:"subject"`
	SubjectID      string   `json:"subject_id"`
	Result         string   `json:"result"`
	MissingContext []string `json:"missing_context,omitempty"`
	Excluded       []string `json:"excluded,omitempty"`
	Token          string   `json:"token"`
	Cursor         string   `json:"cursor"`
}

func newLookupSubjectsCommand() *cobra.Command {
	var o *clientOptions
	var q queryFlags
	var limit uint32
	var cursor string
	cmd := &cobra.Command{
		Use:   "lookup-subjects RESOURCE PERMISSION SUBJECT_TYPE",
		Short: "List the subjects of a type that have a permission on a resource",
		Long: `List every subject of SUBJECT_TYPE that has PERMISSION on RESOURCE, one per line.
SUBJECT_TYPE may name a relation (group#member) to find subject sets. A wildcard
result (user:*) lists the subjects it does not cover. Paging works as in
lookup-resources.`,
		Example: `  pemba lookup-subjects document:q3 view user
  pemba lookup-subjects organization:acme manage group#member -o json`,
		Args: exactArgs(3, "RESOURCE PERMISSION SUBJECT_TYPE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource, err := parseObjectArg("RESOURCE", args[0])
			if err != nil {
				return err
			}
			subjType, subjRel, _ := strings.Cut(args[2], "#")
			if err := tuple.ValidateTypeName("SUBJECT_TYPE", subjType); err != nil {
				return usageErrorf("%v", err)
			}
			if subjRel != "" {
				if err := tuple.ValidateRelationName("SUBJECT_TYPE relation", subjRel); err != nil {
					return usageErrorf("%v", err)
				}
			}
			caveatCtx, contextual, cons, err := q.parse()
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				client := pb.NewPermissionServiceClient(conn)
				out := cmd.OutOrStdout()
				var token string
				_, next, err := fetchPages(limit, cursor, func(size uint32, cursor string) (page, error) {
					stream, err := client.LookupSubjects(ctx, &pb.LookupSubjectsRequest{
						Tenant: o.tenant, Consistency: pageConsistency(cons, token), Resource: resource, Permission: args[1],
						SubjectType: subjType, SubjectRelation: subjRel, Context: caveatCtx, ContextualRelationships: contextual,
						Limit: size, Cursor: cursor, BatchSize: pemba.LookupBatchSize,
					})
					if err != nil {
						return page{}, err
					}
					var got uint32
					var last string
					err = recvAll(stream.Recv, func(m *pb.LookupSubjectsResponse) error {
						token = m.GetToken()
						for _, r := range pemba.SubjectResults(m) {
							got++
							last = r.GetCursor()
							if err := o.printSubject(out, subjType, subjRel, token, r); err != nil {
								return err
							}
						}
						return nil
					})
					return cursorPage(size, got, last), err
				})
				return o.endLookup(cmd, err, next, token)
			})
		},
	}
	o = addClientFlags(cmd)
	q.register(cmd.Flags())
	addPagingFlags(cmd, &limit, &cursor)
	return cmd
}

// printResource writes one result of lookup-resources.
func (o *clientOptions) printResource(out io.Writer, resType, token string, r *pb.LookupResourcesResult) error {
	if o.json() {
		return writeJSONLine(out, lookupResourceJSON{
			Resource: resType + ":" + r.GetResourceId(), ResourceID: r.GetResourceId(),
			Result: permissionshipName(r.GetPermissionship()), MissingContext: r.GetMissingContext(),
			Token: token, Cursor: r.GetCursor(),
		})
	}
	line := resType + ":" + r.GetResourceId()
	if r.GetPermissionship() == pb.Permissionship_PERMISSIONSHIP_CONDITIONAL {
		line += "  " + answerText(r.GetPermissionship(), r.GetMissingContext())
	}
	_, err := fmt.Fprintln(out, line)
	return err
}

// printSubject writes one result of lookup-subjects.
func (o *clientOptions) printSubject(out io.Writer, subjType, subjRel, token string, r *pb.LookupSubjectsResult) error {
	subject := tuple.SubjectRef{Type: subjType, ID: r.GetSubjectId(), Relation: subjRel}.String()
	var excluded []string
	for _, id := range r.GetExcludedSubjectIds() {
		excluded = append(excluded, subjType+":"+id)
	}
	if o.json() {
		return writeJSONLine(out, lookupSubjectJSON{
			Subject: subject, SubjectID: r.GetSubjectId(), Result: permissionshipName(r.GetPermissionship()),
			MissingContext: r.GetMissingContext(), Excluded: excluded, Token: token, Cursor: r.GetCursor(),
		})
	}
	line := subject
	if len(excluded) > 0 {
		line += " (except " + strings.Join(excluded, ", ") + ")"
	}
	if r.GetPermissionship() == pb.Permissionship_PERMISSIONSHIP_CONDITIONAL {
		line += "  " + answerText(r.GetPermissionship(), r.GetMissingContext())
	}
	_, err := fmt.Fprintln(out, line)
	return err
}

// endLookup finishes a paged lookup command: an RPC error becomes the command's error,
// and a listing cut short by --limit says how to continue it.
func (o *clientOptions) endLookup(cmd *cobra.Command, err error, next, token string) error {
	if err != nil {
		return o.rpcError(err)
	}
	if next != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "more may follow: --cursor %s --consistency at_exact_snapshot:%s\n", next, token)
	}
	return nil
}

// addPagingFlags registers --limit and --cursor of the lookup commands.
func addPagingFlags(cmd *cobra.Command, limit *uint32, cursor *string) {
	cmd.Flags().Uint32Var(limit, "limit", 0, "stop after this many (0: list all)")
	cmd.Flags().StringVar(cursor, "cursor", "", "continue after the result that carried this cursor (with --consistency at_exact_snapshot:TOKEN)")
}
