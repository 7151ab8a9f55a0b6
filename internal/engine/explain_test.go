package engine

import "testing"

// TestNodeKindNames pins the kinds' names: they are the wire format of an
// explanation and what the CLI prints.
func TestNodeKindNames(t *testing.T) {
	want := map[NodeKind]string{
		0: "", NodePermission: "permission", NodeRelation: "relation", NodeUnion: "union",
		NodeIntersection: "intersection", NodeExclusion: "exclusion", NodeArrow: "arrow",
		NodeRelationship: "relationship", NodeCaveat: "caveat", NodeNil: "nil", NodeCycle: "cycle",
		NodeCycle + 1: "",
	}
	for k, name := range want {
		if got := k.String(); got != name {
			t.Errorf("NodeKind(%d).String() = %q, want %q", k, got, name)
		}
	}
}
