package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func newExpandCommand() *cobra.Command {
	var o *clientOptions
	var consistency string
	cmd := &cobra.Command{
		Use:   "expand RESOURCE PERMISSION",
		Short: "Print the tree of subjects that have a permission on a resource",
		Long: `Print the userset tree of PERMISSION on RESOURCE: how the permission's rule
combines relations (union, intersection, exclusion) down to the direct subjects of
each relation, with their caveats and expiries. Subject sets (group:eng#member) are
leaves; expand them in turn to go deeper.`,
		Example: `  pemba expand document:q3 view
  pemba expand organization:acme manage -o json`,
		Args: exactArgs(2, "RESOURCE PERMISSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource, err := parseObjectArg("RESOURCE", args[0])
			if err != nil {
				return err
			}
			cons, err := parseConsistency(consistency)
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewPermissionServiceClient(conn).Expand(ctx, &pb.ExpandRequest{Tenant: o.tenant, Consistency: cons, Resource: resource, Permission: args[1]})
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.json() {
					return writeJSON(out, map[string]any{"token": res.GetToken(), "tree": expandToJSON(res.GetTree())})
				}
				writeExpandTree(out, res.GetTree())
				fmt.Fprintf(out, "token: %s\n", res.GetToken())
				return nil
			})
		},
	}
	o = addClientFlags(cmd)
	addConsistencyFlag(cmd, &consistency)
	return cmd
}
