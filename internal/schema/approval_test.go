package schema

import (
	"os"
	"strings"
	"testing"
	"time"
)

const approvalSchema = `use expiration

definition user {}

definition organization {
	relation admin: user
	relation member: user | user with expiration
	permission manage = admin
	permission active_member = member + admin
}

definition project {
	relation owner: organization
	relation viewer: user | user with expiration
	relation editor: user | user with expiration
	relation auditor: user | user with expiration
	permission manage = owner->manage

	grant viewer by manage expiring within 365d
	grant editor by manage expiring within 30d
	approve viewer by manage and manage on requester for at most 90d
		requester in organization#active_member
	approve auditor by manage & owner->active_member and owner->manage
}
`

func TestApprovalRules(t *testing.T) {
	s := mustCompile(t, approvalSchema)
	a := s.ApprovalRule("project", "viewer")
	if a == nil || len(a.Parties) != 2 || a.MaxDuration != 90*24*time.Hour || a.Pos.Line != 21 {
		t.Fatalf("rule = %+v", a)
	}
	if a.Requester == nil || a.Requester.Type != "organization" || a.Requester.Relation != "active_member" {
		t.Errorf("requester = %+v", a.Requester)
	}
	first, second := a.Parties[0], a.Parties[1]
	if first.On != OnResource || first.Definition != "project" || sexpr(first.Expr) != "manage" || first.Permission != "approve:project#viewer/1" {
		t.Errorf("party 1 = %+v", first)
	}
	if second.On != OnRequester || second.Definition != "organization" || sexpr(second.Expr) != "manage" || second.Permission != "approve:project#viewer/2" {
		t.Errorf("party 2 = %+v", second)
	}
	// Each party is a hidden permission on the object it is checked on.
	for _, p := range a.Parties {
		r, ok := s.Relation(p.Definition, p.Permission)
		if !ok || !r.Synthetic || r.Expr != p.Expr || r.Definition != p.Definition {
			t.Errorf("synthetic permission for %s = %+v", p.Permission, r)
		}
		for _, n := range s.Definition(p.Definition).Order {
			if n == p.Permission {
				t.Errorf("%s is listed in Order", n)
			}
		}
	}
	if r, _ := s.Relation("project", "viewer"); r.Approval != a {
		t.Error("project#viewer does not point at its rule")
	}
	if got := Format(s); got != approvalSchema {
		t.Errorf("the schema is canonical, Format gave:\n%s", got)
	}
	if got := FormatApproval(a); got != "approve viewer by manage and manage on requester for at most 90d requester in organization#active_member" {
		t.Errorf("FormatApproval = %q", got)
	}
	checkRoundTrip(t, "approvals", s)
}

func TestApprovalPolicy(t *testing.T) {
	s := mustCompile(t, approvalSchema)
	// The rule's parties; its own bound is below the grant rule's.
	p, ok := s.ApprovalPolicy("project", "viewer")
	if !ok || p.Rule == nil || len(p.Parties) != 2 || p.MaxDuration != 90*24*time.Hour || p.Requester == nil {
		t.Errorf("viewer policy = %+v", p)
	}
	// No approval rule: the grant rule's holders approve alone, within its bound.
	p, ok = s.ApprovalPolicy("project", "editor")
	if !ok || p.Rule != nil || len(p.Parties) != 1 || p.MaxDuration != 30*24*time.Hour ||
		p.Parties[0].Permission != "grant:editor" || p.Parties[0].On != OnResource {
		t.Errorf("editor policy = %+v", p)
	}
	// An approval rule without a grant rule and without a bound.
	p, ok = s.ApprovalPolicy("project", "auditor")
	if !ok || len(p.Parties) != 2 || p.MaxDuration != 0 || FormatExpr(p.Parties[0].Expr) != "manage & owner->active_member" {
		t.Errorf("auditor policy = %+v, party 1 %s", p, FormatExpr(p.Parties[0].Expr))
	}
	// Neither rule: no delegate approves requests for it.
	for _, rel := range []string{"owner", "manage", "nope"} {
		if _, ok := s.ApprovalPolicy("project", rel); ok {
			t.Errorf("project#%s has an approval policy", rel)
		}
	}
}

func TestDiffApprovalRules(t *testing.T) {
	old := mustCompile(t, approvalSchema)
	changed := strings.Replace(approvalSchema, "for at most 90d", "for at most 30d", 1)
	changed = strings.Replace(changed, "\tapprove auditor by manage & owner->active_member and owner->manage\n", "", 1)
	changed = strings.Replace(changed, "grant editor by manage expiring within 30d", "grant editor by manage expiring within 30d\n\tapprove editor by manage", 1)
	got := Diff(old, mustCompile(t, changed)).String()
	want := `+ approval rule project#editor: by manage
~ approval rule project#viewer: by manage and manage on requester for at most 90d requester in organization#active_member => by manage and manage on requester for at most 30d requester in organization#active_member
- approval rule project#auditor: by manage & owner->active_member and owner->manage
`
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
}

// TestApprovalKeywordsOnlyInRules: names that are keywords of approval rules still
// work as relation names.
func TestApprovalKeywordsOnlyInRules(t *testing.T) {
	s := mustCompile(t, `definition user {}
definition org {
	relation approve: user
	relation requester: user
	relation most: user
	permission for = approve + requester
	approve requester by for and most
}`)
	if a := s.ApprovalRule("org", "requester"); a == nil || len(a.Parties) != 2 || sexpr(a.Parties[0].Expr) != "for" {
		t.Fatalf("rule = %+v", a)
	}
	checkRoundTrip(t, "approval keywords", s)
}

// TestReferenceSchemaRules pins the B2B story of the reference schema: a partner's
// admin shares a project with chosen employees, each grant bound to their membership
// of the partner, and requests need both organisations' admins for at most 90 days.
func TestReferenceSchemaRules(t *testing.T) {
	text, err := os.ReadFile(referenceSchema)
	if err != nil {
		t.Fatal(err)
	}
	s := mustCompile(t, string(text))
	g := s.GrantRule("project", "partner_viewer")
	if g == nil || FormatGrant(g) != "grant partner_viewer by partner->manage expiring within 365d while grantee in organization#active_member and grantor can grant" {
		t.Fatalf("grant rule = %+v", g)
	}
	ends := map[string]bool{}
	for _, rel := range []string{"member", "suspended", "admin", "parent"} {
		for _, d := range s.RulesDependingOn("organization", rel) {
			if d.Definition == "project" && d.Rule == g {
				ends[rel] = true
			}
		}
	}
	if len(ends) != 4 {
		t.Errorf("a membership, suspension, demotion or re-parenting must end the grant; found %v", ends)
	}
	p, ok := s.ApprovalPolicy("project", "partner_viewer")
	if !ok || p.Rule == nil || len(p.Parties) != 2 || p.MaxDuration != 90*24*time.Hour ||
		p.Parties[1].On != OnRequester || p.Parties[1].Definition != "organization" ||
		p.Requester == nil || p.Requester.Type != "organization" || p.Requester.Relation != "active_member" {
		t.Errorf("approval policy = %+v", p)
	}
}
