package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func newTenantCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Create, list and delete tenants (admin keys for every tenant only)",
		Long: `Tenants are isolated spaces, each with its own schema, relationships, audit
trail and watch stream (one per brand or per customer platform). Other commands pick
one with --tenant or PEMBA_TENANT; without it they use the "default" tenant.`,
	}
	o := addClientFlags(cmd)
	cmd.AddCommand(&cobra.Command{
		Use:     "create NAME",
		Short:   "Create an empty tenant",
		Example: "  pemba tenant create brand-b",
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return tenantCall(cmd, o, func(c pb.TenantServiceClient, ctx context.Context) error {
				res, err := c.CreateTenant(ctx, &pb.CreateTenantRequest{Tenant: args[0]})
				if err != nil {
					return err
				}
				t := res.GetTenant()
				if o.json() {
					return writeJSON(cmd.OutOrStdout(), tenantJSON{t.GetName(), formatTime(t.GetCreatedAt())})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created tenant %s\n", t.GetName())
				return nil
			})
		},
	}, &cobra.Command{
		Use:     "list",
		Short:   "List every tenant",
		Example: "  pemba tenant list -o json",
		Args:    exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return tenantCall(cmd, o, func(c pb.TenantServiceClient, ctx context.Context) error {
				res, err := c.ListTenants(ctx, &pb.ListTenantsRequest{})
				if err != nil {
					return err
				}
				if o.json() {
					list := []tenantJSON{}
					for _, t := range res.GetTenants() {
						list = append(list, tenantJSON{t.GetName(), formatTime(t.GetCreatedAt())})
					}
					return writeJSON(cmd.OutOrStdout(), map[string]any{"tenants": list})
				}
				tw := newTable(cmd.OutOrStdout())
				fmt.Fprintln(tw, "NAME\tCREATED")
				for _, t := range res.GetTenants() {
					fmt.Fprintf(tw, "%s\t%s\n", t.GetName(), formatTimeText(t.GetCreatedAt()))
				}
				return tw.Flush()
			})
		},
	}, &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a tenant with its schema, relationships and audit trail",
		Long: `Delete a tenant with everything in it: schema, relationships, audit trail. This
cannot be undone; export first if you may need the data. The default tenant cannot be
deleted.`,
		Example: "  pemba tenant delete brand-b",
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return tenantCall(cmd, o, func(c pb.TenantServiceClient, ctx context.Context) error {
				if _, err := c.DeleteTenant(ctx, &pb.DeleteTenantRequest{Tenant: args[0]}); err != nil {
					return err
				}
				if o.json() {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"deleted": args[0]})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted tenant %s\n", args[0])
				return nil
			})
		},
	})
	return cmd
}

// tenantJSON is one tenant in JSON output.
type tenantJSON struct {
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
}

// tenantCall connects and runs one TenantService call.
func tenantCall(cmd *cobra.Command, o *clientOptions, call func(pb.TenantServiceClient, context.Context) error) error {
	return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
		return call(pb.NewTenantServiceClient(conn), ctx)
	})
}
