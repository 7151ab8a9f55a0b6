package write

import (
	"context"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
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
		removed, err := offboardSelection(ctx, snap, sch, subject, org)
		if err != nil {
			return err
		}
		res.Removed = removed
		ups := deletes(removed)
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

// PreviewOffboard returns what Offboard would remove at the tenant's head revision,
// and whether the acting subject (if any) would be allowed to, without writing or
// auditing anything. Revision is the head revision it read.
func (w *Writer) PreviewOffboard(ctx context.Context, req Request, subject tuple.SubjectRef, org *tuple.ObjectRef) (OffboardResult, error) {
	tenant, meta, err := req.begin("offboard")
	if err != nil {
		return OffboardResult{}, err
	}
	if verr := tuple.ValidateObject("subject", subject.Object()); verr != nil {
		return OffboardResult{}, invalidf("%v", verr)
	}
	if org != nil {
		if verr := tuple.ValidateObject("organization", *org); verr != nil {
			return OffboardResult{}, invalidf("%v", verr)
		}
	}
	head, err := w.ds.HeadRevision(ctx, tenant)
	if err != nil {
		return OffboardResult{}, err
	}
	snap := w.ds.SnapshotReader(tenant, head)
	sch, err := w.eng.Schema(ctx, tenant, head)
	if err != nil {
		return OffboardResult{}, err
	}
	removed, err := offboardSelection(ctx, snap, sch, subject, org)
	if err != nil {
		return OffboardResult{}, err
	}
	if meta.Actor != nil && len(removed) > 0 {
		if _, err := w.authorize(ctx, tenant, head, sch, *meta.Actor, deletes(removed)); err != nil {
			return OffboardResult{}, err
		}
	}
	return OffboardResult{Revision: head, Removed: removed}, nil
}

// offboardSelection is what offboarding subject (inside org's subtree, when set)
// removes from snap: every relationship whose subject is the subject's object.
func offboardSelection(ctx context.Context, snap datastore.Reader, sch *schema.Schema, subject tuple.SubjectRef, org *tuple.ObjectRef) ([]tuple.Relationship, error) {
	if org != nil {
		if _, ok := sch.Definitions[org.Type]; !ok {
			return nil, invalidf("organization type %q is not defined in the schema", org.Type)
		}
	}
	inside := engine.NewSubtree(snap, sch, org)
	var out []tuple.Relationship
	sf := datastore.SubjectFilter{Type: subject.Type, IDs: []string{subject.ID}}
	for rel, err := range snap.ReverseQueryRelationships(ctx, sf, datastore.ReverseQueryOptions{}) {
		if err != nil {
			return nil, err
		}
		ok, err := inside.Contains(ctx, rel.Resource)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, rel)
		}
	}
	return out, nil
}

func deletes(rels []tuple.Relationship) []datastore.Update {
	ups := make([]datastore.Update, len(rels))
	for i, r := range rels {
		ups[i] = datastore.Update{Op: datastore.OpDelete, Relationship: r}
	}
	return ups
}
