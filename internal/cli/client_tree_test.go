package cli

import (
	"strings"
	"testing"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// TestWriteExplainTreeParadox pins how check --explain prints a paradox: the
// subtracted side it stands for, what the exclusion counts it as, and the cycle
// below it, named.
func TestWriteExplainTreeParadox(t *testing.T) {
	allowed, denied := pb.Permissionship_PERMISSIONSHIP_ALLOWED, pb.Permissionship_PERMISSIONSHIP_DENIED
	a := &pb.ObjectReference{Type: "group", Id: "a"}
	b := &pb.ObjectReference{Type: "group", Id: "b"}
	jon := &pb.SubjectReference{Type: "user", Id: "jon"}
	rel := func(res *pb.ObjectReference, relation string, subj *pb.SubjectReference, children ...*pb.ExplainNode) *pb.ExplainNode {
		return &pb.ExplainNode{Kind: "relationship", Result: denied, Relationship: &pb.Relationship{Resource: res, Relation: relation, Subject: subj}, Children: children}
	}
	root := &pb.ExplainNode{
		Kind: "permission", Resource: a, Relation: "member", Expression: "direct - blocked", Subject: jon, Result: denied,
		Children: []*pb.ExplainNode{{
			Kind: "exclusion", Resource: a, Relation: "member", Expression: "direct - blocked", Subject: jon, Result: denied,
			Children: []*pb.ExplainNode{
				{Kind: "relation", Resource: a, Relation: "direct", Subject: jon, Result: allowed, Children: []*pb.ExplainNode{
					{Kind: "relationship", Result: allowed, Relationship: &pb.Relationship{Resource: a, Relation: "direct", Subject: jon}},
				}},
				{Kind: "paradox", Resource: a, Relation: "member", Expression: "blocked", Subject: jon, Result: allowed, Children: []*pb.ExplainNode{
					{Kind: "relation", Resource: a, Relation: "blocked", Subject: jon, Result: denied, Children: []*pb.ExplainNode{
						rel(a, "blocked", &pb.SubjectReference{Type: "group", Id: "b", Relation: "member"},
							&pb.ExplainNode{Kind: "permission", Resource: b, Relation: "member", Expression: "direct - blocked", Subject: jon, Result: denied, Children: []*pb.ExplainNode{
								rel(b, "direct", &pb.SubjectReference{Type: "group", Id: "a", Relation: "member"},
									&pb.ExplainNode{Kind: "cycle", Resource: a, Relation: "member", Subject: jon, Result: denied}),
							}}),
					}},
				}},
			},
		}},
	}
	var out strings.Builder
	writeExplainTree(&out, root, false)
	want := `group:a#member permission = direct - blocked for user:jon  denied
└── exclusion  denied
    ├── group:a#direct relation  allowed
    │   └── group:a#direct@user:jon  allowed
    └── paradox: blocked, subtracted in group:a#member, depends on its own negation; counted as  allowed
        └── group:a#blocked relation  denied
            └── group:a#blocked@group:b#member  denied
                └── group:b#member permission = direct - blocked  denied
                    └── group:b#direct@group:a#member  denied
                        └── cycle back to group:a#member  denied
`
	if out.String() != want {
		t.Fatalf("explain tree:\n%s\nwant:\n%s", out.String(), want)
	}
}
