package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/explain"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Rendering of the two trees the API returns: a check's explanation and an Expand
// userset tree, as indented text for people and as nested JSON for scripts.

// explainJSON is one node of a check's explanation, in the JSON shape `pemba
// validate` prints too.
type explainJSON = explain.Node

// provenanceJSON says who wrote a relationship an answer relied on.
type provenanceJSON = explain.Provenance

func explainToJSON(n *pb.ExplainNode) *explainJSON {
	if n == nil {
		return nil
	}
	out := &explainJSON{
		Kind:           n.GetKind(),
		Resource:       formatObject(n.GetResource()),
		Relation:       n.GetRelation(),
		Expression:     n.GetExpression(),
		Subject:        formatSubject(n.GetSubject()),
		Result:         permissionshipName(n.GetResult()),
		MissingContext: n.GetMissingContext(),
		Relationship:   relationshipToJSON(n.GetRelationship()),
		Provenance:     provenanceToJSON(n.GetProvenance()),
		Caveat:         n.GetCaveat(),
		Cached:         n.GetCached(),
		DurationMS:     explain.Milliseconds(n.GetDuration().AsDuration()),
	}
	for _, c := range n.GetChildren() {
		out.Children = append(out.Children, explainToJSON(c))
	}
	return out
}

func provenanceToJSON(p *pb.Provenance) *provenanceJSON {
	if p == nil {
		return nil
	}
	return &provenanceJSON{
		Token:       p.GetToken(),
		CommittedAt: formatTime(p.GetCommittedAt()),
		Principal:   p.GetPrincipal(),
		Actor:       formatSubject(p.GetActor()),
		Reason:      p.GetReason(),
		Rule:        p.GetRule(),
		Via:         formatObject(p.GetVia()),

		AccessRequest: p.GetAccessRequestId(),
	}
}

// writeExplainTree prints an explanation, one node per line:
//
//	document:q3#view permission = viewer + edit  allowed  0.31ms
//	└── union  allowed
//	    └── document:q3#viewer relation  allowed  cached
//	        └── document:q3#viewer@user:alice  allowed
//	              written 2026-01-31T12:00:00Z by key admin on behalf of user:bob, rule "grant viewer by manage" via organization:acme, reason "q3 review"
//
// The subject is shown only where it differs from its parent's (a hop through a
// subject set such as group:eng#member).
//
// With full unset, an allowed step shows only the branches that granted: denied
// alternatives of a union (or of an arrow or relation with several relationships) are
// left out and counted. Exclusions and intersections keep every branch, since each
// one decided the answer.
func writeExplainTree(w io.Writer, root *pb.ExplainNode, full bool) {
	var walk func(n *pb.ExplainNode, parent *pb.ExplainNode, parentSubject, linePrefix, belowPrefix string)
	walk = func(n *pb.ExplainNode, parent *pb.ExplainNode, parentSubject, linePrefix, belowPrefix string) {
		subject := parentSubject
		label := explainLabel(n, parent)
		if n.GetKind() != "relationship" {
			// A relationship node's subject is the relationship's own; the subject
			// being checked carries on below it unchanged.
			if s := formatSubject(n.GetSubject()); s != "" {
				if s != parentSubject {
					label += " for " + s
				}
				subject = s
			}
		}
		fmt.Fprintf(w, "%s%s  %s\n", linePrefix, label, explainResult(n))
		children := n.GetChildren()
		if p := n.GetProvenance(); p != nil {
			// Under the node's label, two columns in, keeping the line to its
			// children unbroken.
			pad := "  "
			if len(children) > 0 {
				pad = "│ "
			}
			fmt.Fprintf(w, "%s%s%s\n", belowPrefix, pad, provenanceText(p))
		}
		hidden := 0
		if !full && n.GetResult() == pb.Permissionship_PERMISSIONSHIP_ALLOWED && prunable(n.GetKind()) {
			kept := make([]*pb.ExplainNode, 0, len(children))
			for _, c := range children {
				if c.GetResult() == pb.Permissionship_PERMISSIONSHIP_DENIED {
					hidden++
					continue
				}
				kept = append(kept, c)
			}
			children = kept
		}
		for i, c := range children {
			line, below := childPrefixes(belowPrefix, i == len(children)-1 && hidden == 0)
			walk(c, n, subject, line, below)
		}
		if hidden > 0 {
			fmt.Fprintf(w, "%s%s(%d denied alternative(s) not shown; --explain-full shows them)\n", belowPrefix, treeLast, hidden)
		}
	}
	walk(root, nil, "", "", "")
}

// prunable reports whether a node's answer is the union of its children's, so that
// denied children did not decide an allowed answer.
func prunable(kind string) bool {
	switch kind {
	case "union", "arrow", "relation", "permission", "relationship":
		return true
	}
	return false
}

// explainLabel names what a node evaluated. An operator node repeats no expression its
// parent already showed.
func explainLabel(n, parent *pb.ExplainNode) string {
	obj := formatObject(n.GetResource())
	switch n.GetKind() {
	case "permission", "relation":
		s := obj + "#" + n.GetRelation() + " " + n.GetKind()
		if e := n.GetExpression(); e != "" && n.GetKind() == "permission" {
			s += " = " + e
		}
		return s
	case "arrow":
		e := n.GetExpression()
		if e == "" {
			e = n.GetRelation()
		}
		if obj != "" {
			return obj + " arrow " + e
		}
		return "arrow " + e
	case "relationship":
		if r := n.GetRelationship(); r != nil {
			return formatRelationship(r)
		}
		return "relationship"
	case "caveat":
		return "caveat " + n.GetCaveat()
	case "cycle":
		return "cycle back to " + obj + "#" + n.GetRelation()
	case "dependency":
		// A condition of a delegated grant: denied means the grant does not count.
		return fmt.Sprintf("while %s: %s#%s@%s", n.GetExpression(), obj, n.GetRelation(), formatSubject(n.GetSubject()))
	case "paradox":
		// The node stands for the subtracted side; its result, printed after the
		// label, is what the exclusion counts that side as.
		return fmt.Sprintf("paradox: %s, subtracted in %s#%s, depends on its own negation; counted as", n.GetExpression(), obj, n.GetRelation())
	}
	s := n.GetKind()
	if e := n.GetExpression(); e != "" && e != parent.GetExpression() {
		s += " " + e
	}
	return s
}

// explainResult is a node's answer with its missing context, cache flag and timing.
func explainResult(n *pb.ExplainNode) string {
	parts := []string{answerText(n.GetResult(), n.GetMissingContext())}
	if n.GetCached() {
		parts = append(parts, "cached")
	}
	if d := n.GetDuration(); d != nil && d.AsDuration() > 0 {
		parts = append(parts, formatDuration(d.AsDuration()))
	}
	return strings.Join(parts, "  ")
}

// formatDuration prints a node's time with a precision that suits it.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
	}
	return d.Round(time.Millisecond).String()
}

// provenanceText says who wrote a relationship: when, through which key, on whose
// behalf, by which grant rule and through which organisation, and why. (The token of
// the write is in the JSON output.)
func provenanceText(p *pb.Provenance) string {
	s := "written"
	if t := formatTimeText(p.GetCommittedAt()); t != "" {
		s += " " + t
	}
	if k := p.GetPrincipal(); k != "" {
		s += " by key " + k
	}
	if a := p.GetActor(); a != nil {
		s += " on behalf of " + formatSubject(a)
	}
	if r := p.GetRule(); r != "" {
		s += fmt.Sprintf(", rule %q", r)
	}
	if v := p.GetVia(); v != nil {
		s += " via " + formatObject(v)
	}
	if r := p.GetReason(); r != "" {
		s += fmt.Sprintf(", reason %q", r)
	}
	if id := p.GetAccessRequestId(); id != "" {
		s += ", approving access request " + id
	}
	return s
}

// expandJSON is one node of an Expand tree.
type expandJSON struct {
	Resource  string               `json:"resource"`
	Relation  string               `json:"relation"`
	Operation string               `json:"operation"`
	Subjects  []*expandSubjectJSON `json:"subjects,omitempty"`
	Children  []*expandJSON        `json:"children,omitempty"`
}

// expandSubjectJSON is one direct subject of an Expand leaf.
type expandSubjectJSON struct {
	Subject       string         `json:"subject"`
	Caveat        string         `json:"caveat,omitempty"`
	CaveatContext map[string]any `json:"caveat_context,omitempty"`
	ExpiresAt     string         `json:"expires_at,omitempty"`
}

func expandToJSON(n *pb.ExpandNode) *expandJSON {
	if n == nil {
		return nil
	}
	out := &expandJSON{Resource: formatObject(n.GetResource()), Relation: n.GetRelation(), Operation: expandOperation(n.GetOperation())}
	for _, s := range n.GetSubjects() {
		j := &expandSubjectJSON{Subject: formatSubject(s.GetSubject()), ExpiresAt: formatTime(s.GetExpiresAt())}
		if c := s.GetCaveat(); c != nil {
			j.Caveat = c.GetName()
			if len(c.GetContext().GetFields()) > 0 {
				j.CaveatContext = c.GetContext().AsMap()
			}
		}
		out.Subjects = append(out.Subjects, j)
	}
	for _, c := range n.GetChildren() {
		out.Children = append(out.Children, expandToJSON(c))
	}
	return out
}

func expandOperation(op pb.ExpandNode_Operation) string {
	switch op {
	case pb.ExpandNode_OPERATION_LEAF:
		return "leaf"
	case pb.ExpandNode_OPERATION_UNION:
		return "union"
	case pb.ExpandNode_OPERATION_INTERSECTION:
		return "intersection"
	case pb.ExpandNode_OPERATION_EXCLUSION:
		return "exclusion"
	}
	return "unspecified"
}

// writeExpandTree prints an Expand tree:
//
//	document:q3#view  union
//	├── document:q3#viewer  leaf
//	│   ├── user:alice
//	│   └── group:eng#member
//	└── document:q3#edit  union
func writeExpandTree(w io.Writer, root *pb.ExpandNode) {
	var walk func(n *pb.ExpandNode, linePrefix, belowPrefix string)
	walk = func(n *pb.ExpandNode, linePrefix, belowPrefix string) {
		fmt.Fprintf(w, "%s%s#%s  %s\n", linePrefix, formatObject(n.GetResource()), n.GetRelation(), expandOperation(n.GetOperation()))
		total := len(n.GetSubjects()) + len(n.GetChildren())
		i := 0
		for _, s := range n.GetSubjects() {
			i++
			line, _ := childPrefixes(belowPrefix, i == total)
			fmt.Fprintf(w, "%s%s\n", line, expandSubjectText(s))
		}
		for _, c := range n.GetChildren() {
			i++
			line, below := childPrefixes(belowPrefix, i == total)
			walk(c, line, below)
		}
	}
	walk(root, "", "")
}

// expandSubjectText prints a direct subject with its caveat and expiry in the
// relationship text form's brackets.
func expandSubjectText(s *pb.ExpandSubject) string {
	out := formatSubject(s.GetSubject())
	if c := s.GetCaveat(); c != nil {
		out += "[" + c.GetName()
		if len(c.GetContext().GetFields()) > 0 {
			out += ":" + compactJSON(c.GetContext().AsMap())
		}
		out += "]"
	}
	if t := formatTime(s.GetExpiresAt()); t != "" {
		out += "[expiration:" + t + "]"
	}
	return out
}
