package write

import (
	"context"
	"errors"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// errNothingToDelete ends a DeleteEndedGrant transaction that has nothing to do.
var errNothingToDelete = errors.New("nothing to delete")

// DeleteEndedGrant deletes the delegated grant rel, as it was read, when at the
// snapshot the delete commits on it is still stored exactly so (same grantor, caveat
// and expiry) and ended still reports a cause at that snapshot's revision. The cause
// becomes the transaction's reason. A grant re-made, replaced or deleted since it
// was read, or whose conditions hold again, is left alone: deleted is false and
// nothing is written. The grant sweeper deletes through it, so a sweep can never
// remove a grant that counts.
func (w *Writer) DeleteEndedGrant(ctx context.Context, req Request, rel tuple.Relationship, ended func(ctx context.Context, rev datastore.Revision) (cause string, err error)) (rev datastore.Revision, deleted bool, err error) {
	tenant, meta, err := req.begin("write")
	if err != nil {
		return 0, false, err
	}
	rev, err = w.ds.ReadWriteTx(ctx, tenant, datastore.TxMetadata(meta), func(ctx context.Context, tx datastore.ReadWriteTx) error {
		snap := tx.Snapshot()
		stored, err := storedByKey(ctx, snap, rel)
		if err != nil {
			return err
		}
		if stored == nil || !stored.Granted.Equal(rel.Granted) || !stored.Caveat.Equal(rel.Caveat) || !stored.Expiration.Equal(rel.Expiration) {
			return errNothingToDelete
		}
		cause, err := ended(ctx, snap.Revision())
		if err != nil {
			return err
		}
		if cause == "" {
			return errNothingToDelete
		}
		m := datastore.TxMetadata(meta)
		m.Reason = cause
		tx.SetMetadata(m)
		return tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpDelete, Relationship: tuple.Relationship{Resource: rel.Resource, Relation: rel.Relation, Subject: rel.Subject}}})
	})
	if errors.Is(err, errNothingToDelete) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return rev, true, nil
}

// storedByKey returns the relationship stored with rel's key at snap, or nil.
func storedByKey(ctx context.Context, snap datastore.Reader, rel tuple.Relationship) (*tuple.Relationship, error) {
	f := datastore.RelationshipFilter{
		ResourceType: rel.Resource.Type, ResourceIDs: []string{rel.Resource.ID}, Relation: rel.Relation,
		Subject: &datastore.SubjectFilter{Type: rel.Subject.Type, IDs: []string{rel.Subject.ID}, Relations: []string{rel.Subject.Relation}},
	}
	for stored, err := range snap.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
		if err != nil {
			return nil, err
		}
		if stored.Key() == rel.Key() {
			return &stored, nil
		}
	}
	return nil, nil
}
