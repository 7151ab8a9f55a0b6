package schema

import (
	"strings"
	"testing"
)

const diffOld = `use expiration

definition user {}
definition team { relation member: user }
definition legacy { relation owner: user }

caveat ip_allowed(ip ipaddress) { ip.in_cidr("10.0.0.0/8") }

definition document {
	/** readers */
	relation viewer: user | user:* | team#member | user with ip_allowed | user with expiration
	relation editor: user | user with expiration
	relation auditor: user
	relation owner: legacy
	permission view = viewer + editor
	permission edit = editor
	grant viewer by edit
	grant editor by edit expiring within 30d
}`

const diffNew = `definition user {}
definition team { relation member: user }
definition group { relation member: user }

caveat ip_allowed(ip ipaddress, cidr string) { ip.in_cidr(cidr) }

definition document {
	/** a different comment is not a change */
	relation viewer: user | team#member | user with ip_allowed | group#member
	relation editor: user
	permission auditor = editor
	permission view = viewer + editor + auditor
	permission edit = editor
	grant viewer by view
	grant editor by edit
}`

func TestDiff(t *testing.T) {
	old := mustCompile(t, diffOld)
	nw := mustCompile(t, diffNew)
	got := Diff(old, nw).String()
	want := `- use expiration
- definition legacy
+ definition group
+ relation group#member: user
~ caveat ip_allowed: (ip ipaddress) { ip.in_cidr("10.0.0.0/8") } => (ip ipaddress, cidr string) { ip.in_cidr(cidr) }
- subject type document#viewer: user:*
- subject type document#viewer: user with expiration
+ subject type document#viewer: group#member
- subject type document#editor: user with expiration
~ relation document#auditor: relation auditor: user => permission auditor = editor
- relation document#owner: legacy
~ permission document#view: viewer + editor => viewer + editor + auditor
~ grant rule document#viewer: by edit => by view
~ grant rule document#editor: by edit expiring within 30d => by edit
`
	// Order follows the new schema, with removals where the old schema had them.
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if d := Diff(old, old); !d.Empty() || d.String() != "no changes\n" {
		t.Errorf("self diff = %q", d.String())
	}
	// Comments alone are not changes.
	commented := mustCompile(t, strings.Replace(diffOld, "/** readers */", "/** who may read */", 1))
	if d := Diff(old, commented); !d.Empty() {
		t.Errorf("comment change shows up: %s", d)
	}
	if d := Diff(nil, old); d.Empty() || d.Changes[0].Kind != Added {
		t.Errorf("diff from nothing = %s", d)
	}
}

func TestOrphanChecks(t *testing.T) {
	old := mustCompile(t, diffOld)
	nw := mustCompile(t, diffNew)
	got := OrphanChecks(old, nw)
	want := []OrphanCheck{
		{ResourceType: "legacy", Description: "relationships on definition `legacy`, which the new schema removes"},
		{SubjectType: "legacy", Description: "relationships whose subject is of type `legacy`, which the new schema removes"},
		{ResourceType: "document", Relation: "viewer", SubjectType: "user", Wildcard: true,
			Description: "relationships on `document#viewer` with subject type `user:*`, which the new schema no longer allows there"},
		{ResourceType: "document", Relation: "viewer", SubjectType: "user", Expiration: true,
			Description: "relationships on `document#viewer` with subject type `user with expiration`, which the new schema no longer allows there"},
		{ResourceType: "document", Relation: "editor", SubjectType: "user", Expiration: true,
			Description: "relationships on `document#editor` with subject type `user with expiration`, which the new schema no longer allows there"},
		{ResourceType: "document", Relation: "auditor",
			Description: "relationships on relation `document#auditor`, which the new schema turns into a permission"},
		{ResourceType: "document", Relation: "owner",
			Description: "relationships on relation `document#owner`, which the new schema removes"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d checks:\n%v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("check %d:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}
}

func TestOrphanChecksPerRemovalKind(t *testing.T) {
	base := `definition user {}
caveat cav(n int) { n > 1 }
definition group { relation member: user }
definition doc { relation viewer: user | group#member | user with cav }`
	cases := []struct {
		name, new string
		want      OrphanCheck
	}{
		{"subject relation", `definition user {}
caveat cav(n int) { n > 1 }
definition group { relation member: user }
definition doc { relation viewer: user | user with cav }`,
			OrphanCheck{ResourceType: "doc", Relation: "viewer", SubjectType: "group", SubjectRelation: "member"}},
		{"caveated subject", `definition user {}
definition group { relation member: user }
definition doc { relation viewer: user | group#member }`,
			OrphanCheck{ResourceType: "doc", Relation: "viewer", SubjectType: "user", Caveat: "cav"}},
		{"plain subject kept caveated", `definition user {}
caveat cav(n int) { n > 1 }
definition group { relation member: user }
definition doc { relation viewer: group#member | user with cav }`,
			OrphanCheck{ResourceType: "doc", Relation: "viewer", SubjectType: "user"}},
	}
	old := mustCompile(t, base)
	for _, tc := range cases {
		got := OrphanChecks(old, mustCompile(t, tc.new))
		if len(got) != 1 {
			t.Errorf("%s: got %v", tc.name, got)
			continue
		}
		got[0].Description = ""
		if got[0] != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got[0], tc.want)
		}
	}
	// Additions and permission changes orphan nothing.
	more := mustCompile(t, base+"\ndefinition extra { relation owner: user | doc }")
	if got := OrphanChecks(old, more); len(got) != 0 {
		t.Errorf("additions produced checks: %v", got)
	}
	// Removing everything: every definition on both sides of relationships.
	if got := OrphanChecks(old, nil); len(got) != 6 {
		t.Errorf("removing everything: %d checks: %v", len(got), got)
	}
}
