package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Paradoxes: relations defined through their own negation (issue 17). Each must be
// denied, whichever question comes first and whether the cache is cold or warm.

// groupParadoxSchema: a group's members are its direct members minus its blocked
// ones, and either can be another group's members.
const groupParadoxSchema = `
definition user {}
caveat flag(on bool) { on }
definition group {
	relation direct: user | group#member
	relation blocked: user | group#member | group#member with flag
	permission member = direct - blocked
}
definition doc {
	relation viewer: user
	relation banned: user | group#member
	permission view = viewer - banned
}`

// groupParadox: a blocks b's members, and b's members are a's members, so a's
// membership is defined by its own negation.
var groupParadox = []string{"group:a#blocked@group:b#member", "group:b#direct@group:a#member", "group:a#direct@user:jon"}

// docParadoxSchema: a document hidden from its own viewers, directly or through its
// parent.
const docParadoxSchema = `
definition user {}
caveat flag(on bool) { on }
definition doc {
	relation parent: doc
	relation viewer: user | user:*
	relation hidden_from: user | doc#view | doc#view with flag
	permission view = viewer - hidden_from
	permission read = viewer - parent->read
}`

var paradoxCases = []semanticsCase{
	{
		name:   "membership defined by its own negation across two groups",
		schema: groupParadoxSchema,
		rels:   groupParadox,
		checks: []checkCase{
			{check: "group:a#member@user:jon", want: "denied"},
			{check: "group:b#member@user:jon", want: "denied"},
			{check: "group:a#direct@user:jon", want: "allowed"},
			{check: "group:b#direct@user:jon", want: "denied"},
			{check: "group:a#blocked@user:jon", want: "denied"},
			{check: "group:a#member@user:ann", want: "denied"},
		},
	},
	{
		name:   "a document hidden from its own viewers",
		schema: docParadoxSchema,
		rels:   []string{"doc:1#hidden_from@doc:1#view", "doc:1#viewer@user:jon", "doc:2#parent@doc:2", "doc:2#viewer@user:jon"},
		checks: []checkCase{
			{check: "doc:1#view@user:jon", want: "denied"},
			{check: "doc:1#hidden_from@user:jon", want: "denied"},
			{check: "doc:2#read@user:jon", want: "denied"},
			{check: "doc:2#view@user:jon", want: "allowed"},
		},
	},
	{
		name: "a grant beside the paradox decides, one under it does not",
		schema: `
definition user {}
definition doc {
	relation granted: user
	relation maybe: user
	relation hidden: user | doc#view
	permission view = granted + (maybe - hidden)
}`,
		rels: []string{"doc:1#hidden@doc:1#view", "doc:1#maybe@user:jon", "doc:1#granted@user:ann", "doc:1#maybe@user:ann"},
		checks: []checkCase{
			{check: "doc:1#view@user:ann", want: "allowed"},
			{check: "doc:1#view@user:jon", want: "denied"},
			{check: "doc:1#hidden@user:ann", want: "allowed"},
		},
	},
	{
		name: "double negation: each of two permissions subtracts the other",
		schema: `
definition user {}
definition doc {
	relation base: user
	relation sbase: user
	relation second_of: doc#second
	relation first_of: doc#first
	permission first = base - second_of
	permission second = sbase - first_of
}`,
		rels: []string{"doc:1#base@user:jon", "doc:1#sbase@user:jon", "doc:1#second_of@doc:1#second", "doc:1#first_of@doc:1#first"},
		checks: []checkCase{
			{check: "doc:1#first@user:jon", want: "denied"},
			{check: "doc:1#second@user:jon", want: "denied"},
		},
	},
	{
		name:   "a cycle through an exclusion that the data settles is no paradox",
		schema: groupParadoxSchema,
		// c blocks b, so b has no members, so a blocks nobody.
		rels: append([]string{"group:b#blocked@group:c#member", "group:c#direct@user:jon"}, groupParadox...),
		checks: []checkCase{
			{check: "group:a#member@user:jon", want: "allowed"},
			{check: "group:b#member@user:jon", want: "denied"},
			{check: "group:c#member@user:jon", want: "allowed"},
		},
	},
	{
		name:   "negating a paradox does not grant",
		schema: groupParadoxSchema,
		rels:   append([]string{"doc:d#viewer@user:jon", "doc:d#banned@group:a#member", "doc:e#viewer@user:jon"}, groupParadox...),
		checks: []checkCase{
			{check: "doc:d#view@user:jon", want: "denied"},
			{check: "doc:e#view@user:jon", want: "allowed"},
		},
	},
	{
		name:   "a paradox under a caveat is conditional, and denied when the caveat holds",
		schema: docParadoxSchema,
		rels:   []string{"doc:1#hidden_from@doc:1#view[flag]", "doc:1#viewer@user:jon"},
		checks: []checkCase{
			{check: "doc:1#view@user:jon", want: "conditional[on]"},
			{check: "doc:1#view@user:jon", context: `{"on": false}`, want: "allowed"},
			{check: "doc:1#view@user:jon", context: `{"on": true}`, want: "denied"},
		},
	},
	{
		name:   "a paradox for every subject through a wildcard",
		schema: docParadoxSchema,
		rels:   []string{"doc:1#hidden_from@doc:1#view", "doc:1#viewer@user:*", "doc:2#viewer@user:*", "doc:2#hidden_from@user:mallory"},
		checks: []checkCase{
			{check: "doc:1#view@user:anyone", want: "denied"},
			{check: "doc:2#view@user:anyone", want: "allowed"},
			{check: "doc:2#view@user:mallory", want: "denied"},
		},
	},
}

// TestParadoxIsDenied asks every question of each case on fresh engines, in order
// and in reverse, cold and warm. (TestLookupsAgreeWithCheck runs the cases through
// the lookups.)
func TestParadoxIsDenied(t *testing.T) { runCheckCases(t, paradoxCases, true) }

// TestParadoxCheckBulk asks the questions of each case in one CheckBulk, where checks
// on one type and permission are evaluated as one batch.
func TestParadoxCheckBulk(t *testing.T) {
	for _, tc := range paradoxCases {
		f := newFixture(t, tc.schema, tc.rels...)
		var reqs []CheckRequest
		for _, c := range tc.checks {
			reqs = append(reqs, f.req(c.check, c.context))
		}
		for i, r := range f.e.CheckBulk(context.Background(), reqs) {
			if got := answer(r.Result); r.Err != nil || got != tc.checks[i].want {
				t.Errorf("%s: CheckBulk %s = %s (%v), want %s", tc.name, tc.checks[i].check, got, r.Err, tc.checks[i].want)
			}
		}
	}
}

// TestParadoxPermissions: Permissions gives every question of each case the answer
// Check gives.
func TestParadoxPermissions(t *testing.T) {
	for _, tc := range paradoxCases {
		f := newFixture(t, tc.schema, tc.rels...)
		for _, c := range tc.checks {
			res, perm, subj := parseCheck(t, c.check)
			perms, err := f.e.Permissions(context.Background(), PermissionsRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: res, Subject: subj, Context: parseContext(t, c.context)})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range perms {
				if got := answer(CheckResult{Permissionship: p.Permissionship, MissingContext: p.MissingContext}); p.Permission == perm && got != c.want {
					t.Errorf("%s: Permissions %s with %s gives %s, want %s", tc.name, c.check, c.context, got, c.want)
				}
			}
		}
	}
}

// TestParadoxExplanation: the explanation of a denied paradox names it, with the
// relationships of the cycle and the node the cycle returns to, cold and warm.
func TestParadoxExplanation(t *testing.T) {
	f := newFixture(t, groupParadoxSchema, groupParadox...)
	for pass := range 2 {
		for _, first := range []string{"group:a#member@user:jon", "group:b#member@user:jon"} {
			f.check(first, "") // warm the cache with either question first
			root := f.explained("group:a#member@user:jon", "")
			if root.Result != NoPermission {
				t.Fatalf("pass %d: explained answer %s", pass, root.Result)
			}
			p := findNode(root, func(n *ExplainNode) bool { return n.Kind == NodeParadox })
			if p == nil {
				t.Fatalf("pass %d: no paradox node in\n%s", pass, explainLines(root, ""))
			}
			if p.Resource.String() != "group:a" || p.Relation != "member" || p.Expression != "blocked" || p.Result != HasPermission {
				t.Errorf("paradox node %+v: want group:a#member subtracting blocked, counted as allowed", p)
			}
			var rels []string
			for _, r := range p.Relationships() {
				rels = append(rels, tuple.Format(r))
			}
			if want := []string{"group:a#blocked@group:b#member", "group:b#direct@group:a#member"}; !slices.Equal(rels, want) {
				t.Errorf("paradox relationships %v, want %v", rels, want)
			}
			if c := findNode(p, func(n *ExplainNode) bool { return n.Kind == NodeCycle }); c == nil || c.Resource.String() != "group:a" || c.Relation != "member" {
				t.Errorf("cycle node %+v, want group:a#member", c)
			}
		}
	}
	// A paradox from another component, negated by an ordinary exclusion, is named
	// there too.
	g := newFixture(t, groupParadoxSchema, append([]string{"doc:d#viewer@user:jon", "doc:d#banned@group:a#member"}, groupParadox...)...)
	g.check("group:a#member@user:jon", "")
	root := g.explained("doc:d#view@user:jon", "")
	if p := findNode(root, func(n *ExplainNode) bool { return n.Kind == NodeParadox }); root.Result != NoPermission || p == nil || p.Resource.String() != "doc:d" || p.Expression != "banned" {
		t.Errorf("doc:d#view explanation:\n%s", explainLines(root, ""))
	}
}

func explainLines(n *ExplainNode, indent string) string {
	s := fmt.Sprintf("%s%s %s#%s %s %s\n", indent, n.Kind, n.Resource, n.Relation, n.Expression, n.Result)
	for _, c := range n.Children {
		s += explainLines(c, indent+"  ")
	}
	return s
}

// TestParadoxDepthLimit: the depth limit holds inside a component solved as a whole.
func TestParadoxDepthLimit(t *testing.T) {
	var rels []string
	for i := range 60 {
		rels = append(rels, fmt.Sprintf("group:g%d#direct@group:g%d#member", i, i+1))
	}
	rels = append(rels, "group:g60#direct@user:deep")
	f := newFixture(t, groupParadoxSchema, rels...)
	if _, err := f.e.Check(context.Background(), f.req("group:g0#member@user:deep", "")); !errors.Is(err, ErrDepthExceeded) {
		t.Errorf("err = %v, want a depth error", err)
	}
	// Each group is two levels (member, then direct): twenty groups fit.
	if got := f.check("group:g40#member@user:deep", ""); got != "allowed" {
		t.Errorf("g40 = %s", got)
	}
}

// TestNonMonotoneComponents pins which relations the schema analysis sends to the
// well-founded solver and which lookups confirm by Check.
func TestNonMonotoneComponents(t *testing.T) {
	for _, tc := range []struct {
		schema                       string
		nonMonotone, reaches, plains []string
	}{
		{docSchema, nil, nil, []string{"document#view", "group#member", "folder#view"}},
		{groupParadoxSchema, []string{"group#member", "group#direct", "group#blocked"}, []string{"doc#view", "doc#banned"}, []string{"doc#viewer"}},
		{docParadoxSchema, []string{"doc#view", "doc#hidden_from", "doc#read"}, nil, []string{"doc#viewer", "doc#parent"}},
	} {
		sch, err := schema.Compile("test.zed", tc.schema)
		if err != nil {
			t.Fatal(err)
		}
		cs := newCompiledSchema(sch)
		key := func(s string) relKey { typ, rel, _ := strings.Cut(s, "#"); return relKey{typ, rel} }
		for _, s := range tc.nonMonotone {
			if !cs.nonMonotone[key(s)] || !cs.reachesNonMonotone[key(s)] {
				t.Errorf("%s is not non-monotone", s)
			}
		}
		for _, s := range tc.reaches {
			if cs.nonMonotone[key(s)] || !cs.reachesNonMonotone[key(s)] {
				t.Errorf("%s: non-monotone %v, reaches one %v; want false, true", s, cs.nonMonotone[key(s)], cs.reachesNonMonotone[key(s)])
			}
		}
		for _, s := range tc.plains {
			if cs.reachesNonMonotone[key(s)] {
				t.Errorf("%s reaches a non-monotone component", s)
			}
		}
		if cs.hasNonMonotone != (len(tc.nonMonotone) > 0) {
			t.Errorf("hasNonMonotone = %v", cs.hasNonMonotone)
		}
	}
}

// TestParadoxWideComponent: a component whose level holds more objects than one store
// query names is read in chunks, and every object relation grounded is a dispatch.
func TestParadoxWideComponent(t *testing.T) {
	rels := []string{"group:hub#direct@user:jon", "group:free#direct@user:jon"}
	for i := range 150 {
		rels = append(rels, fmt.Sprintf("group:hub#blocked@group:g%03d#member", i), fmt.Sprintf("group:g%03d#direct@group:hub#member", i))
	}
	f := newFixture(t, groupParadoxSchema, rels...)
	r, err := f.e.Check(context.Background(), f.req("group:hub#member@user:jon", ""))
	if err != nil || r.Permissionship != NoPermission {
		t.Fatalf("hub = %s (%v), want denied", answer(r), err)
	}
	if r.Stats.Dispatches < 300 {
		t.Errorf("stats %+v: the grounded object relations are not counted", r.Stats)
	}
	if got := f.check("group:free#member@user:jon", ""); got != "allowed" {
		t.Errorf("free = %s", got)
	}
}
