package schema

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// depSchema is a small B2B model with dependency-bound grants.
const depSchema = `use expiration

definition user {}

definition group {
	relation member: user | group#member
}

definition organization {
	relation parent: organization
	relation admin: user | user with expiration
	relation member: user | group#member | user with expiration
	relation suspended: user
	permission is_suspended = suspended + parent->is_suspended
	permission active_member = (member + admin) - is_suspended
	permission manage = (admin - is_suspended) + parent->manage

	grant member by manage
}

definition project {
	relation owner: organization
	relation viewer: user | group#member | user with expiration
	relation editor: user | user with expiration
	permission manage = owner->manage

	grant viewer by manage expiring within 365d
		while grantee in organization#active_member and grantor can grant
	grant editor by manage
		while grantor can grant
}
`

func TestGrantDependencies(t *testing.T) {
	s := mustCompile(t, depSchema)
	viewer := s.GrantRule("project", "viewer")
	if viewer == nil {
		t.Fatal("no rule for project#viewer")
	}
	want := []Dependency{
		{Kind: GranteeIn, Type: "organization", Relation: "active_member", Pos: Position{Line: 28, Col: 9}},
		{Kind: GrantorCanGrant, Pos: Position{Line: 28, Col: 51}},
	}
	if d := cmp.Diff(want, viewer.Dependencies, cmpopts.IgnoreFields(Position{}, "File")); d != "" {
		t.Errorf("dependencies (-want +got):\n%s", d)
	}
	if !strings.HasSuffix(viewer.Text, "while grantee in organization#active_member and grantor can grant") {
		t.Errorf("rule text = %q", viewer.Text)
	}
	if got := FormatGrant(viewer); got != "grant viewer by manage expiring within 365d while grantee in organization#active_member and grantor can grant" {
		t.Errorf("FormatGrant = %q", got)
	}
	if r := s.GrantRule("organization", "member"); r == nil || len(r.Dependencies) != 0 {
		t.Errorf("organization#member rule = %+v; grants made without a dependency have none", r)
	}
	if s.GrantRule("project", "owner") != nil || s.GrantRule("nope", "viewer") != nil {
		t.Error("relations without a rule have none")
	}
	if got := Format(s); got != depSchema {
		t.Errorf("the schema is canonical, Format gave:\n%s", got)
	}
	checkRoundTrip(t, "dependencies", s)
}

// TestRulesDependingOn checks which grant rules a change to a relation can end.
func TestRulesDependingOn(t *testing.T) {
	s := mustCompile(t, depSchema)
	type dep struct{ def, rel, cond string }
	list := func(typ, rel string) []dep {
		var out []dep
		for _, d := range s.RulesDependingOn(typ, rel) {
			out = append(out, dep{d.Definition, strings.Join(d.Rule.Relations, ","), d.Dependency.String()})
		}
		return out
	}
	granteeIn := dep{"project", "viewer", "grantee in organization#active_member"}
	grantorViewer := dep{"project", "viewer", "grantor can grant"}
	grantorEditor := dep{"project", "editor", "grantor can grant"}
	for _, tc := range []struct {
		typ, rel string
		want     []dep
	}{
		// Membership ends: the grantee dependency.
		{"organization", "member", []dep{granteeIn}},
		{"organization", "active_member", []dep{granteeIn}},
		// Through a group: a group membership change reaches organization#member.
		{"group", "member", []dep{granteeIn}},
		// Demotion: the grantor dependencies, and active_member reads admin too.
		{"organization", "admin", []dep{granteeIn, grantorViewer, grantorEditor}},
		// Suspension and re-parenting reach both kinds.
		{"organization", "suspended", []dep{granteeIn, grantorViewer, grantorEditor}},
		{"organization", "parent", []dep{granteeIn, grantorViewer, grantorEditor}},
		// Moving the project to another owner ends the grantor's authority.
		{"project", "owner", []dep{grantorViewer, grantorEditor}},
		// Nothing depends on these.
		{"project", "viewer", nil},
		{"user", "member", nil},
	} {
		if d := cmp.Diff(tc.want, list(tc.typ, tc.rel), cmp.AllowUnexported(dep{})); d != "" {
			t.Errorf("RulesDependingOn(%s, %s) (-want +got):\n%s", tc.typ, tc.rel, d)
		}
	}
}

// TestGrantDependencyKeywordsOnlyInRules: `while`, `grantee` and `grantor` stay
// ordinary names outside a grant rule.
func TestGrantDependencyKeywordsOnlyInRules(t *testing.T) {
	s := mustCompile(t, `definition user {}
definition org {
	relation while: user
	relation grantee: user
	relation grantor: user
	relation can: user
	permission and = while + grantee
	grant grantee, grantor by while while grantor can grant
	grant can by and
}`)
	g := s.GrantRule("org", "grantor")
	if g == nil || sexpr(g.Expr) != "while" || len(g.Dependencies) != 1 || g.Dependencies[0].Kind != GrantorCanGrant {
		t.Fatalf("rule = %+v", g)
	}
	checkRoundTrip(t, "keywords", s)
}

func TestDiffGrantDependencies(t *testing.T) {
	old := mustCompile(t, depSchema)
	changed := strings.Replace(depSchema, "while grantee in organization#active_member and grantor can grant", "while grantee in organization#member", 1)
	changed = strings.Replace(changed, "grant member by manage", "grant member by manage while grantor can grant", 1)
	changed = strings.Replace(changed, "grant editor by manage\n\t\twhile grantor can grant", "grant editor by manage", 1)
	got := Diff(old, mustCompile(t, changed)).String()
	want := `+ grant dependency organization#member: grantor can grant
- grant dependency project#viewer: grantee in organization#active_member
- grant dependency project#viewer: grantor can grant
+ grant dependency project#viewer: grantee in organization#member
- grant dependency project#editor: grantor can grant
`
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if d := Diff(nil, old).String(); !strings.Contains(d, "+ grant rule project#viewer: by manage expiring within 365d\n+ grant dependency project#viewer: grantee in organization#active_member\n") {
		t.Errorf("a new rule lists its dependencies:\n%s", d)
	}
}
