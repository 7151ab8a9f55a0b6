package governance

import (
	"context"
	"fmt"
	"slices"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Bounds of one what-if question: how many hypothetical removals it may name and how
// many delegated grants it may examine. A question beyond them is refused rather
// than answered in part.
const (
	MaxWhatIfRemovals = 1000
	MaxWhatIfExamined = 20000
)

// WhatIfRequest asks which delegated grants would stop counting if the relationships
// in Remove were deleted at Revision.
type WhatIfRequest struct {
	Tenant   string
	Revision datastore.Revision
	// Remove are the hypothetical removals, matched by key; each must be stored at
	// Revision.
	Remove []tuple.Relationship
}

// EndingGrant is a delegated grant that counts at the revision asked and would stop
// counting after the removals, because at least one `while` condition of its rule
// would stop holding.
type EndingGrant struct {
	Relationship tuple.Relationship
	// Rule is the grant rule's text, as in the schema.
	Rule string
	// Broken are the rule's conditions that would stop holding, in schema order.
	Broken []BrokenCondition
}

// BrokenCondition is one `while` condition that holds now and would not after the
// removals.
type BrokenCondition struct {
	// Condition is the condition as written: "grantee in organization#active_member"
	// or "grantor can grant".
	Condition string
	// Resource, Permission and Subject are the sub-check the condition is: the grant's
	// via object, the relation and the grantee; or the grant's resource, the rule's
	// permission and the grantor.
	Resource   tuple.ObjectRef
	Permission string
	Subject    tuple.SubjectRef
	// Path is why the condition holds now: the relationships of the sub-check's
	// granting branch, from the resource down to the subject.
	Path []tuple.Relationship
	// Ends lists the removed relationships (hypothetical ones, and grants ending with
	// them) that lie on Path: the links whose loss breaks it.
	Ends []tuple.Relationship
}

// WhatIfResult is the answer to a what-if question.
type WhatIfResult struct {
	// Removed are the stored relationships the question removes, as stored.
	Removed []tuple.Relationship
	// Ending are the delegated grants that would stop counting as a consequence, in
	// the order the schema's rules and the store list them.
	Ending []EndingGrant
}

// WhatIf answers which delegated grants would stop counting if req.Remove were
// deleted. It writes nothing. The candidates are the grants of the rules
// schema.RulesDependingOn names for each removed relation (and, in turn, for the
// relations of grants found to end, since a grant can be what another grant's
// condition rests on); each candidate's conditions are evaluated by the engine twice,
// at the revision as stored and over the same revision with the removals taken out,
// exactly as Check evaluates them.
func (r *Reviewer) WhatIf(ctx context.Context, req WhatIfRequest) (WhatIfResult, error) {
	if len(req.Remove) == 0 {
		return WhatIfResult{}, fmt.Errorf("remove: name at least one relationship to remove: %w", datastore.ErrInvalidArgument)
	}
	if len(req.Remove) > MaxWhatIfRemovals {
		return WhatIfResult{}, fmt.Errorf("remove: %d relationships are more than the limit of %d per question: %w", len(req.Remove), MaxWhatIfRemovals, datastore.ErrInvalidArgument)
	}
	sch, err := r.eng.Schema(ctx, req.Tenant, req.Revision)
	if err != nil {
		return WhatIfResult{}, err
	}
	snap := r.ds.SnapshotReader(req.Tenant, req.Revision)
	var res WhatIfResult
	removed := map[tuple.Key]bool{}
	for i, rel := range req.Remove {
		if err := tuple.Validate(rel); err != nil {
			return WhatIfResult{}, fmt.Errorf("remove %d (%s): %w", i, tuple.Format(rel), err)
		}
		if removed[rel.Key()] {
			continue
		}
		stored, err := lookupKey(ctx, snap, rel.Key())
		if err != nil {
			return WhatIfResult{}, err
		}
		if stored == nil {
			return WhatIfResult{}, fmt.Errorf("remove %d: %s is not stored at revision %d, so removing it changes nothing: %w",
				i, tuple.Format(rel), req.Revision, datastore.ErrInvalidArgument)
		}
		removed[rel.Key()] = true
		res.Removed = append(res.Removed, *stored)
	}
	return r.whatIf(ctx, req.Tenant, req.Revision, sch, res)
}

// whatIf finds the grants ending when res.Removed (all stored) are removed.
func (r *Reviewer) whatIf(ctx context.Context, tenant string, rev datastore.Revision, sch *schema.Schema, res WhatIfResult) (WhatIfResult, error) {
	snap := r.ds.SnapshotReader(tenant, rev)
	now := r.now()
	gone := map[tuple.Key]bool{} // removed or ending
	for _, rel := range res.Removed {
		gone[rel.Key()] = true
	}
	ends := slices.Clone(res.Removed) // what paths may break on
	scanned := map[string]bool{}      // "type#relation" of grants examined
	examined := 0
	frontier := slices.Clone(res.Removed)
	for len(frontier) > 0 {
		var next []tuple.Relationship
		for _, cand := range candidateRelations(sch, frontier, scanned) {
			f := datastore.RelationshipFilter{ResourceType: cand.typ, Relation: cand.relation}
			for g, err := range snap.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
				if err != nil {
					return WhatIfResult{}, err
				}
				if g.Granted == nil || gone[g.Key()] || g.ExpiredAt(now) {
					continue
				}
				if examined++; examined > MaxWhatIfExamined {
					return WhatIfResult{}, fmt.Errorf("the question reaches more than %d delegated grants; remove fewer relationships at once: %w",
						MaxWhatIfExamined, datastore.ErrResourceExhausted)
				}
				eg, ending, err := r.ending(ctx, tenant, rev, g, cand.rule, res.Removed)
				if err != nil {
					return WhatIfResult{}, err
				}
				if ending {
					gone[g.Key()] = true
					res.Ending = append(res.Ending, eg)
					ends = append(ends, g)
					next = append(next, g)
				}
			}
		}
		frontier = next
	}
	// The paths were recorded before all ending grants were known: name every lost
	// link on each.
	for i := range res.Ending {
		for j := range res.Ending[i].Broken {
			b := &res.Ending[i].Broken[j]
			b.Ends = nil
			for _, step := range b.Path {
				if gone[step.Key()] {
					b.Ends = append(b.Ends, step)
				}
			}
		}
	}
	return res, nil
}

type candidate struct {
	typ, relation string
	rule          *schema.GrantRule
}

// candidateRelations lists the relations whose delegated grants a removal of one of
// rels can end and that were not scanned yet, marking them scanned.
func candidateRelations(sch *schema.Schema, rels []tuple.Relationship, scanned map[string]bool) []candidate {
	var out []candidate
	for _, rel := range rels {
		for _, d := range sch.RulesDependingOn(rel.Resource.Type, rel.Relation) {
			for _, gr := range d.Rule.Relations {
				k := d.Definition + "#" + gr
				if scanned[k] {
					continue
				}
				scanned[k] = true
				out = append(out, candidate{typ: d.Definition, relation: gr, rule: d.Rule})
			}
		}
	}
	return out
}

// ending evaluates every condition of rule for grant g as stored and without
// removed, and reports the grant as ending when all conditions hold now (it counts)
// and some would not.
func (r *Reviewer) ending(ctx context.Context, tenant string, rev datastore.Revision, g tuple.Relationship, rule *schema.GrantRule, removed []tuple.Relationship) (EndingGrant, bool, error) {
	eg := EndingGrant{Relationship: g, Rule: rule.Text}
	for _, dep := range rule.Dependencies {
		req := conditionCheck(tenant, rev, g, rule, dep)
		if req == nil {
			return EndingGrant{}, false, nil // the condition does not hold now: nothing to end
		}
		req.Explain = true
		before, err := r.eng.Check(ctx, *req)
		if err != nil {
			return EndingGrant{}, false, err
		}
		if before.Permissionship == engine.NoPermission {
			return EndingGrant{}, false, nil // already not counting; the sweeper's business
		}
		req.Explain = false
		req.Without = removed
		after, err := r.eng.Check(ctx, *req)
		if err != nil {
			return EndingGrant{}, false, err
		}
		if after.Permissionship != engine.NoPermission {
			continue
		}
		b := BrokenCondition{Condition: conditionText(dep), Resource: req.Resource, Permission: req.Permission, Subject: req.Subject}
		for _, step := range before.Explanation.GrantingPath() {
			if step.Kind == engine.NodeRelationship && step.Relationship != nil {
				b.Path = append(b.Path, *step.Relationship)
			}
		}
		eg.Broken = append(eg.Broken, b)
	}
	return eg, len(eg.Broken) > 0, nil
}

// conditionCheck is the check condition dep of rule is for grant g, or nil when it
// cannot hold at all (the grant was made through an object of another type).
func conditionCheck(tenant string, rev datastore.Revision, g tuple.Relationship, rule *schema.GrantRule, dep schema.Dependency) *engine.CheckRequest {
	req := engine.CheckRequest{Tenant: tenant, Revision: rev}
	if dep.Kind == schema.GranteeIn {
		if g.Granted.Via.Type != dep.Type {
			return nil
		}
		req.Resource, req.Permission, req.Subject = g.Granted.Via, dep.Relation, g.Subject
	} else {
		req.Resource, req.Permission, req.Subject = g.Resource, rule.Permission, g.Granted.By
	}
	if req.Subject.IsWildcard() || req.Subject.Type == "" {
		return nil
	}
	if req.Subject.Relation == tuple.Ellipsis {
		req.Subject.Relation = ""
	}
	return &req
}

// conditionText is a condition as the schema writes it.
func conditionText(dep schema.Dependency) string {
	if dep.Kind == schema.GranteeIn {
		return "grantee in " + dep.Type + "#" + dep.Relation
	}
	return "grantor can grant"
}
