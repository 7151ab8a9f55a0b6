package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// decisionJSON is one decision in -o json output.
type decisionJSON struct {
	Tenant     string   `json:"tenant"`
	DecidedAt  string   `json:"decided_at"`
	Principal  string   `json:"principal,omitempty"`
	Operation  string   `json:"operation"`
	Resource   string   `json:"resource"`
	Permission string   `json:"permission"`
	Subject    string   `json:"subject"`
	Result     string   `json:"result"`
	Results    uint32   `json:"results,omitempty"`
	Token      string   `json:"token"`
	Path       []string `json:"path,omitempty"`
}

func decisionToJSON(d *pb.Decision) decisionJSON {
	return decisionJSON{
		Tenant: d.GetTenant(), DecidedAt: formatTime(d.GetDecidedAt()), Principal: d.GetPrincipal(), Operation: d.GetOperation(),
		Resource: formatObject(d.GetResource()), Permission: d.GetPermission(), Subject: formatSubject(d.GetSubject()),
		Result: d.GetResult(), Results: d.GetResults(), Token: d.GetToken(), Path: d.GetPath(),
	}
}

// writeDecisionText prints a decision on one line, with the granting path indented
// below it.
func writeDecisionText(w io.Writer, d *pb.Decision) {
	meta := []string{d.GetOperation()}
	if d.GetResults() > 0 {
		meta = append(meta, fmt.Sprintf("results=%d", d.GetResults()))
	}
	if p := d.GetPrincipal(); p != "" {
		meta = append(meta, "principal="+p)
	}
	fmt.Fprintf(w, "%s  tenant %s  %-11s  %s %s %s  %s  token %s\n", formatTimeText(d.GetDecidedAt()), d.GetTenant(), d.GetResult(),
		formatObject(d.GetResource()), d.GetPermission(), formatSubject(d.GetSubject()), strings.Join(meta, " "), d.GetToken())
	for _, r := range d.GetPath() {
		fmt.Fprintf(w, "  via %s\n", r)
	}
}

func newAuditDecisionsCommand() *cobra.Command {
	var o *clientOptions
	var subject, resource, permission, result, since, until, pageToken string
	var limit uint32
	var all, allTenants bool
	var tenants []string
	cmd := &cobra.Command{
		Use:   "decisions",
		Short: "Query the decision log: who was allowed or denied what, newest first",
		Long: `Print the permission decisions the server recorded (it must run with
--decision-log): Check, each CheckBulk item and lookups, with time, tenant, result,
resource, permission, subject, API key and the revision token; an allowed check that
computed an explanation also lists the relationships that granted it.

--subject and --resource take TYPE:ID, or TYPE alone. --since and --until take an
RFC 3339 time, a date, or an age (24h, 7d). --all-tenants and --tenants work as in
pemba audit.`,
		Example: `  pemba audit decisions --subject user:bob --since 168h
  pemba audit decisions --result denied --since 24h --all -o json
  pemba audit decisions --all-tenants --resource document:q3`,
		Args: exactArgs(0, "filters are flags such as --subject and --since"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(tenants) > 0 && !allTenants {
				return usageErrorf("--tenants narrows an --all-tenants query: add --all-tenants, or use --tenant for one tenant")
			}
			req := &pb.ReadDecisionsRequest{Tenant: o.tenant, AllTenants: allTenants, Tenants: tenants, Permission: permission, Result: result}
			if allTenants {
				req.Tenant = ""
			}
			var err error
			if subject != "" {
				if req.Subject, err = parseObjectPattern("--subject", subject); err != nil {
					return err
				}
			}
			if resource != "" {
				if req.Resource, err = parseObjectPattern("--resource", resource); err != nil {
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
				return usageErrorf("--limit 0: give a positive number, or --all for every decision")
			}
			return o.withConn(cmd, all, func(ctx context.Context, conn *grpc.ClientConn) error {
				client := pb.NewAuditServiceClient(conn)
				out := cmd.OutOrStdout()
				printed, next, err := fetchPages(limit, pageToken, func(size uint32, pageToken string) (page, error) {
					req.PageSize, req.PageToken = size, pageToken
					res, err := client.ReadDecisions(ctx, req)
					if err != nil {
						return page{}, err
					}
					var got uint32
					for _, d := range res.GetDecisions() {
						if o.json() {
							if err := writeJSONLine(out, decisionToJSON(d)); err != nil {
								return page{got: got}, err
							}
						} else {
							writeDecisionText(out, d)
						}
						got++
					}
					return tokenPage(got, res.GetNextPageToken()), nil
				})
				if err != nil {
					return err
				}
				if next != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "older decisions follow: --page-token %s (or --all)\n", next)
				}
				if printed == 0 && !o.json() {
					fmt.Fprintln(cmd.ErrOrStderr(), "no decisions match")
				}
				return nil
			})
		},
	}
	o = addClientFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&subject, "subject", "", "decisions about this subject (TYPE:ID or TYPE)")
	f.StringVar(&resource, "resource", "", "decisions on this resource (TYPE:ID or TYPE)")
	f.StringVar(&permission, "permission", "", "decisions on this permission")
	f.StringVar(&result, "result", "", "allowed, denied or conditional")
	f.StringVar(&since, "since", "", "decided at or after: RFC 3339, a date, or an age such as 24h or 7d")
	f.StringVar(&until, "until", "", "decided before: RFC 3339, a date, or an age")
	f.Uint32Var(&limit, "limit", defaultAuditLimit, "print at most this many decisions")
	f.BoolVar(&all, "all", false, "print every matching decision, following pages")
	f.BoolVar(&allTenants, "all-tenants", false, "read every tenant the key may use, merged newest first")
	f.StringSliceVar(&tenants, "tenants", nil, "with --all-tenants, only these tenants (comma-separated)")
	f.StringVar(&pageToken, "page-token", "", "continue with the decisions older than this page token")
	return cmd
}
