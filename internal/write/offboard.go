package write

import (
	"context"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// OffboardResult is what an offboarding removed.
type OffboardResult struct {
	Revision datastore.Revision
	Removed  []tuple.Relationship
}

// Offboard removes, in one transaction, every relationship whose subject is the given
// object (with any subject relation) — everywhere, or only on objects inside org's
// subtree when org is set.
//
// The subtree is the one engine.Subtree defines: the objects whose structural
// relations (a "parent", an "owner_org") lead up to org, so offboarding from an
// organisation reaches exactly the places the organisation's permissions reach into.
func (w *Writer) Offboard(ctx context.Context, req Request, subject tuple.SubjectRef, org *tuple.ObjectRef) (OffboardResult, error) {
	tenant, meta, err := req.begin("offboard")
	if err == nil {
		if verr := tuple.ValidateObject("subject", subject.Object()); verr != nil {
			err = invalidf("%v", verr)
		}
	}
	if err == nil && org != nil {
		if verr := tuple.ValidateObject("organization", *org); verr != nil {
			err = invalidf("%v", verr)
		}
	}
	if err != nil {
		return OffboardResult{}, w.recordDenial(ctx, tenant, meta, nil, err)
	}
	if org != nil {
		meta.Organizations = []tuple.ObjectRef{*org}
	}
	var res OffboardResult
	var attempted []datastore.Update
	rev, err := w.ds.ReadWriteTx(ctx, tenant, datastore.TxMetadata(meta), func(ctx context.Context, tx datastore.ReadWriteTx) error {
		res = OffboardResult{}
		snap := tx.Snapshot()
		sch, err := w.eng.Schema(ctx, tenant, snap.Revision())
		if err != nil {
			return err
		}
		if org != nil {
			if _, ok := sch.Definitions[org.Type]; !ok {
				return invalidf("organization type %q is not defined in the schema", org.Type)
			}
		}
		inside := engine.NewSubtree(snap, sch, org)
		var ups []datastore.Update
		sf := datastore.SubjectFilter{Type: subject.Type, IDs: []string{subject.ID}}
		for rel, err := range snap.ReverseQueryRelationships(ctx, sf, datastore.ReverseQueryOptions{}) {
			if err != nil {
				return err
			}
			ok, err := inside.Contains(ctx, rel.Resource)
			if err != nil {
				return err
			}
			if ok {
				res.Removed = append(res.Removed, rel)
				ups = append(ups, datastore.Update{Op: datastore.OpDelete, Relationship: rel})
			}
		}
		attempted = ups
		if meta.Actor != nil && len(ups) > 0 {
			grants, err := w.authorize(ctx, tenant, snap.Revision(), sch, *meta.Actor, ups)
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
		return OffboardResult{}, w.recordDenial(ctx, tenant, meta, attempted, err)
	}
	res.Revision = rev
	return res, nil
}
