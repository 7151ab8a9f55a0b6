package engine

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// TestNodeKindNames pins the kinds' names: they are the wire format of an
// explanation and what the CLI prints.
func TestNodeKindNames(t *testing.T) {
	want := map[NodeKind]string{
		0: "", NodePermission: "permission", NodeRelation: "relation", NodeUnion: "union",
		NodeIntersection: "intersection", NodeExclusion: "exclusion", NodeArrow: "arrow",
		NodeRelationship: "relationship", NodeCaveat: "caveat", NodeNil: "nil", NodeCycle: "cycle",
		NodeParadox: "paradox", NodeDependency: "dependency", NodeDependency + 1: "",
	}
	for k, name := range want {
		if got := k.String(); got != name {
			t.Errorf("NodeKind(%d).String() = %q, want %q", k, got, name)
		}
	}
}

// explained checks with an explanation and fails the test on an error.
func (f *fixture) explained(check, ctxJSON string) *ExplainNode {
	f.t.Helper()
	req := f.req(check, ctxJSON)
	req.Explain = true
	r, err := f.e.Check(context.Background(), req)
	if err != nil {
		f.t.Fatalf("check %s: %v", check, err)
	}
	return r.Explanation
}

// pathText renders the relationships on a granting path, the arrows' hops marked.
func pathText(path []*ExplainNode) string {
	var parts []string
	for i, n := range path {
		if n.Kind != NodeRelationship {
			continue
		}
		s := tuple.Format(*n.Relationship)
		if i > 0 && path[i-1].Kind == NodeArrow {
			s = "hop " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " > ")
}

func TestGrantingPath(t *testing.T) {
	f := newFixture(t, docSchema,
		"document:d1#folder@folder:f1",
		"folder:f1#viewer@group:eng#member",
		"group:eng#member@user:alice",
		"document:d1#viewer@user:bob[expiration:2030-01-01T00:00:00Z]",
		"document:d1#banned@user:mallory",
		"document:d1#viewer@user:mallory",
	)
	for _, c := range []struct{ check, want string }{
		{"document:d1#view@user:alice", "hop document:d1#folder@folder:f1 > folder:f1#viewer@group:eng#member > group:eng#member@user:alice"},
		{"document:d1#view@user:bob", "document:d1#viewer@user:bob[expiration:2030-01-01T00:00:00Z]"},
		{"document:d1#view@user:mallory", ""},
		{"document:d1#view@user:nobody", ""},
	} {
		root := f.explained(c.check, "")
		path := root.GrantingPath()
		if got := pathText(path); got != c.want {
			t.Errorf("%s: granting path %q, want %q", c.check, got, c.want)
		}
		if len(path) > 0 && path[0] != root {
			t.Errorf("%s: the path does not start at the root", c.check)
		}
	}

	// A conditional answer's path runs through the conditional branch.
	cf := newFixture(t, `
definition user {}
caveat on_weekday(day string) { day != "sun" }
definition document {
	relation viewer: user with on_weekday
	permission view = viewer
}`, "document:d1#viewer@user:u1[on_weekday]")
	root := cf.explained("document:d1#view@user:u1", "")
	if got := pathText(root.GrantingPath()); root.Result != Conditional || got != "document:d1#viewer@user:u1[on_weekday]" {
		t.Errorf("conditional: %s, granting path %q", root.Result, got)
	}
	if (*ExplainNode)(nil).GrantingPath() != nil {
		t.Errorf("a nil explanation has a granting path")
	}
}

func TestRelationships(t *testing.T) {
	f := newFixture(t, `
definition user {}
definition group { relation member: user }
definition document {
	relation viewer: group#member
	relation editor: group#member
	permission both = viewer & editor
}`,
		"document:d1#viewer@group:eng#member",
		"document:d1#editor@group:eng#member",
		"group:eng#member@user:alice",
	)
	var got []string
	for _, r := range f.explained("document:d1#both@user:alice", "").Relationships() {
		got = append(got, tuple.Format(r))
	}
	// group:eng#member@user:alice is reached twice (through viewer and editor) but
	// listed once.
	want := []string{"document:d1#viewer@group:eng#member", "group:eng#member@user:alice", "document:d1#editor@group:eng#member"}
	if !slices.Equal(got, want) {
		t.Errorf("relationships %v, want %v", got, want)
	}
	if (*ExplainNode)(nil).Relationships() != nil {
		t.Errorf("a nil explanation follows relationships")
	}
}
