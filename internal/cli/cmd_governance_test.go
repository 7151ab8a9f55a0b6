package cli

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGovernanceWalkthrough is the delegated-administration story through the CLI: a
// child organisation's admin (carol) adds a member on its own behalf through the
// portal's delegate key, cannot reach the parent, a sibling or roles it does not
// hold, and must bound admin delegations; the explanation and the access reviews name
// the grant; offboarding removes the member's access inside the subtree only; the
// audit trail shows all of it.
func TestGovernanceWalkthrough(t *testing.T) {
	p, admin := setupB2B(t)
	portal := newCLI(t, p, cliDelegateSecret)

	// carol, admin of acme-eu, adds dan to acme-eu.
	r := portal.ok("rel", "write", "organization:acme-eu#member@user:dan", "--as", "user:carol", "--reason", "new hire")
	mustContain(t, r, r.stdout, "touched: 1 relationship(s)\ntoken: ")

	denied := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"the parent", []string{"rel", "write", "organization:acme#member@user:dan", "--as", "user:carol"},
			[]string{"PERMISSION_DENIED: user:carol may not touch organization:acme#member@user:dan", `rule "grant member, suspended by manage"`}},
		{"a sibling", []string{"rel", "write", "organization:acme-us#member@user:dan", "--as", "user:carol"},
			[]string{"PERMISSION_DENIED: user:carol may not touch organization:acme-us#member@user:dan"}},
		{"a role carol does not hold", []string{"rel", "write", "organization:acme-eu#app_manager@user:dan", "--as", "user:carol"},
			[]string{"PERMISSION_DENIED: user:carol may not touch organization:acme-eu#app_manager@user:dan", "manage & manage_apps"}},
		{"an admin delegation without expiry", []string{"rel", "write", "organization:acme-eu#admin@user:dan", "--as", "user:carol"},
			[]string{"PERMISSION_DENIED:", "requires delegated grants to expire within 90d"}},
		{"a member removing carol", []string{"rel", "write", "--op", "delete", "organization:acme-eu#admin@user:carol", "--as", "user:alice"},
			[]string{"PERMISSION_DENIED: user:alice may not delete organization:acme-eu#admin@user:carol"}},
		{"a delegated delete by filter", []string{"rel", "delete", "organization:acme#admin", "--as", "user:carol"},
			[]string{"PERMISSION_DENIED: user:carol may not"}},
	}
	for _, d := range denied {
		t.Run("denied/"+d.name, func(t *testing.T) {
			portal.t = t
			r := portal.expect(exitError, d.args...)
			mustContain(t, r, r.stderr, d.wants...)
		})
	}
	portal.t = t
	// An admin key acting on someone's behalf is held to the same rules.
	r = admin.expect(exitError, "rel", "write", "organization:acme-eu#member@user:zoe", "--as", "user:alice")
	mustContain(t, r, r.stderr, "PERMISSION_DENIED: user:alice may not")
	expiry := walkGrantProvenance(t, admin, portal)
	walkOffboarding(t, admin, portal, expiry)
	walkGovernanceAudit(t, admin, portal)
}

// walkGrantProvenance checks that the explanation and the grant reviews name carol's
// grants, and returns the expiry of the admin delegation she makes on the way.
func walkGrantProvenance(t *testing.T, admin, portal *cliRunner) string {
	t.Helper()
	// The explanation names the grant: who wrote it, through which key, on whose
	// behalf, by which rule and through which organisation; the relationship the check
	// walked carries its grantor.
	r := admin.ok("check", "document:q3", "view", "user:dan", "--explain")
	mustContain(t, r, r.stdout, "── organization:acme-eu#member@user:dan[granted:user:carol@organization:acme-eu]  allowed",
		`by key portal on behalf of user:carol, rule "grant member, suspended by manage" via organization:acme-eu, reason "new hire"`)
	leaf := findExplain(decodeJSON[checkJSON](t, admin.ok("check", "document:q3", "view", "user:dan", "--explain", "-o", "json")).Explanation,
		func(n *explainJSON) bool {
			return n.Relationship != nil && n.Relationship.Text == "organization:acme-eu#member@user:dan[granted:user:carol@organization:acme-eu]"
		})
	if leaf != nil && (leaf.Relationship.GrantedBy != "user:carol" || leaf.Relationship.GrantedVia != "organization:acme-eu") {
		t.Fatalf("explain JSON of the delegated grant names no grantor: %+v", leaf.Relationship)
	}
	if leaf == nil || leaf.Provenance == nil || *leaf.Provenance != (provenanceJSON{
		Token: leaf.Provenance.Token, CommittedAt: leaf.Provenance.CommittedAt, Principal: "portal", Actor: "user:carol",
		Reason: "new hire", Rule: "grant member, suspended by manage", Via: "organization:acme-eu",
	}) {
		t.Fatalf("explain JSON provenance of the delegated grant: %+v", leaf)
	}

	// A bounded admin delegation is allowed.
	expiry := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	portal.ok("rel", "write", "organization:acme-eu#admin@user:dan[expiration:"+expiry+"]", "--as", "user:carol", "--reason", "cover for carol")

	// Grants in force made by carol.
	r = admin.ok("access", "grants", "user:carol")
	mustContain(t, r, r.stdout, "RELATIONSHIP", "RULE", "organization:acme-eu#member@user:dan", "grant member, suspended by manage", "new hire",
		"organization:acme-eu#admin@user:dan[granted:user:carol@organization:acme-eu][expiration:"+expiry+"]", "grant admin by manage expiring within 90d", "cover for carol")
	grants := decodeJSON[struct{ Grants []actorGrantJSON }](t, admin.ok("access", "grants", "user:carol", "-o", "json")).Grants
	if len(grants) != 2 {
		t.Fatalf("access grants JSON: %+v", grants)
	}
	for _, g := range grants {
		if g.Via != "organization:acme-eu" || g.GrantedAt == "" || g.GrantedToken == "" || g.Rule == "" {
			t.Fatalf("access grants JSON entry: %+v", g)
		}
	}
	if r := admin.ok("access", "grants", "user:alice"); !strings.HasPrefix(r.stdout, "user:alice made no grants that are still in force\n") {
		t.Fatalf("access grants of an actor without grants:\n%s", r)
	}
	return expiry
}

// walkOffboarding checks what dan reaches (with carol's delegation that expires at
// expiry) and offboarding him from acme-eu.
func walkOffboarding(t *testing.T, admin, portal *cliRunner, expiry string) {
	t.Helper()
	// What dan reaches inside acme, and through which path.
	r := admin.ok("access", "review", "user:dan", "--org", "organization:acme", "--type", "document")
	mustContain(t, r, r.stdout, "RESOURCE     PERMISSION  RESULT   PATH\n", "document:q3  edit        allowed  ",
		"document:q3#project@project:apollo → project:apollo#owner@organization:acme-eu → organization:acme-eu#admin@user:dan[granted:user:carol@organization:acme-eu][expiration:"+expiry+"]")
	review := decodeJSON[struct{ Entries []accessEntryJSON }](t, admin.ok("access", "review", "user:dan", "--org", "organization:acme", "--permission", "view", "-o", "json"))
	i := slices.IndexFunc(review.Entries, func(e accessEntryJSON) bool { return e.Resource == "document:q3" })
	if i < 0 || review.Entries[i].Result != "allowed" || len(review.Entries[i].Paths) == 0 ||
		!strings.HasPrefix(review.Entries[i].Paths[0][len(review.Entries[i].Paths[0])-1], "organization:acme-eu#admin@user:dan") {
		t.Fatalf("access review JSON: %+v", review.Entries)
	}

	// Offboarding dan from acme-eu removes the membership and the admin delegation,
	// and with them every derived right; the brand registration outside the subtree
	// stays.
	r = portal.ok("offboard", "user:dan", "--org", "organization:acme-eu", "--as", "user:carol", "--reason", "contract ended")
	mustContain(t, r, r.stdout, "removed 2 relationship(s) of user:dan\n",
		"  - organization:acme-eu#member@user:dan[granted:user:carol@organization:acme-eu]\n", "  - organization:acme-eu#admin@user:dan[granted:user:carol@organization:acme-eu][expiration:")
	admin.expect(exitNo, "check", "document:q3", "view", "user:dan", "--consistency", "at_least_as_fresh:"+tokenOf(t, r))
	admin.expect(exitNo, "check", "organization:acme-eu", "manage", "user:dan")
	if r := admin.ok("rel", "read", "brand", "--subject", "user:dan"); r.stdout != "brand:portal-a#customer@user:dan\n" {
		t.Fatalf("offboarding inside acme-eu touched the brand registration:\n%s", r)
	}
}

// walkGovernanceAudit checks the audit trail, refused attempts included.
func walkGovernanceAudit(t *testing.T, admin, portal *cliRunner) {
	t.Helper()
	// The audit trail: newest first, filtered by actor and subject, as text and JSON
	// lines, paginated.
	r := admin.ok("audit", "--actor", "user:carol")
	mustContain(t, r, r.stdout, "offboard principal=portal actor=user:carol reason=\"contract ended\"", "  - organization:acme-eu#member@user:dan",
		"write principal=portal actor=user:carol reason=\"new hire\"", "  + organization:acme-eu#member@user:dan",
		`granted organization:acme-eu#member@user:dan by rule "grant member, suspended by manage" via organization:acme-eu`)
	if strings.Index(r.stdout, "contract ended") > strings.Index(r.stdout, "new hire") {
		t.Fatalf("audit is not newest first:\n%s", r)
	}
	mustContain(t, r, r.stdout, "write DENIED principal=portal actor=user:carol\n  refused: user:carol may not touch organization:acme#member@user:dan",
		"  attempted touch organization:acme#member@user:dan\n")
	// Every attempt is traceable: the refused ones are recorded with the refusal and
	// the attempted updates, and change nothing.
	committed, refused := splitDenied(decodeJSONLines[transactionJSON](t, admin.ok("audit", "--subject", "user:dan", "-o", "json")))
	if len(committed) != 4 || committed[0].Operation != "offboard" || committed[0].Reason != "contract ended" || committed[0].Actor != "user:carol" ||
		committed[0].Principal != "portal" || len(committed[0].Changes) != 2 || committed[0].Changes[0].Kind != "deleted" ||
		committed[1].Reason != "cover for carol" || committed[2].Reason != "new hire" || committed[3].Reason != "walkthrough data" {
		t.Fatalf("audit JSON lines for user:dan: %+v", committed)
	}
	if len(refused) != 4 { // the parent, the sibling, the role, the unbounded admin
		t.Fatalf("audit for user:dan has %d refused attempts, want 4: %+v", len(refused), refused)
	}
	for _, d := range refused {
		if d.Actor != "user:carol" || d.Principal != "portal" || len(d.Changes) != 0 || !strings.HasPrefix(d.Denied.Message, "user:carol may not ") ||
			len(d.Denied.Updates) != 1 || d.Denied.Updates[0].Relationship.SubjectID != "dan" {
			t.Fatalf("refused attempt in the audit trail: %+v", d)
		}
	}
	r = admin.ok("audit", "--limit", "1")
	if strings.Count(r.stdout, "token ") != 1 || !strings.Contains(r.stderr, "older transactions follow: --page-token ") {
		t.Fatalf("audit --limit 1:\n%s", r)
	}
	older := admin.ok("audit", "--limit", "1", "--page-token", strings.Fields(r.stderr)[4])
	if older.stdout == r.stdout || strings.Count(older.stdout, "token ") != 1 {
		t.Fatalf("audit --page-token does not continue:\n%s\n%s", r, older)
	}
	// The schema, the data, dan's membership, dan's admin delegation and the
	// offboarding, and the seven refused attempts.
	committed, refused = splitDenied(decodeJSONLines[transactionJSON](t, admin.ok("audit", "--all", "-o", "json")))
	if len(committed) != 5 || committed[4].Operation != "schema" || committed[4].Reason != "reference model" || len(refused) != 7 {
		t.Fatalf("audit --all: %d committed, %d refused: %+v %+v", len(committed), len(refused), committed, refused)
	}
	committed, refused = splitDenied(decodeJSONLines[transactionJSON](t, admin.ok("audit", "--resource", "organization:acme-us", "--since", "1h", "-o", "json")))
	if len(committed) != 1 || committed[0].Reason != "walkthrough data" || len(refused) != 1 || !strings.Contains(refused[0].Denied.Message, "organization:acme-us#member@user:dan") {
		t.Fatalf("audit --resource organization:acme-us: %+v %+v", committed, refused)
	}
	if r := admin.ok("audit", "--until", "2000-01-01"); r.stdout != "" || !strings.Contains(r.stderr, "no transactions match") {
		t.Fatalf("audit --until 2000-01-01:\n%s", r)
	}
	r = admin.expect(exitError, "audit", "--since", "2030-01-02", "--until", "2030-01-01")
	mustContain(t, r, r.stderr, "INVALID_ARGUMENT", "since")
}

// splitDenied separates committed transactions from recorded refusals, keeping order.
func splitDenied(txs []transactionJSON) (committed, refused []transactionJSON) {
	for _, tx := range txs {
		if tx.Denied != nil {
			refused = append(refused, tx)
		} else {
			committed = append(committed, tx)
		}
	}
	return committed, refused
}
