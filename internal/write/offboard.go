package write

import (
	"context"
	"fmt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// maxSubtreeDepth bounds the upward walk that decides whether an object lies inside
// an organisation's subtree.
const maxSubtreeDepth = 64

// OffboardResult is what an offboarding removed.
type OffboardResult struct {
	Revision datastore.Revision
	Removed  []tuple.Relationship
}

// Offboard removes, in one transaction, every relationship whose subject is the given
// object (with any subject relation) — everywhere, or only on objects inside org's
// subtree when org is set.
//
// The subtree is defined by the schema's arrows: an object lies inside org's subtree
// when it is org itself, or when one of its relations that some arrow walks (a
// "parent", an "owner_org") points at an object inside the subtree. This is the same
// structure permissions inherit along, so offboarding from an organisation reaches
// exactly the places the organisation's permissions reach into.
func (w *Writer) Offboard(ctx context.Context, req Request, subject tuple.SubjectRef, org *tuple.ObjectRef) (OffboardResult, error) {
	if err := tuple.ValidateObject("subject", subject.Object()); err != nil {
		return OffboardResult{}, invalidf("%v", err)
	}
	if org != nil {
		if err := tuple.ValidateObject("organization", *org); err != nil {
			return OffboardResult{}, invalidf("%v", err)
		}
	}
	meta := req.metadata("offboard")
	if org != nil {
		meta.Organizations = []tuple.ObjectRef{*org}
	}
	tenant := req.tenant()
	var res OffboardResult
	var attempted []datastore.Update
	rev, err := w.ds.ReadWriteTx(ctx, tenant, datastore.TxMetadata(meta), func(ctx context.Context, tx datastore.ReadWriteTx) error {
		res = OffboardResult{}
		snap := tx.Snapshot()
		sch, err := w.schemaAt(ctx, tenant, snap.Revision())
		if err != nil {
			return err
		}
		if org != nil {
			if _, ok := sch.Definitions[org.Type]; !ok {
				return invalidf("organization type %q is not defined in the schema", org.Type)
			}
		}
		inside := SubtreeTest(ctx, snap, sch, org)
		var ups []datastore.Update
		sf := datastore.SubjectFilter{Type: subject.Type, IDs: []string{subject.ID}}
		for rel, err := range snap.ReverseQueryRelationships(ctx, sf, datastore.ReverseQueryOptions{}) {
			if err != nil {
				return err
			}
			ok, err := inside(rel.Resource)
			if err != nil {
				return err
			}
			if ok {
				res.Removed = append(res.Removed, rel)
				ups = append(ups, datastore.Update{Op: datastore.OpDelete, Relationship: rel})
			}
		}
		attempted = ups
		if req.Actor != nil && len(ups) > 0 {
			grants, err := w.authorize(ctx, tenant, snap.Revision(), sch, *req.Actor, ups)
			if err != nil {
				return err
			}
			tx.SetMetadata(meta.withGrants(grants))
		}
		if len(ups) == 0 {
			return nil
		}
		return tx.WriteRelationships(ctx, ups)
	})
	if err != nil {
		return OffboardResult{}, w.recordDenial(ctx, tenant, meta, attempted, w.translate(tenant, err))
	}
	res.Revision = rev
	return res, nil
}

// SubtreeTest returns a function reporting whether an object lies in org's subtree (see
// Offboard); with no org every object does. Answers are memoised for the transaction.
func SubtreeTest(ctx context.Context, snap datastore.Reader, sch *schema.Schema, org *tuple.ObjectRef) func(tuple.ObjectRef) (bool, error) {
	if org == nil {
		return func(tuple.ObjectRef) (bool, error) { return true, nil }
	}
	structural := StructuralRelations(sch)
	memo := map[tuple.ObjectRef]bool{*org: true}
	return func(start tuple.ObjectRef) (bool, error) {
		if v, ok := memo[start]; ok {
			return v, nil
		}
		// Breadth-first walk up the structural relations.
		seen := map[tuple.ObjectRef]bool{start: true}
		frontier := []tuple.ObjectRef{start}
		for depth := 0; len(frontier) > 0 && depth < maxSubtreeDepth; depth++ {
			var next []tuple.ObjectRef
			for _, o := range frontier {
				if v, ok := memo[o]; ok && v {
					memo[start] = true
					return true, nil
				}
				for _, rel := range structural[o.Type] {
					f := datastore.RelationshipFilter{ResourceType: o.Type, ResourceIDs: []string{o.ID}, Relation: rel}
					for r, err := range snap.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
						if err != nil {
							return false, fmt.Errorf("walking the subtree of %s: %w", org, err)
						}
						up := r.Subject.Object()
						if up == *org {
							memo[start] = true
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
		memo[start] = false
		return false, nil
	}
}

// StructuralRelations lists, per definition, the relations some arrow walks (the left
// side of "->" or of .any()/.all()): the relations that shape the object hierarchy.
func StructuralRelations(sch *schema.Schema) map[string][]string {
	out := map[string][]string{}
	seen := map[[2]string]bool{}
	var walk func(def string, e schema.Expr)
	walk = func(def string, e schema.Expr) {
		switch x := e.(type) {
		case *schema.Union:
			for _, c := range x.Children {
				walk(def, c)
			}
		case *schema.Intersection:
			for _, c := range x.Children {
				walk(def, c)
			}
		case *schema.Exclusion:
			walk(def, x.Base)
			walk(def, x.Subtract)
		case *schema.Arrow:
			k := [2]string{def, x.Tupleset}
			if !seen[k] {
				seen[k] = true
				out[def] = append(out[def], x.Tupleset)
			}
		}
	}
	for name, d := range sch.Definitions {
		for _, r := range d.Relations {
			if r.Kind == schema.KindPermission && r.Expr != nil {
				walk(name, r.Expr)
			}
		}
	}
	return out
}
