package engine

import (
	"time"

	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// NodeKind says what step of an evaluation an ExplainNode records.
type NodeKind uint8

// Explanation node kinds. The zero NodeKind is no kind; the engine never returns it.
const (
	// NodePermission and NodeRelation evaluate a permission or relation of one object.
	NodePermission NodeKind = iota + 1
	NodeRelation
	// NodeUnion, NodeIntersection and NodeExclusion combine their children.
	NodeUnion
	NodeIntersection
	NodeExclusion
	// NodeArrow follows a tupleset to other objects; its children are the
	// relationships it followed.
	NodeArrow
	// NodeRelationship is one relationship followed, stored or contextual.
	NodeRelationship
	// NodeCaveat evaluates the caveat of the relationship above it.
	NodeCaveat
	// NodeNil is the "nil" expression, which grants nothing.
	NodeNil
	// NodeCycle is a branch that came back to a node on its own path: cut as a no,
	// or, inside a component solved as a whole (see NodeParadox), showing that node's
	// answer.
	NodeCycle
	// NodeParadox is the subtracted side of an exclusion whose answer depends on its
	// own negation: a cycle in the data passes through the exclusion. Result is what
	// the exclusion counts it as, the most it could grant, so a paradox only ever
	// denies; its child is the subtracted subtree, down to the cycle node.
	NodeParadox
	// NodeDependency is one `while` condition of the grant rule of the delegated
	// relationship above it: Resource#Relation checked for Subject (the grantee, or
	// the grantor for "grantor can grant"); Expression is the condition as written.
	// A grant whose condition is denied does not count.
	NodeDependency
)

// nodeKindNames are the kinds' names on the wire and in printed explanations.
var nodeKindNames = [...]string{
	NodePermission:   "permission",
	NodeRelation:     "relation",
	NodeUnion:        "union",
	NodeIntersection: "intersection",
	NodeExclusion:    "exclusion",
	NodeArrow:        "arrow",
	NodeRelationship: "relationship",
	NodeCaveat:       "caveat",
	NodeNil:          "nil",
	NodeCycle:        "cycle",
	NodeParadox:      "paradox",
	NodeDependency:   "dependency",
}

// String returns the kind's name, e.g. "permission" or "arrow"; the zero kind is "".
func (k NodeKind) String() string {
	if int(k) < len(nodeKindNames) {
		return nodeKindNames[k]
	}
	return ""
}

// ExplainNode is one evaluated step of a check: a relation, a permission, an
// operator, an arrow, a relationship or a caveat.
type ExplainNode struct {
	Kind     NodeKind
	Resource tuple.ObjectRef
	// Relation is the relation or permission evaluated (for permission, relation and
	// arrow nodes).
	Relation string
	// Expression is the rule as written, e.g. "viewer + owner_org->view".
	Expression string
	Subject    tuple.SubjectRef
	Result     Permissionship
	// Relationship is the stored (or contextual) relationship a relationship node
	// followed; every relationship node has one.
	Relationship *tuple.Relationship
	// Caveat is the caveat a caveat node evaluated, and the missing parameters.
	Caveat         string
	MissingContext []string
	Cached         bool
	Duration       time.Duration
	Children       []*ExplainNode
}

// Relationships returns the relationships the explanation followed, each once, in the
// order a depth-first walk meets them.
func (n *ExplainNode) Relationships() []tuple.Relationship {
	var out []tuple.Relationship
	seen := map[tuple.Key]bool{}
	var walk func(n *ExplainNode)
	walk = func(n *ExplainNode) {
		if n == nil {
			return
		}
		if n.Kind == NodeRelationship && n.Relationship != nil && !seen[n.Relationship.Key()] {
			seen[n.Relationship.Key()] = true
			out = append(out, *n.Relationship)
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(n)
	return out
}

// GrantingPath answers "which relationships granted": it returns the nodes along the
// first branch that grants n's answer (allowed, or conditional), from n down to the
// last relationship the branch follows. At each node the walk takes the first child
// that agrees with it (under a conditional node, any child that is not a no) and
// leads to a relationship. It is nil when n denies or grants without following a
// relationship.
func (n *ExplainNode) GrantingPath() []*ExplainNode {
	if n == nil || n.Result == NoPermission {
		return nil
	}
	for _, c := range n.Children {
		if c.Result != n.Result && (n.Result != Conditional || c.Result == NoPermission) {
			continue
		}
		if sub := c.GrantingPath(); sub != nil {
			return append([]*ExplainNode{n}, sub...)
		}
	}
	if n.Kind == NodeRelationship && n.Relationship != nil {
		return []*ExplainNode{n}
	}
	return nil
}

// paradoxNode explains the subtracted side sub of an exclusion on obj#rel whose answer
// r a paradox leaves open; child is the subtracted side's own explanation.
func (c *checker) paradoxNode(obj tuple.ObjectRef, rel string, sub schema.Expr, r result, child *ExplainNode) *ExplainNode {
	n := &ExplainNode{Kind: NodeParadox, Resource: obj, Relation: rel, Expression: exprString(sub, false), Subject: c.subject, Result: HasPermission}
	if r.upper != nil {
		n.Result, n.MissingContext = r.upper.perm, r.upper.missing
	}
	if child != nil {
		n.Children = []*ExplainNode{child}
	}
	return n
}

// attachContent hangs the explanation of a relation's relationships, or of a
// permission's expression, under the relation's or permission's node.
func attachContent(n *ExplainNode, rel *schema.Relation, content *ExplainNode) {
	switch {
	case content == nil:
	case rel.Kind == schema.KindRelation:
		n.Children = content.Children
	default:
		n.Children = []*ExplainNode{content}
	}
}
