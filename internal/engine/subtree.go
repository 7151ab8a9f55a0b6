package engine

import (
	"context"
	"fmt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// maxSubtreeDepth bounds the upward walk that decides whether an object lies inside
// an organisation's subtree, so a malformed hierarchy cannot make it run away.
const maxSubtreeDepth = 64

// Subtree decides whether objects lie inside an organisation's subtree, as of one
// snapshot. The subtree is defined by the schema's arrows: an object lies inside
// org's subtree when it is org itself, or when one of its structural relations (see
// schema.Schema.StructuralRelations: a "parent", an "owner_org") points at an object
// inside the subtree. This is the structure permissions inherit along, so offboarding
// from, or reviewing access within, an organisation reaches exactly the places the
// organisation's permissions reach into.
//
// Answers are memoised for the Subtree's lifetime, which should be one transaction
// or one request; a Subtree is not safe for concurrent use.
type Subtree struct {
	r          datastore.Reader
	org        *tuple.ObjectRef
	structural map[string][]string
	memo       map[tuple.ObjectRef]bool
}

// NewSubtree returns the subtree of org in r, shaped by sch. With a nil org every
// object is inside.
func NewSubtree(r datastore.Reader, sch *schema.Schema, org *tuple.ObjectRef) *Subtree {
	s := &Subtree{r: r, org: org}
	if org != nil {
		s.structural = sch.StructuralRelations()
		s.memo = map[tuple.ObjectRef]bool{*org: true}
	}
	return s
}

// Contains reports whether start lies inside the subtree, walking breadth first up
// the structural relations at most maxSubtreeDepth levels.
func (s *Subtree) Contains(ctx context.Context, start tuple.ObjectRef) (bool, error) {
	if s.org == nil {
		return true, nil
	}
	if v, ok := s.memo[start]; ok {
		return v, nil
	}
	seen := map[tuple.ObjectRef]bool{start: true}
	frontier := []tuple.ObjectRef{start}
	for depth := 0; len(frontier) > 0 && depth < maxSubtreeDepth; depth++ {
		var next []tuple.ObjectRef
		for _, o := range frontier {
			if v, ok := s.memo[o]; ok && v {
				s.memo[start] = true
				return true, nil
			}
			for _, rel := range s.structural[o.Type] {
				f := datastore.RelationshipFilter{ResourceType: o.Type, ResourceIDs: []string{o.ID}, Relation: rel}
				for r, err := range s.r.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
					if err != nil {
						return false, fmt.Errorf("walking the subtree of %s: %w", s.org, err)
					}
					up := r.Subject.Object()
					if up == *s.org {
						s.memo[start] = true
						return true, nil
					}
					if !seen[up] && !up.IsWildcardObject() {
						seen[up] = true
						next = append(next, up)
					}
				}
			}
		}
		frontier = next
	}
	s.memo[start] = false
	return false, nil
}
