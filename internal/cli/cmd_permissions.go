package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// permissionEntryJSON is one permission of `permissions -o json`.
type permissionEntryJSON struct {
	Permission     string   `json:"permission"`
	Result         string   `json:"result"`
	MissingContext []string `json:"missing_context,omitempty"`
}

func newPermissionsCommand() *cobra.Command {
	var o *clientOptions
	var q queryFlags
	cmd := &cobra.Command{
		Use:   "permissions RESOURCE SUBJECT",
		Short: "List every permission and relation a subject holds on a resource",
		Long: `List each permission and relation of RESOURCE's type with SUBJECT's answer: the
capabilities an admin screen shows.`,
		Example: `  pemba permissions organization:acme user:alice
  pemba permissions project:apollo user:erin --context '{"client_ip": "10.1.2.3"}' -o json`,
		Args: exactArgs(2, "RESOURCE SUBJECT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource, err := parseObjectArg("RESOURCE", args[0])
			if err != nil {
				return err
			}
			subject, err := parseSubjectArg("SUBJECT", args[1])
			if err != nil {
				return err
			}
			caveatCtx, contextual, cons, err := q.parse()
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewPermissionServiceClient(conn).ListPermissions(ctx, &pb.ListPermissionsRequest{
					Tenant: o.tenant, Consistency: cons, Resource: resource, Subject: subject, Context: caveatCtx, ContextualRelationships: contextual,
				})
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.json() {
					entries := []permissionEntryJSON{}
					for _, p := range res.GetPermissions() {
						entries = append(entries, permissionEntryJSON{p.GetPermission(), permissionshipName(p.GetPermissionship()), p.GetMissingContext()})
					}
					return writeJSON(out, map[string]any{"resource": args[0], "subject": args[1], "token": res.GetToken(), "permissions": entries})
				}
				tw := newTable(out)
				fmt.Fprintln(tw, "PERMISSION\tRESULT")
				for _, p := range res.GetPermissions() {
					fmt.Fprintf(tw, "%s\t%s\n", p.GetPermission(), answerText(p.GetPermissionship(), p.GetMissingContext()))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(out, "token: %s\n", res.GetToken())
				return nil
			})
		},
	}
	o = addClientFlags(cmd)
	q.register(cmd.Flags())
	return cmd
}
