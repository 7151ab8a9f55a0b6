package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// defaultAuditLimit is how many transactions `pemba audit` prints without --limit or
// --all: a screenful of the newest.
const defaultAuditLimit = 20

func newAuditCommand() *cobra.Command {
	var o *clientOptions
	var actor, principal, resource, subject, org, since, until, pageToken string
	var limit uint32
	var all, allTenants bool
	var tenants []string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Query the audit trail, newest first",
		Long: `Print the write transactions matching a query, newest first: each with its token,
commit time, operation, API key (principal), acting subject, reason, organisations,
the grant rules that allowed a delegated write, and its changes.

--resource, --subject and --org take TYPE:ID, or TYPE alone for any object of the
type. --since and --until take an RFC 3339 time, a date, or an age (24h, 7d).
Without --all at most --limit transactions are printed, and the flag that continues
with older ones is printed on stderr. -o json prints one transaction per line (JSON
lines), ready for export to other tools.

--all-tenants reads every tenant the key may use in one query (an admin key valid
for every tenant sees all; a key limited to tenants sees exactly its own), merged
newest first by commit time, each transaction labelled with its tenant; --tenants
narrows it to some (--tenant and PEMBA_TENANT do not apply to it).`,
		Example: `  pemba audit
  pemba audit --actor user:bob --since 7d
  pemba audit --org organization:acme --all -o json > acme-audit.jsonl
  pemba audit --resource document:q3 --limit 5
  pemba audit --all-tenants --since 24h
  pemba audit --all-tenants --tenants acme-eu,acme-us --actor user:bob`,
		Args: exactArgs(0, "filters are flags such as --actor and --since"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &pb.ReadAuditLogRequest{Tenant: o.tenant, Principal: principal, PageToken: pageToken, AllTenants: allTenants, Tenants: tenants}
			if len(tenants) > 0 && !allTenants {
				return usageErrorf("--tenants narrows an --all-tenants query: add --all-tenants, or use --tenant for one tenant")
			}
			if allTenants {
				req.Tenant = "" // --tenant (or PEMBA_TENANT) does not narrow it; --tenants does
			}
			var err error
			if actor != "" {
				if req.Actor, err = parseSubjectArg("--actor", actor); err != nil {
					return err
				}
			}
			if resource != "" {
				if req.Resource, err = parseObjectPattern("--resource", resource); err != nil {
					return err
				}
			}
			if subject != "" {
				if req.Subject, err = parseObjectPattern("--subject", subject); err != nil {
					return err
				}
			}
			if org != "" {
				if req.Organization, err = parseObjectPattern("--org", org); err != nil {
					return err
				}
			}
			now := timeNow()
			if req.Since, err = parseTime("--since", since, now); err != nil {
				return err
			}
			if req.Until, err = parseTime("--until", until, now); err != nil {
				return err
			}
			if all {
				limit = 0
			} else if limit == 0 {
				return usageErrorf("--limit 0: give a positive number, or --all for every transaction")
			}
			return o.withConn(cmd, all, func(ctx context.Context, conn *grpc.ClientConn) error {
				client := pb.NewAuditServiceClient(conn)
				out := cmd.OutOrStdout()
				first := true
				printed, next, err := fetchPages(limit, pageToken, func(size uint32, pageToken string) (page, error) {
					req.PageSize, req.PageToken = size, pageToken
					res, err := client.ReadAuditLog(ctx, req)
					if err != nil {
						return page{}, err
					}
					var got uint32
					for _, tx := range res.GetTransactions() {
						if o.json() {
							if err := writeJSONLine(out, transactionToJSON(tx)); err != nil {
								return page{got: got}, err
							}
						} else {
							if !first {
								fmt.Fprintln(out) // a blank line between transactions
							}
							first = false
							writeTransactionTextIn(out, tx, allTenants)
						}
						got++
					}
					return tokenPage(got, res.GetNextPageToken()), nil
				})
				if err != nil {
					return err
				}
				if next != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "older transactions follow: --page-token %s (or --all)\n", next)
				}
				if printed == 0 && !o.json() {
					fmt.Fprintln(cmd.ErrOrStderr(), "no transactions match")
				}
				return nil
			})
		},
	}
	cmd.AddCommand(newAuditDecisionsCommand(), newAuditExportCommand(), newAuditVerifyCommand(), newAuditReportCommand(), newAuditEraseCommand())
	o = addClientFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&actor, "actor", "", "acting subject of delegated writes, e.g. user:bob")
	f.StringVar(&principal, "principal", "", "name of the API key that made the transactions")
	f.StringVar(&resource, "resource", "", "transactions that changed relationships on this object (TYPE:ID or TYPE)")
	f.StringVar(&subject, "subject", "", "transactions that changed relationships of this subject (TYPE:ID or TYPE)")
	f.StringVar(&org, "org", "", "transactions that acted through or on this organisation (TYPE:ID)")
	f.StringVar(&since, "since", "", "committed at or after: RFC 3339, a date, or an age such as 24h or 7d")
	f.StringVar(&until, "until", "", "committed before: RFC 3339, a date, or an age")
	f.Uint32Var(&limit, "limit", defaultAuditLimit, "print at most this many transactions")
	f.BoolVar(&all, "all", false, "print every matching transaction, following pages")
	f.BoolVar(&allTenants, "all-tenants", false, "read every tenant the key may use, merged newest first")
	f.StringSliceVar(&tenants, "tenants", nil, "with --all-tenants, only these tenants (comma-separated)")
	f.StringVar(&pageToken, "page-token", "", "continue with the transactions older than this page token")
	return cmd
}
