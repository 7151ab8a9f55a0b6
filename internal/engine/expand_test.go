package engine

import (
	"context"
	"testing"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// TestParadoxExpand: where a cycle comes back through the subtracted side of an
// exclusion, Expand shows the node it came back to as a subject set, not as an
// empty (nothing subtracted) leaf.
func TestParadoxExpand(t *testing.T) {
	f := newFixture(t, docParadoxSchema, "doc:2#parent@doc:2", "doc:2#viewer@user:jon")
	tree, err := f.e.Expand(context.Background(), ExpandRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "doc", ID: "2"}, Permission: "read"})
	if err != nil {
		t.Fatal(err)
	}
	want := `exclusion doc:2#read
  leaf doc:2#viewer user:jon
  union doc:2#read arrow parent->read
    leaf doc:2#read via doc:2#parent@doc:2 doc:2#read
`
	if got := expandText(tree); got != want {
		t.Errorf("expand tree:\n%s\nwant:\n%s", got, want)
	}
}
