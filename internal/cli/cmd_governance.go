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

// Governance: offboarding a subject and reviewing access (the grants an actor made,
// what a subject reaches and through which path).

func newOffboardCommand() *cobra.Command {
	var o *clientOptions
	var org, reason, as string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "offboard SUBJECT",
		Short: "Remove a subject's direct relationships, everywhere or inside an organisation",
		Long: `Remove every relationship whose subject is SUBJECT, in one transaction, and print
what was removed. With --org only relationships inside that organisation's subtree are
removed (the organisation, its child organisations and the objects below them, as the
schema's arrows connect them); without it, everywhere. Every right derived from the
removed relationships (group memberships, admin roles, inherited access) ends at the
returned token. --reason is required and kept in the audit trail; --as makes it a
delegated offboarding, allowed only within the acting subject's grant rights.
--dry-run writes nothing: it lists what would be removed and the delegated grants
that would stop counting as a consequence, each with the condition that breaks.`,
		Example: `  pemba offboard user:alice --reason "left the company"
  pemba offboard user:carol --org organization:acme-eu --reason "moved to another division"
  pemba offboard user:dave --org organization:acme-eu --as user:bob --reason "contract ended"
  pemba offboard user:gina --org organization:globex --reason "left globex" --dry-run`,
		Args: exactArgs(1, "SUBJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			subject, err := parseSubjectArg("SUBJECT", args[0])
			if err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return usageErrorf("--reason is required: say why %s is offboarded (it is kept in the audit trail)", args[0])
			}
			req := &pb.OffboardRequest{Tenant: o.tenant, Subject: subject, Reason: reason, DryRun: dryRun}
			if org != "" {
				if req.Organization, err = parseObjectArg("--org", org); err != nil {
					return err
				}
			}
			if as != "" {
				if req.Actor, err = parseSubjectArg("--as", as); err != nil {
					return err
				}
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewGovernanceServiceClient(conn).Offboard(ctx, req)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.json() {
					v := map[string]any{"token": res.GetToken(), "subject": args[0], "removed": relationshipsToJSON(res.GetRemoved())}
					if res.GetDryRun() {
						v["dry_run"], v["ending"] = true, endingToJSON(res.GetEnding())
					}
					return writeJSON(out, v)
				}
				if res.GetDryRun() {
					fmt.Fprintf(out, "dry run: would remove %d relationship(s) of %s\n", len(res.GetRemoved()), args[0])
				} else {
					fmt.Fprintf(out, "removed %d relationship(s) of %s\n", len(res.GetRemoved()), args[0])
				}
				for _, r := range res.GetRemoved() {
					fmt.Fprintln(out, "  - "+formatRelationship(r))
				}
				if res.GetDryRun() {
					writeEndingText(out, res.GetEnding())
				}
				fmt.Fprintf(out, "token: %s\n", res.GetToken())
				return nil
			})
		},
	}
	o = addClientFlags(cmd)
	cmd.Flags().StringVar(&org, "org", "", "only inside this organisation's subtree (TYPE:ID, e.g. organization:acme-eu)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; kept in the audit trail)")
	cmd.Flags().StringVar(&as, "as", "", "acting subject of a delegated offboarding")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "preview: list what would be removed and the grants that would end, writing nothing")
	return cmd
}

func newAccessCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Review access: the grants an actor made, what a subject reaches",
	}
	o := addClientFlags(cmd)
	cmd.AddCommand(newAccessGrantsCommand(o), newAccessReviewCommand(o), newAccessWhatIfCommand(o))
	return cmd
}

// actorGrantJSON is one grant of `access grants -o json`.
type actorGrantJSON struct {
	Relationship *relationshipJSON `json:"relationship"`
	GrantedAt    string            `json:"granted_at"`
	GrantedToken string            `json:"granted_token"`
	Principal    string            `json:"principal"`
	Reason       string            `json:"reason,omitempty"`
	Rule         string            `json:"rule,omitempty"`
	Via          string            `json:"via,omitempty"`
}

func newAccessGrantsCommand(o *clientOptions) *cobra.Command {
	var consistency string
	var limit uint32
	cmd := &cobra.Command{
		Use:   "grants ACTOR",
		Short: "List the grants an acting subject made that are still in force",
		Long: `List the relationships ACTOR granted through delegated writes (--as ACTOR) that
are still stored and unexpired: when, through which API key, why, by which grant rule
and through which organisation the actor held the right to grant it.`,
		Example: `  pemba access grants user:bob
  pemba access grants user:bob -o json`,
		Args: exactArgs(1, "ACTOR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, err := parseSubjectArg("ACTOR", args[0])
			if err != nil {
				return err
			}
			cons, err := parseConsistency(consistency)
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				client := pb.NewGovernanceServiceClient(conn)
				var token string
				var grants []*pb.ActorGrant
				_, next, err := fetchPages(limit, "", func(size uint32, pageToken string) (page, error) {
					res, err := client.ListActorGrants(ctx, &pb.ListActorGrantsRequest{Tenant: o.tenant, Consistency: cons, Actor: actor, PageSize: size, PageToken: pageToken})
					if err != nil {
						return page{}, err
					}
					token = res.GetToken()
					grants = append(grants, res.GetGrants()...)
					return tokenPage(uint32(len(res.GetGrants())), res.GetNextPageToken()), nil
				})
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.json() {
					list := []actorGrantJSON{}
					for _, g := range grants {
						list = append(list, actorGrantJSON{
							Relationship: relationshipToJSON(g.GetRelationship()), GrantedAt: formatTime(g.GetGrantedAt()),
							GrantedToken: g.GetGrantedToken(), Principal: g.GetPrincipal(), Reason: g.GetReason(),
							Rule: g.GetGrant().GetRule(), Via: formatObject(g.GetGrant().GetVia()),
						})
					}
					return writeJSON(out, map[string]any{"token": token, "actor": args[0], "grants": list, "next_page_token": next})
				}
				if len(grants) == 0 {
					fmt.Fprintf(out, "%s made no grants that are still in force\ntoken: %s\n", args[0], token)
					return nil
				}
				tw := newTable(out)
				fmt.Fprintln(tw, "RELATIONSHIP\tGRANTED\tKEY\tRULE\tVIA\tREASON")
				for _, g := range grants {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", formatRelationship(g.GetRelationship()), cell(formatTimeText(g.GetGrantedAt())),
						cell(g.GetPrincipal()), cell(g.GetGrant().GetRule()), cell(formatObject(g.GetGrant().GetVia())), cell(g.GetReason()))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(out, "token: %s\n", token)
				if next != "" {
					fmt.Fprintln(cmd.ErrOrStderr(), "more grants follow: raise --limit")
				}
				return nil
			})
		},
	}
	addReviewConsistencyFlag(cmd, &consistency)
	cmd.Flags().Uint32Var(&limit, "limit", 0, "print at most this many (0: all)")
	return cmd
}

// accessEntryJSON is one entry of `access review -o json`.
type accessEntryJSON struct {
	Resource   string     `json:"resource"`
	Permission string     `json:"permission"`
	Result     string     `json:"result"`
	Paths      [][]string `json:"paths"`
}

func newAccessReviewCommand(o *clientOptions) *cobra.Command {
	var org, consistency string
	var types, permissions []string
	var limit uint32
	cmd := &cobra.Command{
		Use:   "review SUBJECT",
		Short: "List what a subject can reach, and through which path",
		Long: `List every permission SUBJECT holds on the objects inside an organisation's
subtree (--org), or everywhere it reaches, each with the chain of stored relationships
that gives it, from the resource down to the subject. --type and --permission narrow
the review.`,
		Example: `  pemba access review user:alice --org organization:acme
  pemba access review user:alice --type project --permission view -o json`,
		Args: exactArgs(1, "SUBJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			subject, err := parseSubjectArg("SUBJECT", args[0])
			if err != nil {
				return err
			}
			cons, err := parseConsistency(consistency)
			if err != nil {
				return err
			}
			req := &pb.ReviewAccessRequest{Tenant: o.tenant, Subject: subject, ResourceTypes: types, Permissions: permissions}
			if org != "" {
				if req.Organization, err = parseObjectArg("--org", org); err != nil {
					return err
				}
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				client := pb.NewGovernanceServiceClient(conn)
				var token string
				var entries []*pb.AccessEntry
				_, next, err := fetchPages(limit, "", func(size uint32, pageToken string) (page, error) {
					req.Consistency, req.PageSize, req.PageToken = cons, size, pageToken
					res, err := client.ReviewAccess(ctx, req)
					if err != nil {
						return page{}, err
					}
					token = res.GetToken()
					entries = append(entries, res.GetEntries()...)
					return tokenPage(uint32(len(res.GetEntries())), res.GetNextPageToken()), nil
				})
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.json() {
					list := []accessEntryJSON{}
					for _, e := range entries {
						j := accessEntryJSON{Resource: formatObject(e.GetResource()), Permission: e.GetPermission(), Result: permissionshipName(e.GetPermissionship()), Paths: [][]string{}}
						for _, p := range e.GetPaths() {
							j.Paths = append(j.Paths, pathText(p))
						}
						list = append(list, j)
					}
					return writeJSON(out, map[string]any{"token": token, "subject": args[0], "organization": org, "entries": list, "next_page_token": next})
				}
				if len(entries) == 0 {
					fmt.Fprintf(out, "%s reaches nothing here\ntoken: %s\n", args[0], token)
					return nil
				}
				tw := newTable(out)
				fmt.Fprintln(tw, "RESOURCE\tPERMISSION\tRESULT\tPATH")
				for _, e := range entries {
					paths := e.GetPaths()
					first := ""
					if len(paths) > 0 {
						first = strings.Join(pathText(paths[0]), " → ")
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", formatObject(e.GetResource()), e.GetPermission(), permissionshipName(e.GetPermissionship()), first)
					for _, p := range paths[min(1, len(paths)):] {
						fmt.Fprintf(tw, "\t\t\t%s\n", strings.Join(pathText(p), " → "))
					}
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(out, "token: %s\n", token)
				if next != "" {
					fmt.Fprintln(cmd.ErrOrStderr(), "more entries follow: raise --limit")
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&org, "org", "", "review only inside this organisation's subtree (TYPE:ID)")
	f.StringArrayVar(&types, "type", nil, "review only this resource type (repeatable)")
	f.StringArrayVar(&permissions, "permission", nil, "review only this permission (repeatable)")
	addReviewConsistencyFlag(cmd, &consistency)
	f.Uint32Var(&limit, "limit", 0, "print at most this many entries (0: all)")
	return cmd
}

// pathText prints an access path's relationships in the text form.
func pathText(p *pb.AccessPath) []string {
	out := make([]string, 0, len(p.GetRelationships()))
	for _, r := range p.GetRelationships() {
		out = append(out, formatRelationship(r))
	}
	return out
}

func newAccessWhatIfCommand(o *clientOptions) *cobra.Command {
	var consistency string
	var remove []string
	cmd := &cobra.Command{
		Use:   "what-if --remove RELATIONSHIP...",
		Short: "Preview which delegated grants would end if relationships were removed",
		Long: `List the delegated grants that would stop counting if the given stored
relationships were deleted (one --remove per relationship): the grants whose rule's
while condition would no longer hold, each with the condition, the path it holds by
now, and the removed links on that path. Nothing is written.`,
		Example: `  pemba access what-if --remove 'organization:globex#member@user:pat'
  pemba access what-if --remove 'organization:globex#admin@user:gina' --remove 'organization:globex#member@user:gina'`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(remove) == 0 {
				return usageErrorf("--remove is required: name a relationship to remove, e.g. --remove 'organization:acme#member@user:pat'")
			}
			req := &pb.WhatIfRequest{Tenant: o.tenant}
			for _, s := range remove {
				r, err := parseRelationshipArg("--remove", s)
				if err != nil {
					return err
				}
				req.Remove = append(req.Remove, protoconv.RelationshipToProto(r))
			}
			var err error
			if consistency != "" {
				if req.Consistency, err = parseConsistency(consistency); err != nil {
					return err
				}
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewGovernanceServiceClient(conn).WhatIf(ctx, req)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.json() {
					return writeJSON(out, map[string]any{"token": res.GetToken(), "removed": relationshipsToJSON(res.GetRemoved()), "ending": endingToJSON(res.GetEnding())})
				}
				writeEndingText(out, res.GetEnding())
				fmt.Fprintf(out, "token: %s\n", res.GetToken())
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVar(&remove, "remove", nil, "a stored relationship to remove hypothetically (repeatable)")
	cmd.Flags().StringVar(&consistency, "consistency", "", "revision to answer at (default fully_consistent)")
	return cmd
}

// endingGrantJSON is one grant that would end, in -o json.
type endingGrantJSON struct {
	Relationship *relationshipJSON     `json:"relationship"`
	Rule         string                `json:"rule"`
	Broken       []brokenConditionJSON `json:"broken"`
}

type brokenConditionJSON struct {
	Condition string              `json:"condition"`
	Check     string              `json:"check"`
	Path      []*relationshipJSON `json:"path"`
	Ends      []*relationshipJSON `json:"ends"`
}

func endingToJSON(ending []*pb.EndingGrant) []endingGrantJSON {
	out := make([]endingGrantJSON, 0, len(ending))
	for _, e := range ending {
		g := endingGrantJSON{Relationship: relationshipToJSON(e.GetRelationship()), Rule: e.GetRule()}
		for _, b := range e.GetBroken() {
			g.Broken = append(g.Broken, brokenConditionJSON{Condition: b.GetCondition(), Check: conditionCheckText(b),
				Path: relationshipsToJSON(b.GetPath()), Ends: relationshipsToJSON(b.GetEnds())})
		}
		out = append(out, g)
	}
	return out
}

// conditionCheckText prints a condition's sub-check as "resource permission subject".
func conditionCheckText(b *pb.BrokenCondition) string {
	return formatObject(b.GetResource()) + " " + b.GetPermission() + " " + formatSubject(b.GetSubject())
}

// writeEndingText prints the grants that would end, one block per grant.
func writeEndingText(w io.Writer, ending []*pb.EndingGrant) {
	fmt.Fprintf(w, "%d delegated grant(s) would stop counting\n", len(ending))
	for _, e := range ending {
		fmt.Fprintf(w, "  - %s\n    rule: %s\n", formatRelationship(e.GetRelationship()), e.GetRule())
		for _, b := range e.GetBroken() {
			fmt.Fprintf(w, "    ends: %s (%s)\n", b.GetCondition(), conditionCheckText(b))
			for _, r := range b.GetPath() {
				mark := "  "
				for _, x := range b.GetEnds() {
					if formatRelationship(x) == formatRelationship(r) {
						mark = "x "
					}
				}
				fmt.Fprintf(w, "      %s%s\n", mark, formatRelationship(r))
			}
		}
	}
}
