package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// paradoxSchema defines a group's members through the members of other groups,
// minus those it blocks: the data below makes group a's membership depend on its
// own negation (issue 17).
const paradoxSchema = `
definition user {}
definition group {
	relation direct: user | group#member
	relation blocked: user | group#member
	permission member = direct - blocked
}`

// TestParadoxEndToEnd: over gRPC and REST, a paradox is denied whichever group is
// asked first, and the explanation names the paradox and the relationships on its
// cycle.
func TestParadoxEndToEnd(t *testing.T) {
	ts := startServer(t, nil)
	if _, err := ts.schemas().WriteSchema(as(adminSecret), &pb.WriteSchemaRequest{Schema: paradoxSchema}); err != nil {
		t.Fatal(err)
	}
	tok := ts.touch(t, "", "group:a#blocked@group:b#member", "group:b#direct@group:a#member", "group:a#direct@user:jon")
	fresh := &pb.Consistency{Requirement: &pb.Consistency_AtLeastAsFresh{AtLeastAsFresh: tok}}
	for _, resource := range []string{"group:b", "group:a", "group:b"} {
		req := checkReq("", resource, "member", "user:jon")
		req.Consistency = fresh
		resp, err := ts.permissions().Check(as(readerSecret), req)
		if err != nil || resp.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_DENIED {
			t.Fatalf("gRPC Check %s#member@user:jon = %v (%v), want denied", resource, resp.GetPermissionship(), err)
		}
	}

	req := checkReq("", "group:a", "member", "user:jon")
	req.Consistency, req.Explain = fresh, true
	resp, err := ts.permissions().Check(as(readerSecret), req)
	if err != nil {
		t.Fatal(err)
	}
	p := findKind(resp.GetExplanation(), "paradox")
	if p == nil || p.GetRelation() != "member" || p.GetExpression() != "blocked" || p.GetResource().GetId() != "a" {
		t.Fatalf("gRPC explanation has no paradox node for group:a#member: %v", resp.GetExplanation())
	}
	for _, rel := range []string{"group:a#blocked@group:b#member", "group:b#direct@group:a#member"} {
		if !mentions(p, rel) {
			t.Errorf("the paradox node does not name %s", rel)
		}
	}
	if c := findKind(p, "cycle"); c == nil || c.GetResource().GetId() != "a" || c.GetRelation() != "member" {
		t.Errorf("the paradox node's cycle = %v, want back at group:a#member", c)
	}

	body := `{"resource":{"type":"group","id":"a"},"permission":"member","subject":{"type":"user","id":"jon"},"explain":true,"consistency":{"at_least_as_fresh":"` + tok + `"}}`
	code, raw := ts.restRaw(t, "POST", "/v1/permissions/check", readerSecret, body)
	if code != http.StatusOK {
		t.Fatalf("REST status %d: %s", code, raw)
	}
	var out struct {
		Permissionship string    `json:"permissionship"`
		Explanation    *restNode `json:"explanation"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	if out.Permissionship != pb.Permissionship_PERMISSIONSHIP_DENIED.String() {
		t.Errorf("REST: %s, want denied", out.Permissionship)
	}
	if n := out.Explanation.find("paradox"); n == nil || n.Expression != "blocked" || n.find("cycle") == nil {
		t.Errorf("the REST explanation does not name the paradox and its cycle: %s", raw)
	}
}

// restNode is the part of an explanation node in JSON these tests read.
type restNode struct {
	Kind       string      `json:"kind"`
	Expression string      `json:"expression"`
	Children   []*restNode `json:"children"`
}

func (n *restNode) find(kind string) *restNode {
	if n == nil {
		return nil
	}
	if n.Kind == kind {
		return n
	}
	for _, c := range n.Children {
		if f := c.find(kind); f != nil {
			return f
		}
	}
	return nil
}

func findKind(n *pb.ExplainNode, kind string) *pb.ExplainNode {
	if n == nil {
		return nil
	}
	if n.GetKind() == kind {
		return n
	}
	for _, c := range n.GetChildren() {
		if f := findKind(c, kind); f != nil {
			return f
		}
	}
	return nil
}

// mentions reports whether the tree below n follows relationship rel, whatever its
// answer.
func mentions(n *pb.ExplainNode, rel string) bool {
	if r := n.GetRelationship(); r != nil && relationshipFromProtoText(r) == rel {
		return true
	}
	for _, c := range n.GetChildren() {
		if mentions(c, rel) {
			return true
		}
	}
	return false
}
