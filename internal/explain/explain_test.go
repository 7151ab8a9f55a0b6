package explain

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// The JSON shape is a documented contract (docs/cli.md, docs/validate.md): pin its
// field names.
func TestNodeJSONShape(t *testing.T) {
	rel := tuple.MustParse(`project:apollo#partner@organization:globex#member[within_network:{"allowed_cidr":"10.0.0.0/8"}][granted:user:eve@organization:acme-eu][expiration:2027-01-01T00:00:00Z]`)
	n := &Node{
		Kind: "permission", Resource: "project:apollo", Relation: "view", Expression: "partner", Subject: "user:erin",
		Result: "allowed", DurationMS: Milliseconds(1500 * time.Microsecond),
		Children: []*Node{{Kind: "relationship", Result: "allowed", Relationship: NewRelationship(rel), Provenance: &Provenance{Principal: "admin"}}},
	}
	raw, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"kind": "permission", "resource": "project:apollo", "relation": "view", "expression": "partner",
		"subject": "user:erin", "result": "allowed", "cached": false, "duration_ms": 1.5,
		"children": []any{map[string]any{
			"kind": "relationship", "result": "allowed", "cached": false, "duration_ms": 0.0,
			"provenance": map[string]any{"principal": "admin"},
			"relationship": map[string]any{
				"text":          tuple.Format(rel),
				"resource_type": "project", "resource_id": "apollo", "relation": "partner",
				"subject_type": "organization", "subject_id": "globex", "subject_relation": "member",
				"caveat": "within_network", "caveat_context": map[string]any{"allowed_cidr": "10.0.0.0/8"},
				"expires_at": "2027-01-01T00:00:00Z",
				"granted_by": "user:eve", "granted_via": "organization:acme-eu",
			},
		}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("JSON shape (-want +got):\n%s", d)
	}
}
