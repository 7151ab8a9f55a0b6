package write

import (
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// authorityEnd is when an actor's authority, as an allowed explanation shows it, ends
// if nothing else changes, and the relationship whose expiry ends it. A zero At means
// the authority rests on no expiring relationship.
type authorityEnd struct {
	At    time.Time
	Cause *tuple.Relationship
}

// sooner is the end that comes first; a zero end (never) loses to any instant.
func sooner(a, b authorityEnd) authorityEnd {
	switch {
	case a.At.IsZero():
		return b
	case b.At.IsZero() || !b.At.Before(a.At):
		return a
	}
	return b
}

// later is the end that comes last; a zero end (never) wins.
func later(a, b authorityEnd) authorityEnd {
	switch {
	case a.At.IsZero():
		return a
	case b.At.IsZero() || b.At.After(a.At):
		return b
	}
	return a
}

// authorityEnds computes how long an allowed check stays allowed from its explanation:
// a relationship lasts until its expiry and what it leads to; an intersection (and an
// ".all()" arrow) until its first branch ends; an exclusion as long as its base; any
// other node until its last granting branch ends.
//
// The answer never comes after the real end, so a grant bounded by it never outlives
// the actor's authority. It can come before it: the engine stops a union at the first
// branch that grants, and a longer-lived branch it skipped does not count. That errs
// towards refusing a grant, never towards allowing one.
func authorityEnds(n *engine.ExplainNode) authorityEnd {
	switch n.Kind {
	case engine.NodeRelationship:
		end := authorityEnd{}
		if n.Relationship != nil && n.Relationship.HasExpiration() {
			end = authorityEnd{At: n.Relationship.Expiration, Cause: n.Relationship}
		}
		for _, c := range n.Children {
			if c.Kind != engine.NodeCaveat {
				end = sooner(end, authorityEnds(c))
			}
		}
		return end
	case engine.NodeIntersection:
		return allOf(n.Children)
	case engine.NodeExclusion:
		if len(n.Children) == 0 {
			return authorityEnd{At: time.Unix(0, 0)}
		}
		return authorityEnds(n.Children[0])
	case engine.NodeArrow:
		if strings.Contains(n.Expression, ".all(") {
			return allOf(n.Children)
		}
	}
	// A union, a permission, a relation, an any-arrow: the last granting branch. A node
	// that shows no granting branch proves nothing, so its authority is taken to have
	// ended already (at the epoch): bounded grants are then refused, not let through.
	end, found := authorityEnd{}, false
	for _, c := range n.Children {
		if c.Result != engine.HasPermission {
			continue
		}
		if e := authorityEnds(c); !found {
			end, found = e, true
		} else {
			end = later(end, e)
		}
	}
	if !found {
		return authorityEnd{At: time.Unix(0, 0)}
	}
	return end
}

// allOf is the end of a node that needs every child.
func allOf(children []*engine.ExplainNode) authorityEnd {
	end := authorityEnd{}
	for _, c := range children {
		end = sooner(end, authorityEnds(c))
	}
	return end
}
