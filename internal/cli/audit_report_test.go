package cli

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// reportFixture is the B2B walkthrough plus a period of governance: carol, acme-eu's
// admin, grants dan membership and a time-bound admin role on her own authority, is
// refused a role she does not hold, alice is offboarded from acme-eu, and dan's access
// is checked with the decision log on. It returns the admin runner and dan's expiry.
func reportFixture(t *testing.T) (*cliRunner, string) {
	t.Helper()
	p, admin := setupB2B(t, "--decision-log", "--decision-log-sample", "1")
	portal := newCLI(t, p, cliDelegateSecret)
	expiry := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	portal.ok("rel", "write", "organization:acme-eu#member@user:dan", "--as", "user:carol", "--reason", "dan joins")
	portal.ok("rel", "write", "organization:acme-eu#admin@user:dan[expiration:"+expiry+"]", "--as", "user:carol", "--reason", "cover for carol")
	portal.expect(exitError, "rel", "write", "organization:acme-eu#app_manager@user:dan", "--as", "user:carol", "--reason", "apps too")
	portal.ok("offboard", "user:alice", "--org", "organization:acme-eu", "--as", "user:carol", "--reason", "alice leaves")
	admin.ok("check", "document:q3", "view", "user:dan")
	admin.expect(exitNo, "check", "document:q3", "view", "user:alice")
	waitForDecisions(t, admin, 2)
	return admin, expiry
}

// waitForDecisions waits until the decision log holds n decisions: its writer
// flushes within a second.
func waitForDecisions(t *testing.T, admin *cliRunner, n int) {
	t.Helper()
	for attempt := 0; attempt < 100; attempt++ {
		if len(decodeJSONLines[decisionJSON](t, admin.ok("audit", "decisions", "--since", "1h", "-o", "json"))) == n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the decision log never held %d decisions", n)
}

// findGrant returns the grant with the relationship text, or fails.
func findGrant(t *testing.T, gs []reportGrantJSON, text string) reportGrantJSON {
	t.Helper()
	for _, g := range gs {
		if g.Relationship.Text == text {
			return g
		}
	}
	t.Fatalf("no grant %s among %d", text, len(gs))
	return reportGrantJSON{}
}

// TestAuditReportJSON checks every field of the JSON report against the fixture.
func TestAuditReportJSON(t *testing.T) {
	admin, expiry := reportFixture(t)
	file := filepath.Join(t.TempDir(), "acme-eu.json")
	r := admin.ok("audit", "report", "--org", "organization:acme-eu", "--from", "1h", "--permission", "view,manage", "-o", "json", "--file", file)
	mustContain(t, r, r.stderr, "wrote "+file)
	var rep reportJSON
	if err := json.Unmarshal(mustRead(t, file), &rep); err != nil {
		t.Fatal(err)
	}

	// The header.
	if rep.Tenant != "default" || rep.Organization != "organization:acme-eu" || !strings.HasPrefix(rep.Token, "pt1_") ||
		rep.GeneratedAt == "" || rep.Since == "" || rep.Until == "" || !rep.DecisionLogEnabled || len(rep.Truncated) != 0 {
		t.Fatalf("header: %+v", rep)
	}
	if !slices.Equal(rep.Objects, []string{"organization:acme-eu", "project:apollo", "document:q3"}) {
		t.Fatalf("objects: %v", rep.Objects)
	}

	// Grants: the delegated ones name carol, the rule, the organisation and the
	// reason; the expiring one its expiry; alice's membership is gone.
	member := findGrant(t, rep.Grants, "organization:acme-eu#member@user:dan[granted:user:carol@organization:acme-eu]")
	p := member.Provenance
	if member.Operation != "write" || member.Relationship.GrantedBy != "user:carol" || member.Relationship.GrantedVia != "organization:acme-eu" ||
		p == nil || p.Actor != "user:carol" || p.Principal != "portal" || p.Rule != "grant member, suspended by manage" ||
		p.Via != "organization:acme-eu" || p.Reason != "dan joins" || p.CommittedAt == "" || !strings.HasPrefix(p.Token, "pt1_") {
		t.Fatalf("delegated member grant: %+v %+v", member, p)
	}
	adminGrant := findGrant(t, rep.Grants, "organization:acme-eu#admin@user:dan[granted:user:carol@organization:acme-eu][expiration:"+expiry+"]")
	if adminGrant.Relationship.ExpiresAt != expiry || adminGrant.Provenance.Rule != "grant admin by manage expiring within 90d" || adminGrant.Provenance.Reason != "cover for carol" {
		t.Fatalf("expiring grant: %+v %+v", adminGrant.Relationship, adminGrant.Provenance)
	}
	owner := findGrant(t, rep.Grants, "project:apollo#owner@organization:acme-eu")
	if owner.Operation != "write" || owner.Provenance.Principal != "admin" || owner.Provenance.Actor != "" || owner.Provenance.Reason != "walkthrough data" {
		t.Fatalf("admin-written grant: %+v %+v", owner, owner.Provenance)
	}
	for _, g := range rep.Grants {
		if strings.Contains(g.Relationship.Text, "user:alice") {
			t.Fatalf("the offboarded alice still holds %s", g.Relationship.Text)
		}
	}

	// Access: who holds view and manage, with the path and who granted each step.
	holders := map[string][]string{}
	var danView *reportAccessJSON
	for i, a := range rep.Access {
		holders[a.Subject] = append(holders[a.Subject], a.Permission+" "+a.Resource)
		if a.Subject == "user:dan" && a.Permission == "view" && a.Resource == "document:q3" {
			danView = &rep.Access[i]
		}
		if (a.Result != "allowed" && a.Result != "conditional") || len(a.Path) == 0 {
			t.Fatalf("access entry without result or path: %+v", a)
		}
	}
	if _, ok := holders["user:alice"]; ok {
		t.Fatalf("alice still holds access after offboarding: %v", holders["user:alice"])
	}
	if !slices.Contains(holders["user:carol"], "manage organization:acme-eu") || !slices.Contains(holders["user:bob"], "manage organization:acme-eu") {
		t.Fatalf("holders: %v", holders)
	}
	if danView == nil {
		t.Fatalf("dan's view of document:q3 is missing: %v", holders["user:dan"])
	}
	var steps []string
	for _, g := range danView.Path {
		steps = append(steps, g.Relationship.Text)
	}
	if steps[0] != "document:q3#project@project:apollo" || !strings.HasPrefix(steps[len(steps)-1], "organization:acme-eu#") || !strings.HasSuffix(steps[len(steps)-1], "@user:dan") &&
		!strings.Contains(steps[len(steps)-1], "@user:dan[") {
		t.Fatalf("dan's path: %v", steps)
	}
	if last := danView.Path[len(danView.Path)-1].Provenance; last == nil || last.Actor != "user:carol" || last.Rule == "" {
		t.Fatalf("dan's path ends without the delegated grant's provenance: %+v", last)
	}

	// Changes of the period: the offboarding, the refusal and carol's two grants,
	// newest first; the walkthrough data, older than --from, also falls in the hour.
	ops := map[string]*transactionJSON{}
	for _, tx := range rep.Changes {
		ops[tx.Operation+" "+tx.Reason] = tx
	}
	off := ops["offboard alice leaves"]
	if off == nil || off.Actor != "user:carol" || off.Principal != "portal" || len(off.Changes) != 1 ||
		off.Changes[0].Kind != "deleted" || off.Changes[0].Relationship.Text != "organization:acme-eu#member@user:alice" {
		t.Fatalf("offboarding: %+v (changes %v)", off, keysOf(ops))
	}
	if rep.Changes[0] != off {
		t.Fatalf("changes are not newest first: %s", rep.Changes[0].Reason)
	}
	refused := ops["write apps too"]
	if refused == nil || refused.Denied == nil || !strings.Contains(refused.Denied.Message, "organization:acme-eu#app_manager@user:dan") || len(refused.Changes) != 0 {
		t.Fatalf("the refused attempt: %v", keysOf(ops))
	}
	if g := ops["write dan joins"]; g == nil || len(g.Grants) != 1 || g.Grants[0].Via != "organization:acme-eu" {
		t.Fatalf("carol's grant: %+v", g)
	}

	// Decisions of the period on the subtree: both checks of document:q3.
	if len(rep.Decisions) != 2 {
		t.Fatalf("decisions: %+v", rep.Decisions)
	}
	results := map[string]decisionJSON{}
	for _, d := range rep.Decisions {
		results[d.Subject] = d
	}
	if d := results["user:dan"]; d.Result != "allowed" || d.Resource != "document:q3" || d.Permission != "view" || d.Operation != "check" || d.Principal != "admin" || d.Token == "" || d.DecidedAt == "" {
		t.Fatalf("dan's decision: %+v", d)
	}
	if d := results["user:alice"]; d.Result != "denied" {
		t.Fatalf("alice's decision: %+v", d)
	}
	if rep.Summary != (reportSummaryJSON{Objects: 3, Grants: len(rep.Grants), Holders: len(holders), Access: len(rep.Access), Changes: len(rep.Changes), Decisions: 2}) {
		t.Fatalf("summary: %+v", rep.Summary)
	}

	// The same report on stdout, and in text.
	r = admin.ok("audit", "report", "--org", "organization:acme-eu", "--permission", "view")
	mustContain(t, r, r.stdout, "evidence report: organization:acme-eu (tenant default)", "user:dan view document:q3  allowed",
		`rule grant member, suspended by manage, via organization:acme-eu, reason "dan joins"`)

	// Mistakes are named.
	for args, want := range map[string]string{
		"--permission view":                              "--org is required",
		"--org organization:acme-eu -o xml":              `--output "xml" is not a report format`,
		"--org nosuch:acme":                              `organization type "nosuch" is not defined`,
		"--org organization:acme-eu --permission nosuch": `permission "nosuch" is defined on no definition`,
		"--org organization:acme-eu --from 1h --to 2h":   "must be before",
	} {
		r := admin.expect(exitError, append([]string{"audit", "report"}, strings.Fields(args)...)...)
		mustContain(t, r, r.stderr, want)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestAuditReportCSV checks every column of the CSV report's rows of each section.
func TestAuditReportCSV(t *testing.T) {
	admin, expiry := reportFixture(t)
	file := filepath.Join(t.TempDir(), "acme-eu.csv")
	admin.ok("audit", "report", "--org", "organization:acme-eu", "--from", "1h", "--permission", "view", "-o", "csv", "--file", file)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], reportCSVHeader) {
		t.Fatalf("header: %v", recs[0])
	}
	rows := make([]map[string]string, 0, len(recs)-1)
	sections := map[string]int{}
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, col := range reportCSVHeader {
			row[col] = rec[i]
		}
		rows = append(rows, row)
		sections[row["section"]]++
	}
	find := func(want map[string]string) map[string]string {
		t.Helper()
	rows:
		for _, row := range rows {
			for k, v := range want {
				if row[k] != v {
					continue rows
				}
			}
			return row
		}
		t.Fatalf("no row with %v", want)
		return nil
	}
	same := func(row, want map[string]string) {
		t.Helper()
		for _, col := range reportCSVHeader {
			if w, ok := want[col]; ok && row[col] != w {
				t.Fatalf("column %s = %q, want %q in %v", col, row[col], w, row)
			}
		}
	}

	head := rows[0]
	same(head, map[string]string{"section": "report", "subject": "", "resource": "organization:acme-eu", "result": "complete"})
	if !strings.HasPrefix(head["token"], "pt1_") || head["recorded_at"] == "" || !strings.Contains(head["reason"], "tenant default; period ") || !strings.HasSuffix(head["reason"], "decision log on") {
		t.Fatalf("report row: %v", head)
	}
	grant := find(map[string]string{"section": "grant", "relationship": "organization:acme-eu#admin@user:dan[granted:user:carol@organization:acme-eu][expiration:" + expiry + "]"})
	same(grant, map[string]string{
		"subject": "user:dan", "relation_or_permission": "admin", "resource": "organization:acme-eu", "result": "", "expires_at": expiry, "step": "",
		"operation": "write", "principal": "portal", "actor": "user:carol", "rule": "grant admin by manage expiring within 90d", "via": "organization:acme-eu",
		"granted_by": "user:carol", "granted_via": "organization:acme-eu", "access_request": "", "reason": "cover for carol",
	})
	if !strings.HasPrefix(grant["token"], "pt1_") || grant["recorded_at"] == "" {
		t.Fatalf("grant row: %v", grant)
	}
	step := find(map[string]string{"section": "access", "subject": "user:dan", "resource": "document:q3", "step": "1/3"})
	same(step, map[string]string{"relation_or_permission": "view", "result": "allowed", "relationship": "document:q3#project@project:apollo", "principal": "admin", "reason": "walkthrough data", "actor": ""})
	last := find(map[string]string{"section": "access", "subject": "user:dan", "resource": "document:q3", "step": "3/3"})
	if last["actor"] != "user:carol" || !strings.Contains(last["relationship"], "@user:dan") || last["rule"] == "" {
		t.Fatalf("the last step of dan's path: %v", last)
	}
	off := find(map[string]string{"section": "change", "operation": "offboard"})
	same(off, map[string]string{
		"subject": "user:alice", "relation_or_permission": "member", "resource": "organization:acme-eu", "result": "deleted",
		"relationship": "organization:acme-eu#member@user:alice", "principal": "portal", "actor": "user:carol", "reason": "alice leaves",
	})
	refused := find(map[string]string{"section": "change", "result": "refused touch"})
	same(refused, map[string]string{"subject": "user:dan", "relation_or_permission": "app_manager", "resource": "organization:acme-eu", "relationship": "organization:acme-eu#app_manager@user:dan", "actor": "user:carol"})
	if !strings.HasPrefix(refused["reason"], "apps too — refused: ") {
		t.Fatalf("refused row: %v", refused)
	}
	dec := find(map[string]string{"section": "decision", "subject": "user:dan"})
	same(dec, map[string]string{"relation_or_permission": "view", "resource": "document:q3", "result": "allowed", "operation": "check", "principal": "admin"})
	if dec["token"] == "" || dec["recorded_at"] == "" {
		t.Fatalf("decision row: %v", dec)
	}
	if sections["report"] != 1 || sections["grant"] == 0 || sections["access"] == 0 || sections["change"] < 4 || sections["decision"] != 2 {
		t.Fatalf("sections: %v", sections)
	}
}

// TestAuditReportTenantIsolation checks that a key limited to one tenant can neither
// read another tenant's report nor erase there, and that a report holds only its
// own tenant's evidence.
func TestAuditReportTenantIsolation(t *testing.T) {
	const euSecret = "cli-eu-admin-secret-5"
	p, admin := setupB2B(t, "--preshared-key", "brand:admin@eu:"+euSecret)
	admin.ok("tenant", "create", "eu")
	admin.ok("schema", "write", referenceSchema, "--tenant", "eu", "--reason", "eu model")
	admin.ok("rel", "write", "organization:acme-eu#member@user:zoe", "--tenant", "eu", "--reason", "eu data")
	brand := newCLI(t, p, euSecret)
	for _, args := range [][]string{
		{"audit", "report", "--org", "organization:acme-eu"},
		{"audit", "erase", "user:alice"},
	} {
		r := brand.expect(exitError, args...)
		mustContain(t, r, r.stderr, "PERMISSION_DENIED", `may not use tenant "default"`)
	}
	r := brand.ok("audit", "report", "--org", "organization:acme-eu", "--tenant", "eu", "-o", "json")
	rep := decodeJSON[reportJSON](t, r)
	if rep.Tenant != "eu" || len(rep.Grants) != 1 || rep.Grants[0].Relationship.Text != "organization:acme-eu#member@user:zoe" ||
		strings.Contains(r.stdout, "user:alice") || len(rep.Changes) != 1 || rep.Changes[0].Reason != "eu data" {
		t.Fatalf("eu's report: %+v", rep)
	}
}
