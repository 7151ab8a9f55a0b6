package memory

import (
	"context"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// ReadWriteTx implements datastore.Datastore.
func (s *Store) ReadWriteTx(ctx context.Context, name string, meta datastore.TxMetadata, fn func(context.Context, datastore.ReadWriteTx) error) (datastore.Revision, error) {
	t, err := s.tenant(name)
	if err != nil {
		return 0, err
	}
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	t.mu.RLock()
	head, deleted, closed := t.head, t.deleted, t.closed
	t.mu.RUnlock()
	if closed {
		return 0, datastore.ErrClosed
	}
	if deleted {
		return 0, datastore.TenantNotFound(name)
	}
	snap := &reader{t: t, rev: head, now: s.opts.Now}
	tx := &memTx{meta: meta, rev: head + 1, snap: snap, writes: datastore.NewWriteSet(datastore.PointLookup(snap))}
	if err := fn(ctx, tx); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := t.commit(name, tx, tx.meta, s.opts.Now()); err != nil {
		return 0, err
	}
	return tx.rev, nil
}

// memTx buffers a transaction's writes in a write set that commit applies.
type memTx struct {
	meta    datastore.TxMetadata
	rev     datastore.Revision
	snap    *reader
	writes  *datastore.WriteSet
	schema  *string
	limit   int64 // LimitRelationships; 0 is none
	records datastore.RecordWrites
}

func (tx *memTx) Revision() datastore.Revision { return tx.rev }
func (tx *memTx) Snapshot() datastore.Reader   { return tx.snap }

func (tx *memTx) WriteRelationships(ctx context.Context, updates []datastore.Update) error {
	return tx.writes.Write(ctx, updates)
}

func (tx *memTx) DeleteRelationships(ctx context.Context, f datastore.RelationshipFilter, limit int) ([]tuple.Relationship, bool, error) {
	return tx.writes.DeleteMatching(ctx, tx.snap, f, limit)
}

func (tx *memTx) SetMetadata(meta datastore.TxMetadata) { tx.meta = meta }

func (tx *memTx) LimitRelationships(max int64) { tx.limit = max }

func (tx *memTx) WriteSchema(_ context.Context, text string) error {
	tx.schema = &text
	return nil
}

// commit applies a finished transaction at its revision and wakes watchers, unless
// it breaks the transaction's relationship limit.
func (t *tenant) commit(name string, tx *memTx, meta datastore.TxMetadata, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tx.limit > 0 {
		if err := t.checkLimit(name, tx); err != nil {
			return err
		}
	}
	rec := &datastore.Transaction{Revision: tx.rev, Time: now, Metadata: meta, Schema: tx.schema}
	for _, p := range tx.writes.Pending() {
		key := p.Relationship.Key()
		prev := t.liveRow(key)
		if prev != nil {
			prev.deleted = tx.rev
			t.liveByType[key.ResourceType]--
			if prev.rel.ExpiredAt(now) {
				prev = nil // it was already absent to every reader
			}
		}
		switch {
		case !p.Deleted:
			r := &row{rel: p.Relationship, key: key, created: tx.rev}
			t.forward.ReplaceOrInsert(r)
			t.reverse.ReplaceOrInsert(r)
			t.liveByType[key.ResourceType]++
			kind := datastore.ChangeCreated
			if prev != nil {
				kind = datastore.ChangeTouched
			}
			rec.Changes = append(rec.Changes, datastore.Change{Kind: kind, Relationship: p.Relationship})
		case prev != nil:
			rec.Changes = append(rec.Changes, datastore.Change{Kind: datastore.ChangeDeleted, Relationship: prev.rel})
		}
	}
	if tx.schema != nil {
		t.schemas = append(t.schemas, datastore.StoredSchema{Text: *tx.schema, Revision: tx.rev})
	}
	rec.RecordChanges = t.applyRecords(tx.records.Pending(), tx.rev)
	t.log = append(t.log, rec)
	t.commits = append(t.commits, commitTime{rev: tx.rev, at: now})
	t.head = tx.rev
	t.notifyLocked()
	return nil
}

// checkLimit applies the transaction's relationship limit before anything is changed:
// each key written ends its stored version, if it has one, and a key not deleted
// stores a new one.
func (t *tenant) checkLimit(name string, tx *memTx) error {
	var stored, after int64
	for _, n := range t.liveByType {
		stored += n
	}
	after = stored
	for _, p := range tx.writes.Pending() {
		if t.liveRow(p.Relationship.Key()) != nil {
			after--
		}
		if !p.Deleted {
			after++
		}
	}
	return datastore.CheckRelationshipLimit(name, tx.limit, stored, after)
}

// liveRow returns the row of key that is live at the head (not deleted), expired or
// not; nil when there is none.
func (t *tenant) liveRow(key tuple.Key) *row {
	var found *row
	t.forward.DescendLessOrEqual(&row{key: key, created: ^datastore.Revision(0)}, func(x *row) bool {
		if x.key != key {
			return false
		}
		if x.deleted == 0 {
			found = x
			return false
		}
		return true
	})
	return found
}
