package write

import (
	"context"
	"iter"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// WriteRelationships applies updates atomically at a new revision, after checking the
// preconditions and, for a delegated write, every update against the grant rules.
func (w *Writer) WriteRelationships(ctx context.Context, req Request, updates []datastore.Update, pre []Precondition) (datastore.Revision, error) {
	tenant, meta, err := req.begin("write")
	if err == nil {
		err = w.validateUpdates(updates)
	}
	if err == nil {
		err = validatePreconditions(pre, w.cfg.MaxPreconditions)
	}
	if err != nil {
		return 0, w.recordDenial(ctx, tenant, meta, updates, err)
	}
	rev, err := w.ds.ReadWriteTx(ctx, tenant, datastore.TxMetadata(meta), func(ctx context.Context, tx datastore.ReadWriteTx) error {
		snap := tx.Snapshot()
		sch, err := w.eng.Schema(ctx, tenant, snap.Revision())
		if err != nil {
			return err
		}
		// A delegate is authorised first, so a write it may not make is refused as
		// such, whatever else is wrong with it.
		stored := updates
		if meta.Actor != nil {
			grants, err := w.authorize(ctx, tenant, snap.Revision(), sch, *meta.Actor, updates)
			if err != nil {
				return err
			}
			tx.SetMetadata(meta.withGrants(grants))
			stored = withGrantor(updates, *meta.Actor, grants)
		}
		for i, u := range updates {
			if u.Op == datastore.OpDelete {
				continue
			}
			if err := sch.ValidateRelationship(u.Relationship); err != nil {
				return invalidf("update %d (%s %s): %v", i, u.Op, u.Relationship, err)
			}
		}
		if err := checkPreconditions(ctx, snap, pre); err != nil {
			return err
		}
		w.limitRelationships(tx, tenant)
		return tx.WriteRelationships(ctx, stored)
	})
	if err != nil {
		return 0, w.recordDenial(ctx, tenant, meta, updates, err)
	}
	return rev, nil
}

// withGrantor returns a copy of a delegated write's updates in which every create and
// touch records its grantor, the actor, and the object through which the actor held
// the right (grants[i].Via, from authorize), so the grant can later be ended when
// what it rests on ends. The caller's updates are left as they are.
func withGrantor(updates []datastore.Update, actor tuple.SubjectRef, grants []datastore.GrantRecord) []datastore.Update {
	out := make([]datastore.Update, len(updates))
	for i, u := range updates {
		if u.Op != datastore.OpDelete && i < len(grants) && grants[i].Via != nil {
			u.Relationship.Granted = &tuple.Grant{By: actor, Via: *grants[i].Via}
		}
		out[i] = u
	}
	return out
}

// DeleteResult is what DeleteRelationships removed.
type DeleteResult struct {
	Revision datastore.Revision
	Deleted  []tuple.Relationship
	// More is set when further relationships matched beyond the limit.
	More bool
}

// DeleteRelationships deletes up to limit relationships matching the filter (0 means
// all) in one transaction. A delegated delete must be allowed for every relationship
// it removes, or nothing is removed.
func (w *Writer) DeleteRelationships(ctx context.Context, req Request, f datastore.RelationshipFilter, limit int, pre []Precondition) (DeleteResult, error) {
	tenant, meta, err := req.begin("delete")
	switch {
	case err != nil:
	case f.Validate() != nil:
		err = invalidf("filter.%v", f.Validate())
	case limit < 0:
		err = invalidf("delete limit %d is negative", limit)
	default:
		err = validatePreconditions(pre, w.cfg.MaxPreconditions)
	}
	if err != nil {
		return DeleteResult{}, w.recordDenial(ctx, tenant, meta, nil, err)
	}
	var res DeleteResult
	var attempted []datastore.Update
	rev, err := w.ds.ReadWriteTx(ctx, tenant, datastore.TxMetadata(meta), func(ctx context.Context, tx datastore.ReadWriteTx) error {
		snap := tx.Snapshot()
		if err := checkPreconditions(ctx, snap, pre); err != nil {
			return err
		}
		deleted, more, err := tx.DeleteRelationships(ctx, f, limit)
		if err != nil {
			return err
		}
		if meta.Actor != nil && len(deleted) > 0 {
			sch, err := w.eng.Schema(ctx, tenant, snap.Revision())
			if err != nil {
				return err
			}
			ups := make([]datastore.Update, len(deleted))
			for i, rel := range deleted {
				ups[i] = datastore.Update{Op: datastore.OpDelete, Relationship: rel}
			}
			attempted = ups
			grants, err := w.authorize(ctx, tenant, snap.Revision(), sch, *meta.Actor, ups)
			if err != nil {
				return err
			}
			tx.SetMetadata(meta.withGrants(grants))
		}
		res.Deleted, res.More = deleted, more
		return nil
	})
	if err != nil {
		return DeleteResult{}, w.recordDenial(ctx, tenant, meta, attempted, err)
	}
	res.Revision = rev
	return res, nil
}

// ImportResult is what an import committed.
type ImportResult struct {
	Count    int64
	Revision datastore.Revision
}

// Import writes a stream of relationships in batches of Config.ImportBatchSize, each
// batch one transaction with touch semantics. Import is idempotent: when it stops
// part-way (an *ImportError says how far it got), importing the same stream again
// resumes it. A batch that would take the tenant over its relationship limit stops
// the import with nothing of that batch written. Memory use is bounded by one batch.
func (w *Writer) Import(ctx context.Context, req Request, rels iter.Seq2[tuple.Relationship, error]) (ImportResult, error) {
	var res ImportResult
	tenant, err := req.tenant()
	if err != nil {
		return ImportResult{}, err
	}
	batch := make([]datastore.Update, 0, w.cfg.ImportBatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		rev, err := w.ds.ReadWriteTx(ctx, tenant, datastore.TxMetadata(req.metadata("import")), func(ctx context.Context, tx datastore.ReadWriteTx) error {
			sch, err := w.eng.Schema(ctx, tenant, tx.Snapshot().Revision())
			if err != nil {
				return err
			}
			for i, u := range batch {
				if err := sch.ValidateRelationship(u.Relationship); err != nil {
					return invalidf("relationship %d (%s): %v", res.Count+int64(i)+1, u.Relationship, err)
				}
			}
			w.limitRelationships(tx, tenant)
			return tx.WriteRelationships(ctx, batch)
		})
		if err != nil {
			return err
		}
		res.Count += int64(len(batch))
		res.Revision = rev
		batch = batch[:0]
		return nil
	}
	seen := make(map[tuple.Key]struct{}, w.cfg.ImportBatchSize)
	for rel, err := range rels {
		if err != nil {
			return res, &ImportError{Committed: res.Count, Err: err}
		}
		if err := tuple.Validate(rel); err != nil {
			return res, &ImportError{Committed: res.Count, Err: invalidf("relationship %d: %v", res.Count+int64(len(batch))+1, err)}
		}
		// A key twice in one batch would make the batch ambiguous; commit first.
		if _, dup := seen[rel.Key()]; dup {
			if err := flush(); err != nil {
				return res, &ImportError{Committed: res.Count, Err: err}
			}
			clear(seen)
		}
		seen[rel.Key()] = struct{}{}
		batch = append(batch, datastore.Update{Op: datastore.OpTouch, Relationship: rel})
		if len(batch) == w.cfg.ImportBatchSize {
			if err := flush(); err != nil {
				return res, &ImportError{Committed: res.Count, Err: err}
			}
			clear(seen)
		}
	}
	if err := flush(); err != nil {
		return res, &ImportError{Committed: res.Count, Err: err}
	}
	return res, nil
}

// validateUpdates checks the shape of a write before any store access.
func (w *Writer) validateUpdates(updates []datastore.Update) error {
	if len(updates) == 0 {
		return invalidf("a write needs at least one update")
	}
	if w.cfg.MaxUpdates > 0 && len(updates) > w.cfg.MaxUpdates {
		return &LimitError{Limit: "updates per write", Max: w.cfg.MaxUpdates, Got: len(updates)}
	}
	seen := make(map[tuple.Key]int, len(updates))
	now := w.cfg.Now()
	for i, u := range updates {
		switch u.Op {
		case datastore.OpCreate, datastore.OpTouch, datastore.OpDelete:
		default:
			return invalidf("update %d: unknown operation %d", i, u.Op)
		}
		if err := tuple.Validate(u.Relationship); err != nil {
			return invalidf("update %d: %v", i, err)
		}
		if u.Relationship.Granted != nil {
			return &GrantedSetError{Update: i, Relationship: u.Relationship.Key()}
		}
		// A relationship written with an expiry that has passed would be absent from
		// the moment it is written: almost always a mistake (a wrong clock, a wrong
		// year), so it is refused rather than accepted silently.
		if u.Op != datastore.OpDelete && u.Relationship.ExpiredAt(now) {
			return invalidf("update %d (%s): expires_at %s is not in the future: the relationship would be absent from the moment it is written",
				i, u.Relationship.Key(), u.Relationship.Expiration.UTC().Format(time.RFC3339))
		}
		key := u.Relationship.Key()
		if j, dup := seen[key]; dup {
			return invalidf("updates %d and %d both change relationship %s; a write may change a relationship once", j, i, key)
		}
		seen[key] = i
	}
	return nil
}
