package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Access requests: a subject asks for a relationship, the approvers the schema names
// approve or deny it, and the last approval writes it.

func newRequestCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "request",
		Short: "Access requests: ask for a relationship, approve, deny or cancel one",
		Long: `An access request asks for one relationship (resource#relation@subject). It is
granted when every party of the relation's approval policy has approved it: the
schema's approval rule ("approve ... by ..."), or else its grant rule, whose holders
approve alone. The last approval writes the relationship in the same transaction.
Every command acts as a subject (--as): through a delegate key only on its behalf,
through an admin key as anyone; a reader key may list.`,
	}
	o := addClientFlags(cmd)
	cmd.AddCommand(newRequestCreateCommand(o), newRequestGetCommand(o), newRequestListCommand(o, false), newRequestListCommand(o, true),
		newRequestDecideCommand(o, "approve"), newRequestDecideCommand(o, "deny"), newRequestDecideCommand(o, "cancel"))
	return cmd
}

// requestAs reads the required --as flag.
func requestAs(as string) (*pb.SubjectReference, error) {
	if strings.TrimSpace(as) == "" {
		return nil, usageErrorf("--as is required: the subject the command acts as, such as user:alice")
	}
	return parseSubjectArg("--as", as)
}

func newRequestCreateCommand(o *clientOptions) *cobra.Command {
	var as, org, reason, duration string
	cmd := &cobra.Command{
		Use:   "create RELATIONSHIP",
		Short: "Ask for a relationship",
		Long: `Ask for RELATIONSHIP (resource#relation@subject) as --as: for itself, or, as an
approver of the requester's organisation, for one of its people. --org names that
organisation when the relation's approval rule binds it ("requester in ..."). A
pending request for the same relationship is shown instead of a new one.`,
		Example: `  pemba request create project:apollo#partner_viewer@user:pat --org organization:globex \
      --as user:pat --reason "joint launch" --duration 720h`,
		Args: exactArgs(1, "RELATIONSHIP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, err := requestAs(as)
			if err != nil {
				return err
			}
			rel, err := parseRelationshipArg("RELATIONSHIP", args[0])
			if err != nil {
				return err
			}
			req := &pb.CreateAccessRequestRequest{Tenant: o.tenant, Actor: actor, Relationship: protoconv.RelationshipToProto(rel), Reason: reason, Duration: duration}
			if org != "" {
				if req.Organization, err = parseObjectArg("--org", org); err != nil {
					return err
				}
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewAccessRequestServiceClient(conn).CreateAccessRequest(ctx, req)
				if err != nil {
					return err
				}
				if !res.GetCreated() && !o.json() {
					fmt.Fprintln(cmd.ErrOrStderr(), "a pending request for this relationship exists; it is shown instead")
				}
				return printRequest(cmd.OutOrStdout(), o.json(), res.GetRequest())
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the subject making the request (required)")
	cmd.Flags().StringVar(&org, "org", "", "the requester's organisation (TYPE:ID), when the approval rule binds it")
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept with the request and in the audit trail)")
	cmd.Flags().StringVar(&duration, "duration", "", "how long the access should last (e.g. 720h); default as long as allowed")
	return cmd
}

func newRequestGetCommand(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one access request",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewAccessRequestServiceClient(conn).GetAccessRequest(ctx, &pb.GetAccessRequestRequest{Tenant: o.tenant, Id: args[0]})
				if err != nil {
					return err
				}
				return printRequest(cmd.OutOrStdout(), o.json(), res.GetRequest())
			})
		},
	}
}

func newRequestDecideCommand(o *clientOptions, op string) *cobra.Command {
	var as, reason, duration string
	short := map[string]string{
		"approve": "Approve a request for your party; the last approval grants it",
		"deny":    "Deny a pending request (its approvers may)",
		"cancel":  "Withdraw a pending request (its requester may)",
	}[op]
	cmd := &cobra.Command{
		Use:     op + " ID",
		Short:   short,
		Example: fmt.Sprintf("  pemba request %s 01bbe6f926002083719785b65dffedcb --as user:eve --reason \"checked\"", op),
		Args:    exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, err := requestAs(as)
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				client := pb.NewAccessRequestServiceClient(conn)
				var r *pb.AccessRequest
				switch op {
				case "approve":
					res, err := client.ApproveAccessRequest(ctx, &pb.ApproveAccessRequestRequest{Tenant: o.tenant, Actor: actor, Id: args[0], Reason: reason, Duration: duration})
					if err != nil {
						return err
					}
					r = res.GetRequest()
				case "deny":
					res, err := client.DenyAccessRequest(ctx, &pb.DenyAccessRequestRequest{Tenant: o.tenant, Actor: actor, Id: args[0], Reason: reason})
					if err != nil {
						return err
					}
					r = res.GetRequest()
				default:
					res, err := client.CancelAccessRequest(ctx, &pb.CancelAccessRequestRequest{Tenant: o.tenant, Actor: actor, Id: args[0], Reason: reason})
					if err != nil {
						return err
					}
					r = res.GetRequest()
				}
				return printRequest(cmd.OutOrStdout(), o.json(), r)
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the subject acting (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept with the request and in the audit trail)")
	if op == "approve" {
		cmd.Flags().StringVar(&duration, "duration", "", "the most this approval gives (e.g. 168h); default as long as allowed")
	}
	return cmd
}

func newRequestListCommand(o *clientOptions, inbox bool) *cobra.Command {
	var as, org, typ, state string
	var limit uint32
	use, short := "list", "List the requests a subject made"
	if inbox {
		use, short = "inbox", "List the pending requests a subject may approve or deny"
	}
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: fmt.Sprintf("  pemba request %s --as user:eve --type project --org organization:globex", use),
		Args:    exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			actor, err := requestAs(as)
			if err != nil {
				return err
			}
			filter := &pb.AccessRequestFilter{ResourceType: typ}
			if org != "" {
				if filter.Organization, err = parseObjectArg("--org", org); err != nil {
					return err
				}
			}
			if state != "" {
				v, ok := pb.AccessRequestState_value["ACCESS_REQUEST_STATE_"+strings.ToUpper(state)]
				if !ok || v == 0 {
					return usageErrorf("--state %q: want pending, approved, denied, cancelled or expired", state)
				}
				filter.State = pb.AccessRequestState(v)
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				client := pb.NewAccessRequestServiceClient(conn)
				var list []*pb.AccessRequest
				_, next, err := fetchPages(limit, "", func(size uint32, pageToken string) (page, error) {
					var got []*pb.AccessRequest
					var nextToken string
					if inbox {
						res, err := client.ListInbox(ctx, &pb.ListInboxRequest{Tenant: o.tenant, Actor: actor, Filter: filter, PageSize: size, PageToken: pageToken})
						if err != nil {
							return page{}, err
						}
						got, nextToken = res.GetRequests(), res.GetNextPageToken()
					} else {
						res, err := client.ListMyRequests(ctx, &pb.ListMyRequestsRequest{Tenant: o.tenant, Actor: actor, Filter: filter, PageSize: size, PageToken: pageToken})
						if err != nil {
							return page{}, err
						}
						got, nextToken = res.GetRequests(), res.GetNextPageToken()
					}
					list = append(list, got...)
					// An inbox page may be short and still be followed by another.
					return page{got: uint32(len(got)), next: nextToken, last: nextToken == ""}, nil
				})
				if err != nil {
					return err
				}
				return printRequests(cmd, o.json(), list, next)
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "whose requests (list) or inbox (required)")
	cmd.Flags().StringVar(&org, "org", "", "only requests naming this requester organisation (TYPE:ID)")
	cmd.Flags().StringVar(&typ, "type", "", "only requests for resources of this type")
	if !inbox {
		cmd.Flags().StringVar(&state, "state", "", "only requests in this state: pending, approved, denied, cancelled or expired")
	}
	cmd.Flags().Uint32Var(&limit, "limit", 0, "print at most this many (0: all)")
	return cmd
}

// requestJSON is a request in -o json output.
type requestJSON struct {
	ID             string         `json:"id"`
	State          string         `json:"state"`
	Relationship   string         `json:"relationship"`
	Requester      string         `json:"requester"`
	Organization   string         `json:"organization,omitempty"`
	Reason         string         `json:"reason,omitempty"`
	Duration       string         `json:"duration,omitempty"`
	Approvals      []approvalJSON `json:"approvals"`
	DecidedBy      string         `json:"decided_by,omitempty"`
	DecisionReason string         `json:"decision_reason,omitempty"`
	CreatedAt      string         `json:"created_at"`
	DecidedAt      string         `json:"decided_at,omitempty"`
	ExpiresAt      string         `json:"expires_at"`
	GrantExpiresAt string         `json:"grant_expires_at,omitempty"`
	Token          string         `json:"token,omitempty"`
}

type approvalJSON struct {
	Approver   string `json:"approver"`
	Party      uint32 `json:"party"`
	Reason     string `json:"reason,omitempty"`
	ApprovedAt string `json:"approved_at"`
	Duration   string `json:"duration,omitempty"`
}

func stateName(s pb.AccessRequestState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "ACCESS_REQUEST_STATE_"))
}

func requestToJSON(r *pb.AccessRequest) requestJSON {
	out := requestJSON{
		ID: r.GetId(), State: stateName(r.GetState()), Relationship: formatRelationship(r.GetRelationship()),
		Requester: formatSubject(r.GetRequester()), Organization: formatObject(r.GetOrganization()), Reason: r.GetReason(),
		Duration: r.GetDuration(), Approvals: []approvalJSON{}, DecidedBy: formatSubject(r.GetDecidedBy()), DecisionReason: r.GetDecisionReason(),
		CreatedAt: formatTime(r.GetCreatedAt()), DecidedAt: formatTime(r.GetDecidedAt()), ExpiresAt: formatTime(r.GetExpiresAt()),
		GrantExpiresAt: formatTime(r.GetGrantExpiresAt()), Token: r.GetToken(),
	}
	for _, a := range r.GetApprovals() {
		out.Approvals = append(out.Approvals, approvalJSON{Approver: formatSubject(a.GetApprover()), Party: a.GetParty(),
			Reason: a.GetReason(), ApprovedAt: formatTime(a.GetApprovedAt()), Duration: a.GetDuration()})
	}
	return out
}

// printRequest prints one request: its state and relationship, who asked and why,
// each approval, and how it ended.
func printRequest(w io.Writer, asJSON bool, r *pb.AccessRequest) error {
	if asJSON {
		return writeJSON(w, requestToJSON(r))
	}
	j := requestToJSON(r)
	fmt.Fprintf(w, "request %s: %s\n  %s\n", j.ID, j.State, j.Relationship)
	by := j.Requester
	if j.Organization != "" {
		by += " of " + j.Organization
	}
	fmt.Fprintf(w, "  requested by %s at %s%s\n", by, formatTimeText(r.GetCreatedAt()), quoted(j.Reason))
	if j.Duration != "" {
		fmt.Fprintf(w, "  duration asked: %s\n", j.Duration)
	}
	for _, a := range r.GetApprovals() {
		fmt.Fprintf(w, "  approved for party %d by %s at %s%s\n", a.GetParty(), formatSubject(a.GetApprover()), formatTimeText(a.GetApprovedAt()), quoted(a.GetReason()))
	}
	switch {
	case j.State == "pending":
		fmt.Fprintf(w, "  pending until %s\n", formatTimeText(r.GetExpiresAt()))
	case j.DecidedBy != "":
		fmt.Fprintf(w, "  %s by %s at %s%s\n", j.State, j.DecidedBy, formatTimeText(r.GetDecidedAt()), quoted(j.DecisionReason))
	}
	if j.State == "approved" {
		until := "does not expire"
		if j.GrantExpiresAt != "" {
			until = "expires " + formatTimeText(r.GetGrantExpiresAt())
		}
		fmt.Fprintf(w, "  granted: %s\n", until)
	}
	if j.Token != "" {
		fmt.Fprintf(w, "token: %s\n", j.Token)
	}
	return nil
}

func quoted(reason string) string {
	if reason == "" {
		return ""
	}
	return fmt.Sprintf(": %q", reason)
}

// printRequests prints a listing as a table (or JSON).
func printRequests(cmd *cobra.Command, asJSON bool, list []*pb.AccessRequest, next string) error {
	out := cmd.OutOrStdout()
	if asJSON {
		items := []requestJSON{}
		for _, r := range list {
			items = append(items, requestToJSON(r))
		}
		return writeJSON(out, map[string]any{"requests": items, "next_page_token": next})
	}
	if len(list) == 0 {
		fmt.Fprintln(out, "no requests")
		return nil
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "ID\tSTATE\tRELATIONSHIP\tREQUESTER\tAPPROVALS\tCREATED\tREASON")
	for _, r := range list {
		j := requestToJSON(r)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", j.ID, j.State, j.Relationship, j.Requester, len(j.Approvals), cell(formatTimeText(r.GetCreatedAt())), cell(j.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "more requests follow: raise --limit")
	}
	return nil
}
