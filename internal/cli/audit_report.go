package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// reportJSON is the evidence report as -o json prints it, and the one form the CSV
// and HTML renderings are drawn from.
type reportJSON struct {
	Tenant             string             `json:"tenant"`
	Organization       string             `json:"organization"`
	GeneratedAt        string             `json:"generated_at"`
	Token              string             `json:"token"`
	Since              string             `json:"since,omitempty"`
	Until              string             `json:"until"`
	DecisionLogEnabled bool               `json:"decision_log_enabled"`
	Truncated          []string           `json:"truncated,omitempty"`
	Objects            []string           `json:"objects"`
	Grants             []reportGrantJSON  `json:"grants"`
	Access             []reportAccessJSON `json:"access"`
	Changes            []*transactionJSON `json:"changes"`
	Decisions          []decisionJSON     `json:"decisions"`
	Summary            reportSummaryJSON  `json:"summary"`
}

// reportSummaryJSON counts each section.
type reportSummaryJSON struct {
	Objects   int `json:"objects"`
	Grants    int `json:"grants"`
	Holders   int `json:"holders"`
	Access    int `json:"access"`
	Changes   int `json:"changes"`
	Decisions int `json:"decisions"`
}

// reportGrantJSON is one relationship with the record of the write that made it.
type reportGrantJSON struct {
	Relationship *relationshipJSON `json:"relationship"`
	Operation    string            `json:"operation,omitempty"`
	Provenance   *provenanceJSON   `json:"provenance,omitempty"`
}

// reportAccessJSON is one permission a subject holds, with its path.
type reportAccessJSON struct {
	Subject    string            `json:"subject"`
	Permission string            `json:"permission"`
	Resource   string            `json:"resource"`
	Result     string            `json:"result"`
	Path       []reportGrantJSON `json:"path"`
}

func reportToJSON(r *pb.EvidenceReport) *reportJSON {
	out := &reportJSON{
		Tenant: r.GetTenant(), Organization: formatObject(r.GetOrganization()), GeneratedAt: formatTime(r.GetGeneratedAt()),
		Token: r.GetToken(), Since: formatTime(r.GetSince()), Until: formatTime(r.GetUntil()),
		DecisionLogEnabled: r.GetDecisionLogEnabled(), Truncated: r.GetTruncated(),
		Objects: []string{}, Grants: []reportGrantJSON{}, Access: []reportAccessJSON{}, Changes: []*transactionJSON{}, Decisions: []decisionJSON{},
	}
	for _, o := range r.GetObjects() {
		out.Objects = append(out.Objects, formatObject(o))
	}
	for _, g := range r.GetGrants() {
		out.Grants = append(out.Grants, reportGrantToJSON(g))
	}
	holders := map[string]bool{}
	for _, a := range r.GetAccess() {
		e := reportAccessJSON{
			Subject: formatSubject(a.GetSubject()), Permission: a.GetPermission(), Resource: formatObject(a.GetResource()),
			Result: permissionshipName(a.GetPermissionship()), Path: []reportGrantJSON{},
		}
		for _, g := range a.GetPath() {
			e.Path = append(e.Path, reportGrantToJSON(g))
		}
		holders[e.Subject] = true
		out.Access = append(out.Access, e)
	}
	for _, tx := range r.GetChanges() {
		out.Changes = append(out.Changes, transactionToJSON(tx))
	}
	for _, d := range r.GetDecisions() {
		out.Decisions = append(out.Decisions, decisionToJSON(d))
	}
	out.Summary = reportSummaryJSON{
		Objects: len(out.Objects), Grants: len(out.Grants), Holders: len(holders),
		Access: len(out.Access), Changes: len(out.Changes), Decisions: len(out.Decisions),
	}
	return out
}

func reportGrantToJSON(g *pb.EvidenceGrant) reportGrantJSON {
	return reportGrantJSON{Relationship: relationshipToJSON(g.GetRelationship()), Operation: g.GetOperation(), Provenance: provenanceToJSON(g.GetProvenance())}
}

// reportFormats are the -o values of pemba audit report.
var reportFormats = []string{"text", "json", "csv", "html"}

func newAuditReportCommand() *cobra.Command {
	var o *clientOptions
	var org, from, to, file string
	var permissions []string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Print an auditor's evidence report for one organisation",
		Long: `Compute, on the server and at one revision, the evidence about an organisation's
subtree: who holds which permission there and through which path of relationships;
every relationship in force there with who wrote it, when, on whose behalf, by which
grant rule and organisation, and with which reason; what changed in the period
(--from, --to; the audit trail, refused attempts included); and which decisions the
decision log recorded in the period.

-o json prints the report as one JSON document; -o csv one table with a section
column (report, grant, access, change, decision), one row per relationship, path
step, change or decision; -o html one self-contained page (no scripts, no external
assets) that reads offline and prints. --file writes it to a file instead of stdout.

--from and --to take an RFC 3339 time, a date, or an age (24h, 30d); the period
defaults to the last 30 days. --permission narrows the access section. A section
cut at the server's bound is named under "truncated".`,
		Example: `  pemba audit report --org organization:acme-eu -o html --file acme-eu.html
  pemba audit report --org organization:acme --from 2026-11-01 --to 2026-12-01 -o csv --file acme.csv
  pemba audit report --org organization:acme-eu --tenant portal --permission view,manage -o json`,
		Args: exactArgs(0, "the organisation is --org"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" {
				return usageErrorf("--org is required: the organisation the report covers, such as organization:acme")
			}
			req := &pb.ReadEvidenceReportRequest{Tenant: o.tenant, Permissions: permissions}
			var err error
			if req.Organization, err = parseObjectArg("--org", org); err != nil {
				return err
			}
			now := timeNow()
			if req.Since, err = parseTime("--from", from, now); err != nil {
				return err
			}
			if req.Until, err = parseTime("--to", to, now); err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewAuditServiceClient(conn).ReadEvidenceReport(ctx, req)
				if err != nil {
					return err
				}
				var buf bytes.Buffer
				rep := reportToJSON(res.GetReport())
				if err := writeReport(&buf, o.output, rep); err != nil {
					return err
				}
				if file == "" {
					_, err := cmd.OutOrStdout().Write(buf.Bytes())
					return err
				}
				if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
					return fmt.Errorf("writing the report: %w", err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: %d grants, %d access entries of %d holders, %d changes, %d decisions\n",
					file, rep.Summary.Grants, rep.Summary.Access, rep.Summary.Holders, rep.Summary.Changes, rep.Summary.Decisions)
				return nil
			})
		},
	}
	o = addClientFlags(cmd)
	// -o takes csv and html here as well as the shared text and json.
	shared := cmd.PersistentPreRunE
	cmd.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		format := o.output
		switch format {
		case "csv", "html":
			o.output = "json"
		case "text", "json":
		default:
			return usageErrorf("--output %q is not a report format: use %s", format, strings.Join(reportFormats, ", "))
		}
		err := shared(c, args)
		o.output = format
		return err
	}
	f := cmd.Flags()
	f.StringVar(&org, "org", "", "the organisation whose subtree the report covers (TYPE:ID)")
	f.StringVar(&from, "from", "30d", "start of the period: RFC 3339, a date, or an age such as 30d")
	f.StringVar(&to, "to", "", "end of the period (default now): RFC 3339, a date, or an age")
	f.StringSliceVar(&permissions, "permission", nil, "only these permissions in the access section (comma-separated)")
	f.StringVar(&file, "file", "", "write the report to this file instead of stdout")
	return cmd
}

// writeReport renders the report in one of reportFormats.
func writeReport(w io.Writer, format string, r *reportJSON) error {
	switch format {
	case "json":
		return writeJSON(w, r)
	case "csv":
		return writeReportCSV(w, r)
	case "html":
		return writeReportHTML(w, r)
	}
	writeReportText(w, r)
	return nil
}

// writeReportText prints a summary for people: the header, then access and grants.
func writeReportText(w io.Writer, r *reportJSON) {
	fmt.Fprintf(w, "evidence report: %s (tenant %s)\n", r.Organization, r.Tenant)
	fmt.Fprintf(w, "generated %s at token %s; period %s to %s\n", r.GeneratedAt, r.Token, cellOr(r.Since, "the start"), r.Until)
	if len(r.Truncated) > 0 {
		fmt.Fprintf(w, "INCOMPLETE: sections cut at the server's bound: %s\n", strings.Join(r.Truncated, ", "))
	}
	s := r.Summary
	fmt.Fprintf(w, "%d objects, %d grants, %d holders with %d access entries, %d changes, %d decisions\n", s.Objects, s.Grants, s.Holders, s.Access, s.Changes, s.Decisions)
	fmt.Fprintln(w, "\naccess:")
	for _, a := range r.Access {
		fmt.Fprintf(w, "  %s %s %s  %s\n", a.Subject, a.Permission, a.Resource, a.Result)
		for _, g := range a.Path {
			fmt.Fprintf(w, "    via %s%s\n", g.Relationship.Text, reportProvenanceText(g.Provenance))
		}
	}
	fmt.Fprintln(w, "\ngrants:")
	for _, g := range r.Grants {
		fmt.Fprintf(w, "  %s%s\n", g.Relationship.Text, reportProvenanceText(g.Provenance))
	}
}

func reportProvenanceText(p *provenanceJSON) string {
	if p == nil {
		return "  (written before the audit trail's retention)"
	}
	parts := []string{"written " + p.CommittedAt}
	for _, kv := range [][2]string{{"by key", p.Principal}, {"on behalf of", p.Actor}, {"rule", p.Rule}, {"via", p.Via}, {"request", p.AccessRequest}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+kv[1])
		}
	}
	if p.Reason != "" {
		parts = append(parts, fmt.Sprintf("reason %q", p.Reason))
	}
	return "  (" + strings.Join(parts, ", ") + ")"
}

func cellOr(s, empty string) string {
	if s == "" {
		return empty
	}
	return s
}
