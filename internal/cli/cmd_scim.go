package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// SCIM connections: one customer directory (Okta, Entra ID, ...) provisions one
// organisation through /scim/v2 with its own bearer token.

func newScimCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scim",
		Short: "SCIM 2.0 provisioning: connections of customer directories",
	}
	o := addClientFlags(cmd)
	conn := &cobra.Command{
		Use:   "connection",
		Short: "Create, list, rotate and revoke SCIM connections",
		Long: `A SCIM connection binds one customer directory to one organisation. The directory
calls the server's /scim/v2 endpoints with the connection's bearer token, which is
shown once, by create and rotate, and stored only as a digest. Through an admin key
the connection may be made for any organisation; through a delegate key --as names
the subject whose rights (it must be able to grant the organisation's member
relation) authorise every write the directory makes.`,
	}
	conn.AddCommand(newScimCreateCommand(o), newScimListCommand(o), newScimRotateCommand(o), newScimRevokeCommand(o), newScimRolesCommand(o))
	cmd.AddCommand(conn)
	return cmd
}

// parseRoleFlags reads --role "GROUP=RELATION" flags.
func parseRoleFlags(roles []string) ([]*pb.ScimRoleMapping, error) {
	var out []*pb.ScimRoleMapping
	for _, r := range roles {
		g, rel, ok := strings.Cut(r, "=")
		if !ok || strings.TrimSpace(g) == "" || strings.TrimSpace(rel) == "" {
			return nil, usageErrorf("--role %q: write GROUP=RELATION, such as \"Acme App Managers=app_manager\"", r)
		}
		out = append(out, &pb.ScimRoleMapping{Group: strings.TrimSpace(g), Relation: strings.TrimSpace(rel)})
	}
	return out, nil
}

// optionalAs reads an optional --as flag.
func optionalAs(as string) (*pb.SubjectReference, error) {
	if strings.TrimSpace(as) == "" {
		return nil, nil
	}
	return parseSubjectArg("--as", as)
}

func newScimCreateCommand(o *clientOptions) *cobra.Command {
	var org, as, reason string
	var roles []string
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a connection and print its token (shown only once)",
		Example: `  pemba scim connection create acme-okta --org acme --as user:alice --role "Acme App Managers=app_manager" -o json`,
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if org == "" {
				return usageErrorf("--org is required: the organisation the directory provisions (ID, or TYPE:ID)")
			}
			if !strings.Contains(org, ":") {
				org = "organization:" + org
			}
			orgRef, err := parseObjectArg("--org", org)
			if err != nil {
				return err
			}
			actor, err := optionalAs(as)
			if err != nil {
				return err
			}
			ms, err := parseRoleFlags(roles)
			if err != nil {
				return err
			}
			req := &pb.CreateScimConnectionRequest{Tenant: o.tenant, Name: args[0], Organization: orgRef, Actor: actor, RoleMappings: ms, Reason: reason}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewScimConnectionServiceClient(conn).CreateScimConnection(ctx, req)
				if err != nil {
					return err
				}
				return printScimSecret(cmd.OutOrStdout(), o.json(), res.GetConnection(), res.GetSecretToken(), res.GetBaseUrl())
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "the organisation the directory provisions: ID or TYPE:ID (required)")
	cmd.Flags().StringVar(&as, "as", "", "the subject whose rights authorise the directory's writes (required with a delegate key)")
	cmd.Flags().StringArrayVar(&roles, "role", nil, `map a directory group to an organisation relation: "GROUP=RELATION" (repeatable)`)
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the audit trail)")
	return cmd
}

func newScimListCommand(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the tenant's connections (never their tokens)",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewScimConnectionServiceClient(conn).ListScimConnections(ctx, &pb.ListScimConnectionsRequest{Tenant: o.tenant})
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.json() {
					items := []scimConnectionJSON{}
					for _, c := range res.GetConnections() {
						items = append(items, scimToJSON(c))
					}
					return writeJSON(out, map[string]any{"connections": items})
				}
				if len(res.GetConnections()) == 0 {
					fmt.Fprintln(out, "no SCIM connections")
				}
				for _, c := range res.GetConnections() {
					printScimConnection(out, c)
				}
				return nil
			})
		},
	}
}

func newScimRotateCommand(o *clientOptions) *cobra.Command {
	var as, reason string
	cmd := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Give a connection a new token; the old one stops working at once",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, err := optionalAs(as)
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewScimConnectionServiceClient(conn).RotateScimConnectionToken(ctx, &pb.RotateScimConnectionTokenRequest{Tenant: o.tenant, Name: args[0], Actor: actor, Reason: reason})
				if err != nil {
					return err
				}
				return printScimSecret(cmd.OutOrStdout(), o.json(), res.GetConnection(), res.GetSecretToken(), res.GetBaseUrl())
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the acting subject (required with a delegate key)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the audit trail)")
	return cmd
}

func newScimRevokeCommand(o *clientOptions) *cobra.Command {
	var as, reason string
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a connection: its token stops working; what it provisioned stays",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, err := optionalAs(as)
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewScimConnectionServiceClient(conn).RevokeScimConnection(ctx, &pb.RevokeScimConnectionRequest{Tenant: o.tenant, Name: args[0], Actor: actor, Reason: reason})
				if err != nil {
					return err
				}
				if o.json() {
					return writeJSON(cmd.OutOrStdout(), scimToJSON(res.GetConnection()))
				}
				printScimConnection(cmd.OutOrStdout(), res.GetConnection())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the acting subject (required with a delegate key)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the audit trail)")
	return cmd
}

func newScimRolesCommand(o *clientOptions) *cobra.Command {
	var as, reason string
	var roles []string
	cmd := &cobra.Command{
		Use:     "set-roles NAME",
		Short:   "Replace a connection's role mappings (no --role clears them)",
		Example: `  pemba scim connection set-roles acme-okta --role "Acme Billing=billing_manager"`,
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, err := optionalAs(as)
			if err != nil {
				return err
			}
			ms, err := parseRoleFlags(roles)
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewScimConnectionServiceClient(conn).SetScimRoleMappings(ctx, &pb.SetScimRoleMappingsRequest{Tenant: o.tenant, Name: args[0], Actor: actor, RoleMappings: ms, Reason: reason})
				if err != nil {
					return err
				}
				if o.json() {
					return writeJSON(cmd.OutOrStdout(), scimToJSON(res.GetConnection()))
				}
				printScimConnection(cmd.OutOrStdout(), res.GetConnection())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "the acting subject (required with a delegate key)")
	cmd.Flags().StringArrayVar(&roles, "role", nil, `"GROUP=RELATION" (repeatable)`)
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the audit trail)")
	return cmd
}

type scimConnectionJSON struct {
	Name         string            `json:"name"`
	Organization string            `json:"organization"`
	Creator      string            `json:"creator,omitempty"`
	CreatedByKey string            `json:"created_by_key,omitempty"`
	RoleMappings map[string]string `json:"role_mappings"`
	TokenHint    string            `json:"token_hint"`
	CreatedAt    string            `json:"created_at"`
	RotatedAt    string            `json:"rotated_at,omitempty"`
	RevokedAt    string            `json:"revoked_at,omitempty"`
	Revoked      bool              `json:"revoked"`
	Revision     string            `json:"revision_token"`
}

func optTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return formatTimeText(ts)
}

func scimToJSON(c *pb.ScimConnection) scimConnectionJSON {
	j := scimConnectionJSON{Name: c.GetName(), Organization: formatObject(c.GetOrganization()), CreatedByKey: c.GetCreatedByKey(),
		RoleMappings: map[string]string{}, TokenHint: c.GetTokenHint(), CreatedAt: optTime(c.GetCreatedAt()),
		RotatedAt: optTime(c.GetRotatedAt()), RevokedAt: optTime(c.GetRevokedAt()), Revoked: c.GetRevokedAt() != nil, Revision: c.GetToken()}
	if c.GetCreator() != nil {
		j.Creator = formatSubject(c.GetCreator())
	}
	for _, m := range c.GetRoleMappings() {
		j.RoleMappings[m.GetGroup()] = m.GetRelation()
	}
	return j
}

func printScimConnection(w io.Writer, c *pb.ScimConnection) {
	j := scimToJSON(c)
	state := "active"
	if j.Revoked {
		state = "revoked " + j.RevokedAt
	}
	fmt.Fprintf(w, "%s: %s, %s, token %s\n", j.Name, j.Organization, state, j.TokenHint)
	if j.Creator != "" {
		fmt.Fprintf(w, "  writes authorised as %s\n", j.Creator)
	}
	for g, r := range j.RoleMappings {
		fmt.Fprintf(w, "  group %q → %s#%s\n", g, j.Organization, r)
	}
}

// printScimSecret prints a connection with the token it was just given.
func printScimSecret(w io.Writer, asJSON bool, c *pb.ScimConnection, token, baseURL string) error {
	if asJSON {
		j := scimToJSON(c)
		return writeJSON(w, map[string]any{"name": j.Name, "token": token, "base_url": baseURL, "organization": j.Organization,
			"creator": j.Creator, "role_mappings": j.RoleMappings, "token_hint": j.TokenHint, "revision_token": j.Revision})
	}
	printScimConnection(w, c)
	fmt.Fprintf(w, "base URL: %s\ntoken (shown only now; store it in the directory): %s\n", baseURL, token)
	return nil
}
