package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

type checkCase struct {
	check   string // resource#permission@subject
	context string // JSON caveat context
	want    string // allowed, denied, conditional[names]
}

type semanticsCase struct {
	name   string
	schema string
	rels   []string
	checks []checkCase
}

const docSchema = `
definition user {}

definition group {
	relation member: user | group#member
}

definition folder {
	relation parent: folder
	relation viewer: user | user:* | group#member
	permission view = viewer + parent->view
}

definition document {
	relation folder: folder
	relation owner: user
	relation editor: user | group#member
	relation viewer: user | user:* | group#member
	relation banned: user | group#member
	permission edit = owner + editor
	permission view = (viewer + edit + folder->view) - banned
}
`

var semanticsCases = []semanticsCase{
	{
		name:   "direct relations, computed permissions and relations checked as such",
		schema: docSchema,
		rels:   []string{"document:d1#owner@user:alice", "document:d1#viewer@user:bob"},
		checks: []checkCase{
			{check: "document:d1#edit@user:alice", want: "allowed"},
			{check: "document:d1#view@user:alice", want: "allowed"},
			{check: "document:d1#owner@user:alice", want: "allowed"},
			{check: "document:d1#view@user:bob", want: "allowed"},
			{check: "document:d1#viewer@user:bob", want: "allowed"},
			{check: "document:d1#edit@user:bob", want: "denied"},
			{check: "document:d1#owner@user:bob", want: "denied"},
			{check: "document:d1#view@user:carol", want: "denied"},
			{check: "document:other#view@user:alice", want: "denied"},
		},
	},
	{
		name:   "wildcards grant every object of the type but no subject set",
		schema: docSchema,
		rels:   []string{"document:pub#viewer@user:*", "document:pub#banned@user:mallory"},
		checks: []checkCase{
			{check: "document:pub#view@user:anyone", want: "allowed"},
			{check: "document:pub#viewer@user:anyone", want: "allowed"},
			{check: "document:pub#view@user:mallory", want: "denied"},
			{check: "document:pub#view@group:eng#member", want: "denied"},
			{check: "document:pub#edit@user:anyone", want: "denied"},
		},
	},
	{
		name:   "nested subject sets",
		schema: docSchema,
		rels: []string{
			"document:d1#viewer@group:all#member",
			"group:all#member@group:eng#member",
			"group:eng#member@group:backend#member",
			"group:backend#member@user:alice",
			"group:eng#member@user:bob",
		},
		checks: []checkCase{
			{check: "document:d1#view@user:alice", want: "allowed"},
			{check: "document:d1#view@user:bob", want: "allowed"},
			{check: "document:d1#view@user:carol", want: "denied"},
			{check: "group:all#member@user:alice", want: "allowed"},
			{check: "group:backend#member@user:bob", want: "denied"},
			// A subject set is a subject too.
			{check: "document:d1#view@group:eng#member", want: "allowed"},
			{check: "document:d1#view@group:backend#member", want: "allowed"},
			{check: "group:eng#member@group:eng#member", want: "allowed"},
			// So is a permission of an object: it has itself.
			{check: "document:d1#view@document:d1#view", want: "allowed"},
			{check: "document:d1#view@document:d1#edit", want: "allowed"}, // edit is part of view
			{check: "document:d1#edit@document:d1#view", want: "denied"},
		},
	},
	{
		name:   "arrows follow parents recursively",
		schema: docSchema,
		rels: []string{
			"document:d1#folder@folder:f3",
			"folder:f3#parent@folder:f2",
			"folder:f2#parent@folder:f1",
			"folder:f1#viewer@group:eng#member",
			"group:eng#member@user:alice",
			"folder:f2#viewer@user:bob",
		},
		checks: []checkCase{
			{check: "document:d1#view@user:alice", want: "allowed"},
			{check: "document:d1#view@user:bob", want: "allowed"},
			{check: "folder:f1#view@user:bob", want: "denied"},
			{check: "document:d1#view@user:carol", want: "denied"},
		},
	},
	{
		name: "arrow any and all",
		schema: `
definition user {}
definition team { relation member: user }
definition doc {
	relation team: team
	permission any_member = team.any(member)
	permission all_member = team.all(member)
	permission arrow_member = team->member
}`,
		rels: []string{
			"doc:two#team@team:a", "doc:two#team@team:b",
			"team:a#member@user:alice", "team:b#member@user:alice", "team:a#member@user:bob",
			"doc:one#team@team:a",
		},
		checks: []checkCase{
			{check: "doc:two#all_member@user:alice", want: "allowed"},
			{check: "doc:two#all_member@user:bob", want: "denied"},
			{check: "doc:two#any_member@user:bob", want: "allowed"},
			{check: "doc:two#arrow_member@user:bob", want: "allowed"},
			{check: "doc:one#all_member@user:bob", want: "allowed"},
			// .all needs at least one target.
			{check: "doc:none#all_member@user:bob", want: "denied"},
			{check: "doc:none#any_member@user:bob", want: "denied"},
		},
	},
	{
		name: "intersection, exclusion and nil",
		schema: `
definition user {}
definition doc {
	relation rel_a: user | user:*
	relation rel_b: user
	relation rel_c: user
	permission both = rel_a & rel_b
	permission a_not_b = rel_a - rel_b
	permission nested = (rel_a + rel_c) - (rel_b & rel_c)
	permission nothing = nil
	permission a_or_nil = rel_a + nil
	permission a_and_nil = rel_a & nil
}`,
		rels: []string{"doc:1#rel_a@user:alice", "doc:1#rel_b@user:alice", "doc:1#rel_a@user:bob", "doc:1#rel_c@user:carol", "doc:1#rel_b@user:carol", "doc:2#rel_a@user:*", "doc:2#rel_b@user:bob"},
		checks: []checkCase{
			{check: "doc:1#both@user:alice", want: "allowed"},
			{check: "doc:1#both@user:bob", want: "denied"},
			{check: "doc:1#a_not_b@user:alice", want: "denied"},
			{check: "doc:1#a_not_b@user:bob", want: "allowed"},
			{check: "doc:1#nested@user:carol", want: "denied"},
			{check: "doc:1#nested@user:bob", want: "allowed"},
			{check: "doc:1#nothing@user:alice", want: "denied"},
			{check: "doc:1#a_or_nil@user:alice", want: "allowed"},
			{check: "doc:1#a_and_nil@user:alice", want: "denied"},
			{check: "doc:2#a_not_b@user:bob", want: "denied"},
			{check: "doc:2#a_not_b@user:zed", want: "allowed"},
			{check: "doc:2#both@user:bob", want: "allowed"},
		},
	},
	{
		name: "caveats: missing context, merged context, combination through operators",
		schema: `
definition user {}
caveat is_weekday(day string) { day != "sat" && day != "sun" }
caveat at_least(level int, required int) { level >= required }
definition doc {
	relation viewer: user | user with is_weekday | user with at_least
	relation editor: user | user with at_least
	relation banned: user with is_weekday
	permission view = viewer
	permission both = viewer & editor
	permission either = viewer + editor
	permission view_not_banned = viewer - banned
}`,
		rels: []string{
			`doc:1#viewer@user:alice[is_weekday]`,
			`doc:1#viewer@user:bob[at_least:{"required":3}]`,
			`doc:1#editor@user:bob[at_least:{"required":5}]`,
			`doc:1#editor@user:carol`,
			`doc:1#viewer@user:carol[at_least:{"required":3,"level":1}]`,
			`doc:2#viewer@user:dave`,
			`doc:2#banned@user:dave[is_weekday]`,
		},
		checks: []checkCase{
			{check: "doc:1#view@user:alice", want: "conditional[day]"},
			{check: "doc:1#view@user:alice", context: `{"day":"mon"}`, want: "allowed"},
			{check: "doc:1#view@user:alice", context: `{"day":"sun"}`, want: "denied"},
			{check: "doc:1#view@user:bob", want: "conditional[level]"},
			{check: "doc:1#view@user:bob", context: `{"level":4}`, want: "allowed"},
			// The relationship's own context wins over the request's.
			{check: "doc:1#view@user:bob", context: `{"level":4,"required":1}`, want: "allowed"},
			{check: "doc:1#view@user:carol", context: `{"level":9}`, want: "denied"},
			{check: "doc:1#both@user:bob", context: `{"level":4}`, want: "denied"},
			{check: "doc:1#both@user:bob", context: `{"level":6}`, want: "allowed"},
			{check: "doc:1#both@user:bob", want: "conditional[level]"},
			{check: "doc:1#either@user:carol", want: "allowed"},
			{check: "doc:1#both@user:carol", want: "denied"},
			{check: "doc:1#either@user:alice", want: "conditional[day]"},
			{check: "doc:2#view_not_banned@user:dave", want: "conditional[day]"},
			{check: "doc:2#view_not_banned@user:dave", context: `{"day":"sat"}`, want: "allowed"},
			{check: "doc:2#view_not_banned@user:dave", context: `{"day":"tue"}`, want: "denied"},
		},
	},
	{
		name: "conditional answers combine: yes beats conditional in a union, no beats it in an intersection",
		schema: `
definition user {}
caveat flag_a(a bool) { a }
caveat flag_b(b bool) { b }
definition doc {
	relation rel_x: user | user with flag_a
	relation rel_y: user | user with flag_b
	permission uni = rel_x + rel_y
	permission int = rel_x & rel_y
	permission exc = rel_x - rel_y
}`,
		rels: []string{
			`doc:1#rel_x@user:u1[flag_a]`, `doc:1#rel_y@user:u1[flag_b]`,
			`doc:2#rel_x@user:u1[flag_a]`, `doc:2#rel_y@user:u1`,
			`doc:3#rel_x@user:u1[flag_a]`,
		},
		checks: []checkCase{
			{check: "doc:1#uni@user:u1", want: "conditional[a b]"},
			{check: "doc:1#int@user:u1", want: "conditional[a b]"},
			{check: "doc:1#exc@user:u1", want: "conditional[a b]"},
			{check: "doc:1#uni@user:u1", context: `{"a":true}`, want: "allowed"},
			{check: "doc:1#int@user:u1", context: `{"a":false}`, want: "denied"},
			{check: "doc:1#int@user:u1", context: `{"a":true}`, want: "conditional[b]"},
			{check: "doc:1#exc@user:u1", context: `{"b":true}`, want: "denied"},
			{check: "doc:1#exc@user:u1", context: `{"b":false}`, want: "conditional[a]"},
			{check: "doc:2#uni@user:u1", want: "allowed"},
			{check: "doc:2#int@user:u1", want: "conditional[a]"},
			{check: "doc:2#exc@user:u1", want: "denied"},
			{check: "doc:3#int@user:u1", want: "denied"},
			{check: "doc:3#exc@user:u1", want: "conditional[a]"},
		},
	},
	{
		name: "caveats on subject sets and arrows",
		schema: `
definition user {}
caveat is_answer(v int) { v == 42 }
definition team { relation member: user with is_answer }
definition doc {
	relation viewer: team#member with is_answer
	relation team: team with is_answer
	permission view = viewer
	permission via_arrow = team->member
}`,
		rels: []string{
			`team:t#member@user:tom[is_answer]`,
			`doc:d#viewer@team:t#member[is_answer]`,
			`doc:d#team@team:t[is_answer:{"v":42}]`,
		},
		checks: []checkCase{
			{check: "doc:d#view@user:tom", context: `{"v":42}`, want: "allowed"},
			{check: "doc:d#view@user:tom", context: `{"v":41}`, want: "denied"},
			{check: "doc:d#view@user:tom", want: "conditional[v]"},
			{check: "doc:d#via_arrow@user:tom", want: "conditional[v]"},
			{check: "doc:d#via_arrow@user:tom", context: `{"v":42}`, want: "allowed"},
		},
	},
	{
		name: "wildcards and exclusions through arrows",
		schema: `
definition user {}
definition group {
	relation direct_member: user
	relation everyone: user:*
	relation excluded: user | user:*
	permission view = (direct_member + everyone) - excluded
}
definition resource {
	relation group: group
	permission view = group->view
	permission every = group.all(view)
}`,
		rels: []string{
			"resource:one#group@group:g1", "resource:one#group@group:g2", "resource:two#group@group:g1",
			"group:g1#everyone@user:*", "group:g1#excluded@user:bob",
			"group:g2#direct_member@user:bob", "group:g2#direct_member@user:carol", "group:g2#excluded@user:*",
		},
		checks: []checkCase{
			{check: "resource:one#view@user:bob", want: "denied"}, // excluded in g1, everyone excluded in g2
			{check: "resource:one#view@user:carol", want: "allowed"},
			{check: "resource:one#view@user:dave", want: "allowed"},
			{check: "resource:two#view@user:bob", want: "denied"},
			{check: "resource:two#view@user:dave", want: "allowed"},
			{check: "resource:one#every@user:carol", want: "denied"},
			{check: "resource:two#every@user:carol", want: "allowed"},
			{check: "group:g2#view@user:bob", want: "denied"},
		},
	},
	{
		name:   "cycles in the data are cut, not errors",
		schema: docSchema,
		rels: []string{
			"group:a#member@group:b#member",
			"group:b#member@group:a#member",
			"group:b#member@group:c#member",
			"group:c#member@group:a#member",
			"group:c#member@user:carol",
			"document:d1#viewer@group:a#member",
			"folder:f1#parent@folder:f2",
			"folder:f2#parent@folder:f1",
			"folder:f2#viewer@user:fred",
			"document:d2#folder@folder:f1",
		},
		checks: []checkCase{
			{check: "group:a#member@user:dan", want: "denied"},
			{check: "group:b#member@user:dan", want: "denied"},
			{check: "document:d1#view@user:dan", want: "denied"},
			{check: "group:a#member@user:carol", want: "allowed"},
			{check: "group:b#member@user:carol", want: "allowed"},
			{check: "group:c#member@user:carol", want: "allowed"},
			{check: "document:d1#view@user:carol", want: "allowed"},
			{check: "folder:f1#view@user:fred", want: "allowed"},
			{check: "folder:f2#view@user:fred", want: "allowed"},
			{check: "folder:f1#view@user:dan", want: "denied"},
			{check: "document:d2#view@user:fred", want: "allowed"},
			{check: "document:d2#view@user:dan", want: "denied"},
		},
	},
}

func TestCheckSemantics(t *testing.T) { runCheckCases(t, semanticsCases, false) }

// runCheckCases asks the checks of each case on a cached concurrent engine and on an
// uncached inline one, twice (cold, then with whatever the first pass cached); with
// reversed, also on fresh engines in reverse order, so that no answer depends on
// which question came first.
func runCheckCases(t *testing.T, cases []semanticsCase, reversed bool) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []struct {
				name string
				cfg  Config
			}{
				{"cached-concurrent", Config{}},
				{"uncached-inline", Config{CacheSize: -1, MaxConcurrency: 1}},
			} {
				for _, reverse := range []bool{false, true}[:1+boolInt(reversed)] {
					checks := slices.Clone(tc.checks)
					if reverse {
						slices.Reverse(checks)
					}
					f := newFixtureConfig(t, mode.cfg, tc.schema, tc.rels...)
					for pass := range 2 {
						for _, c := range checks {
							if got := f.check(c.check, c.context); got != c.want {
								t.Errorf("%s reverse=%v pass %d: %s with %s = %s, want %s", mode.name, reverse, pass, c.check, c.context, got, c.want)
							}
						}
					}
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCycleCutsAreNotCached checks that answers computed below a cycle cut are not
// reused where the cut does not apply: each group is checked first from inside the
// cycle, then on its own.
func TestCycleCutsAreNotCached(t *testing.T) {
	f := newFixture(t, docSchema,
		"group:a#member@group:b#member",
		"group:b#member@group:a#member",
		"group:a#member@group:c#member",
		"group:c#member@user:alice",
	)
	// Evaluating a walks into b and c together; b leads back to a and is cut there,
	// so b's answer inside this evaluation lacks alice.
	if got := f.check("group:a#member@user:alice", ""); got != "allowed" {
		t.Fatalf("a = %s", got)
	}
	if got := f.check("group:b#member@user:alice", ""); got != "allowed" {
		t.Fatalf("b = %s; a cycle-cut answer leaked through the cache", got)
	}
	if m := f.e.Metrics(); m.CycleCuts == 0 {
		t.Errorf("no cycle cut counted: %+v", m)
	}
}

func TestDepthLimit(t *testing.T) {
	const chain = 60
	rels := []string{"document:d#viewer@group:g0#member"}
	for i := 0; i < chain; i++ {
		rels = append(rels, fmt.Sprintf("group:g%d#member@group:g%d#member", i, i+1))
	}
	rels = append(rels, fmt.Sprintf("group:g%d#member@user:deep", chain))

	f := newFixture(t, docSchema, rels...)
	_, err := f.e.Check(context.Background(), f.req("document:d#view@user:deep", ""))
	var de *DepthError
	if !errors.As(err, &de) || de.Limit != DefaultMaxDepth || !errors.Is(err, ErrDepthExceeded) {
		t.Fatalf("err = %v, want a DepthError with limit %d", err, DefaultMaxDepth)
	}
	if !strings.Contains(err.Error(), "50") {
		t.Errorf("error %q does not name the limit", err)
	}
	// The same chain fits a larger limit.
	big := newFixtureConfig(t, Config{MaxDepth: 100}, docSchema, rels...)
	if got := big.check("document:d#view@user:deep", ""); got != "allowed" {
		t.Errorf("with MaxDepth 100: %s", got)
	}
	// A warm cache does not hide the limit: after warming the groups near the end of
	// the chain, the full check still fails the same way.
	if got := f.check("group:g55#member@user:deep", ""); got != "allowed" {
		t.Fatalf("g55 = %s", got)
	}
	if _, err := f.e.Check(context.Background(), f.req("document:d#view@user:deep", "")); !errors.Is(err, ErrDepthExceeded) {
		t.Errorf("after warming: err = %v", err)
	}
	// A shallow alternative still answers.
	f.touch("document:d#viewer@user:deep")
	if got := f.check("document:d#view@user:deep", ""); got != "allowed" {
		t.Errorf("with a direct grant: %s", got)
	}
}

func TestCheckValidation(t *testing.T) {
	f := newFixture(t, docSchema, "document:d1#owner@user:alice")
	cases := []struct {
		name    string
		req     CheckRequest
		mention string
	}{
		{"unknown resource type", CheckRequest{Tenant: tuple.DefaultTenant, Resource: tuple.ObjectRef{Type: "documnt", ID: "d1"}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "a"}}, "documnt"},
		{"unknown permission", CheckRequest{Tenant: tuple.DefaultTenant, Resource: tuple.ObjectRef{Type: "document", ID: "d1"}, Permission: "veiw", Subject: tuple.SubjectRef{Type: "user", ID: "a"}}, "veiw"},
		{"unknown subject type", CheckRequest{Tenant: tuple.DefaultTenant, Resource: tuple.ObjectRef{Type: "document", ID: "d1"}, Permission: "view", Subject: tuple.SubjectRef{Type: "robot", ID: "a"}}, "robot"},
		{"unknown subject relation", CheckRequest{Tenant: tuple.DefaultTenant, Resource: tuple.ObjectRef{Type: "document", ID: "d1"}, Permission: "view", Subject: tuple.SubjectRef{Type: "group", ID: "g", Relation: "admins"}}, "admins"},
		{"bad resource id", CheckRequest{Tenant: tuple.DefaultTenant, Resource: tuple.ObjectRef{Type: "document", ID: "d 1"}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "a"}}, "d 1"},
		{"wildcard subject", CheckRequest{Tenant: tuple.DefaultTenant, Resource: tuple.ObjectRef{Type: "document", ID: "d1"}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "*"}}, "wildcard"},
		{"contextual relationship not allowed by the schema", CheckRequest{Tenant: tuple.DefaultTenant, Resource: tuple.ObjectRef{Type: "document", ID: "d1"}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "a"},
			Contextual: []tuple.Relationship{tuple.MustParse("document:d1#owner@group:g#member")}}, "group"},
		{"contextual relationship on a permission", CheckRequest{Tenant: tuple.DefaultTenant, Resource: tuple.ObjectRef{Type: "document", ID: "d1"}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "a"},
			Contextual: []tuple.Relationship{tuple.MustParse("document:d1#view@user:a")}}, "permission"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Revision = f.rev
			_, err := f.e.Check(context.Background(), tc.req)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalidRequest) || !errors.Is(err, datastore.ErrInvalidArgument) {
				t.Errorf("error %v is not an invalid request", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

func TestNoSchema(t *testing.T) {
	ds := newFixture(t, docSchema).ds
	if err := ds.CreateTenant(context.Background(), "empty"); err != nil {
		t.Fatal(err)
	}
	e := New(ds, Config{})
	_, err := e.Check(context.Background(), CheckRequest{Tenant: "empty", Resource: tuple.ObjectRef{Type: "document", ID: "d"}, Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "a"}})
	if !errors.Is(err, datastore.ErrSchemaNotFound) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), `"empty"`) {
		t.Errorf("error %q does not name the tenant", err)
	}
}

func TestContextualRelationships(t *testing.T) {
	f := newFixture(t, docSchema, "group:eng#member@user:alice")
	req := f.req("document:d1#view@user:alice", "")
	req.Contextual = []tuple.Relationship{tuple.MustParse("document:d1#viewer@group:eng#member")}
	r, err := f.e.Check(context.Background(), req)
	if err != nil || r.Permissionship != HasPermission {
		t.Fatalf("with contextual: %v %v", answer(r), err)
	}
	// Used for that request only: not stored, not cached for others.
	if got := f.check("document:d1#view@user:alice", ""); got != "denied" {
		t.Errorf("without contextual: %s", got)
	}
	// An expired contextual relationship is absent.
	req.Contextual = []tuple.Relationship{tuple.MustParse("document:d1#viewer@group:eng#member[expiration:2020-01-01T00:00:00Z]")}
	if _, err := f.e.Check(context.Background(), req); err == nil {
		// The schema does not allow expiration on viewer: the request is refused.
		t.Errorf("an expiring contextual relationship the schema does not allow was accepted")
	}
	// The count is bounded.
	small := newFixtureConfig(t, Config{MaxContextualRelationships: 1}, docSchema)
	req = small.req("document:d1#view@user:alice", "")
	req.Contextual = []tuple.Relationship{tuple.MustParse("document:d1#viewer@user:alice"), tuple.MustParse("document:d2#viewer@user:alice")}
	if _, err := small.e.Check(context.Background(), req); !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "limit of 1") {
		t.Errorf("too many contextual: %v", err)
	}
}
