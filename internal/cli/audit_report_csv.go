package cli

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
)

// reportCSVHeader is the one table of -o csv. Each row is one fact: the report's own
// header (section "report"), a relationship in force ("grant"), one step of the path
// of a permission a subject holds ("access"), one change or refused update of a
// transaction ("change"), or a logged decision ("decision").
var reportCSVHeader = []string{
	"section", "subject", "relation_or_permission", "resource", "result", "expires_at", "step", "relationship",
	"recorded_at", "token", "operation", "principal", "actor", "rule", "via", "granted_by", "granted_via", "access_request", "reason",
}

// reportCSVRow is one row of the table, by column name.
type reportCSVRow map[string]string

func writeReportCSV(w io.Writer, r *reportJSON) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(reportCSVHeader); err != nil {
		return err
	}
	for _, row := range reportCSVRows(r) {
		rec := make([]string, len(reportCSVHeader))
		for i, col := range reportCSVHeader {
			rec[i] = csvSafe(row[col])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula: values come from
// relationships and reasons anyone with write access chose.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func reportCSVRows(r *reportJSON) []reportCSVRow {
	complete := "complete"
	if len(r.Truncated) > 0 {
		complete = "truncated: " + strings.Join(r.Truncated, ",")
	}
	rows := []reportCSVRow{{
		"section": "report", "resource": r.Organization, "result": complete, "recorded_at": r.GeneratedAt, "token": r.Token,
		"reason": fmt.Sprintf("tenant %s; period %s to %s; decision log %s", r.Tenant, cellOr(r.Since, "the start"), r.Until, onOff(r.DecisionLogEnabled)),
	}}
	for _, g := range r.Grants {
		row := grantCSVRow("grant", g)
		row["subject"], row["relation_or_permission"], row["resource"] = subjectText(g), g.Relationship.Relation, g.Relationship.ResourceType+":"+g.Relationship.ResourceID
		rows = append(rows, row)
	}
	for _, a := range r.Access {
		for i, g := range a.Path {
			row := grantCSVRow("access", g)
			row["subject"], row["relation_or_permission"], row["resource"], row["result"] = a.Subject, a.Permission, a.Resource, a.Result
			row["step"] = fmt.Sprintf("%d/%d", i+1, len(a.Path))
			rows = append(rows, row)
		}
	}
	for _, tx := range r.Changes {
		rows = append(rows, changeCSVRows(tx)...)
	}
	for _, d := range r.Decisions {
		rows = append(rows, reportCSVRow{
			"section": "decision", "subject": d.Subject, "relation_or_permission": d.Permission, "resource": d.Resource, "result": d.Result,
			"relationship": strings.Join(d.Path, " ; "), "recorded_at": d.DecidedAt, "token": d.Token, "operation": d.Operation, "principal": d.Principal,
		})
	}
	return rows
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func subjectText(g reportGrantJSON) string {
	s := g.Relationship.SubjectType + ":" + g.Relationship.SubjectID
	if g.Relationship.SubjectRelation != "" {
		s += "#" + g.Relationship.SubjectRelation
	}
	return s
}

// grantCSVRow fills the relationship and provenance columns of a grant.
func grantCSVRow(section string, g reportGrantJSON) reportCSVRow {
	row := reportCSVRow{
		"section": section, "relationship": g.Relationship.Text, "expires_at": g.Relationship.ExpiresAt,
		"granted_by": g.Relationship.GrantedBy, "granted_via": g.Relationship.GrantedVia, "operation": g.Operation,
	}
	if p := g.Provenance; p != nil {
		row["recorded_at"], row["token"], row["principal"], row["actor"] = p.CommittedAt, p.Token, p.Principal, p.Actor
		row["rule"], row["via"], row["access_request"], row["reason"] = p.Rule, p.Via, p.AccessRequest, p.Reason
	}
	return row
}

// changeCSVRows is one row per change of a transaction, per update a refused one
// attempted, or one row for a transaction that changed no relationship.
func changeCSVRows(tx *transactionJSON) []reportCSVRow {
	base := func() reportCSVRow {
		return reportCSVRow{
			"section": "change", "recorded_at": tx.CommittedAt, "token": tx.Token, "operation": tx.Operation,
			"principal": tx.Principal, "actor": tx.Actor, "reason": tx.Reason,
		}
	}
	fill := func(row reportCSVRow, result string, rel *relationshipJSON) reportCSVRow {
		row["result"] = result
		if rel == nil {
			return row
		}
		row["subject"] = subjectText(reportGrantJSON{Relationship: rel})
		row["relation_or_permission"], row["resource"] = rel.Relation, rel.ResourceType+":"+rel.ResourceID
		row["relationship"], row["expires_at"], row["granted_by"], row["granted_via"] = rel.Text, rel.ExpiresAt, rel.GrantedBy, rel.GrantedVia
		for _, g := range tx.Grants {
			if g.Relationship != nil && sameKey(g.Relationship, rel) {
				row["rule"], row["via"] = g.Rule, g.Via
			}
		}
		return row
	}
	var rows []reportCSVRow
	for _, c := range tx.Changes {
		rows = append(rows, fill(base(), c.Kind, c.Relationship))
	}
	if tx.Denied != nil {
		for _, u := range tx.Denied.Updates {
			row := fill(base(), "refused "+u.Operation, u.Relationship)
			row["reason"] = tx.Reason + " — refused: " + tx.Denied.Message
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		rows = append(rows, fill(base(), "no relationship change", nil))
	}
	return rows
}

// sameKey reports whether two relationships have the same resource, relation and
// subject, whatever their caveat or expiry.
func sameKey(a, b *relationshipJSON) bool {
	return a.ResourceType == b.ResourceType && a.ResourceID == b.ResourceID && a.Relation == b.Relation &&
		a.SubjectType == b.SubjectType && a.SubjectID == b.SubjectID && a.SubjectRelation == b.SubjectRelation
}
