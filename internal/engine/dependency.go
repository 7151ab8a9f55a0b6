package engine

import (
	"context"

	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// A delegated grant made under a rule with `while` conditions counts only while the
// conditions hold at the revision being evaluated (docs/schema.md, "Grants bound to
// what they depend on"). Each condition is an ordinary check of another subject at
// the same revision, through the same dispatcher and cache, so an answer that relied
// on a dependency is exactly as fresh as the dependency itself: no sweep has to run
// first.

// heldResult is what relationship rel contributes by itself: its caveat and, for a
// delegated grant whose relation's rule has dependencies, those dependencies, all of
// which must hold. depth is the depth of the node that follows rel; the dependencies
// are evaluated one level below it.
func (c *checker) heldResult(ctx context.Context, rel tuple.Relationship, depth int) result {
	r := c.caveatResult(rel)
	if rel.Granted == nil || r.no() || r.err != nil {
		return r
	}
	rule := c.cs.s.GrantRule(rel.Resource.Type, rel.Relation)
	if rule == nil || len(rule.Dependencies) == 0 {
		return r
	}
	cvNode := r.node
	var nodes []*ExplainNode
	for _, dep := range rule.Dependencies {
		d := c.dependencyResult(ctx, rel, rule, dep, depth+1)
		if c.explain {
			nodes = append(nodes, d.node)
		}
		r = and(r, d)
		if r.no() {
			break
		}
	}
	if c.explain {
		// The caveat's own node, when it has one, stays first; relationshipNode
		// hangs the holder's children under the relationship.
		holder := &ExplainNode{Children: nonNil(cvNode)}
		holder.Children = append(holder.Children, nodes...)
		r.node = holder
	}
	return r
}

// dependencyResult evaluates one condition of rule for the delegated grant rel at
// depth: `grantee in TYPE#REL` checks via#REL for the grantee, `grantor can grant`
// checks the rule's permission on the grant's resource for the grantor.
func (c *checker) dependencyResult(ctx context.Context, rel tuple.Relationship, rule *schema.GrantRule, dep schema.Dependency, depth int) result {
	var obj tuple.ObjectRef
	var relation string
	var subject tuple.SubjectRef
	switch dep.Kind {
	case schema.GranteeIn:
		obj, relation, subject = rel.Granted.Via, dep.Relation, rel.Subject
	default:
		obj, relation, subject = rel.Resource, rule.Permission, rel.Granted.By
	}
	if subject.Relation == tuple.Ellipsis {
		subject.Relation = ""
	}
	var r result
	def := c.cs.s.Definitions[obj.Type]
	var target *schema.Relation
	if def != nil {
		target = def.Relations[relation]
	}
	switch {
	case dep.Kind == schema.GranteeIn && obj.Type != dep.Type, target == nil, subject.IsWildcard(), subject.Type == "":
		// The grant was made through an object of another type (or names what the
		// schema no longer has): the condition does not hold.
		r = noResult()
	case depth > c.e.cfg.MaxDepth:
		r = errResult(&DepthError{Limit: c.e.cfg.MaxDepth, At: describe(obj.Type, obj.ID, relation)})
	default:
		sub := c.forSubject(subject)
		r = sub.dispatch(ctx, def, target, []item{{id: obj.ID}}, depth)[0]
		c.absorb(sub)
	}
	if c.explain {
		r.node = &ExplainNode{
			Kind: NodeDependency, Resource: obj, Relation: relation, Expression: dependencyText(dep),
			Subject: subject, Result: r.perm, MissingContext: r.missing, Children: nonNil(r.node),
		}
	}
	return r
}

// dependencyText is a condition as written in the schema.
func dependencyText(dep schema.Dependency) string {
	if dep.Kind == schema.GranteeIn {
		return "grantee in " + dep.Type + "#" + dep.Relation
	}
	return "grantor can grant"
}

func nonNil(n *ExplainNode) []*ExplainNode {
	if n == nil {
		return nil
	}
	return []*ExplainNode{n}
}

// forSubject returns a checker for another subject that shares c's revision, schema,
// reader, context, contextual relationships, explanation mode and goroutine slots.
// Its paths start afresh (cycle cuts are per subject); the depth it is dispatched at
// keeps growing, so dependencies that loop back end at the depth limit.
func (c *checker) forSubject(s tuple.SubjectRef) *checker {
	return &checker{
		e: c.e, cs: c.cs, reader: c.reader, tenant: c.tenant, epoch: c.epoch, rev: c.rev,
		subject: s, context: c.context, contextual: c.contextual, without: c.without, ctxFP: c.ctxFP, relFP: c.relFP,
		explain: c.explain, now: c.now, slots: c.slots,
		subjectIDs: []string{s.ID, tuple.Wildcard}, subjectRels: []string{s.Relation},
		nested: true,
	}
}

// absorb adds a sub-checker's counters to c's.
func (c *checker) absorb(sub *checker) {
	c.dispatches.Add(sub.dispatches.Load())
	c.hits.Add(sub.hits.Load())
	for d, sd := c.maxDepth.Load(), sub.maxDepth.Load(); sd > d; d = c.maxDepth.Load() {
		if c.maxDepth.CompareAndSwap(d, sd) {
			break
		}
	}
}

// dependent reports whether rel is a delegated grant whose counting depends on
// conditions: lookups that gather candidates without checking them treat its answer
// as one to confirm by Check.
func (c *checker) dependent(rel tuple.Relationship) bool {
	if rel.Granted == nil {
		return false
	}
	rule := c.cs.s.GrantRule(rel.Resource.Type, rel.Relation)
	return rule != nil && len(rule.Dependencies) > 0
}
