package memory

import (
	"context"
	"fmt"
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
	tx := &memTx{
		meta:    meta,
		rev:     head + 1,
		snap:    &reader{t: t, rev: head, now: s.opts.Now},
		pending: map[tuple.Key]pendingWrite{},
	}
	if err := fn(ctx, tx); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	t.commit(tx, tx.meta, s.opts.Now())
	return tx.rev, nil
}

// pendingWrite is the final state of one key inside a transaction: a relationship to
// store, or a deletion when rel is nil.
type pendingWrite struct {
	rel *tuple.Relationship
}

type memTx struct {
	meta    datastore.TxMetadata
	rev     datastore.Revision
	snap    *reader
	pending map[tuple.Key]pendingWrite
	order   []tuple.Key // keys in first-write order, for a stable change list
	schema  *string
}

func (tx *memTx) Revision() datastore.Revision { return tx.rev }
func (tx *memTx) Snapshot() datastore.Reader   { return tx.snap }

// live reports whether key exists in the transaction's view: its pending state if it
// wrote the key, the snapshot otherwise.
func (tx *memTx) live(ctx context.Context, key tuple.Key) (bool, error) {
	if p, ok := tx.pending[key]; ok {
		return p.rel != nil, nil
	}
	f := datastore.RelationshipFilter{
		ResourceType: key.ResourceType, ResourceIDs: []string{key.ResourceID}, Relation: key.Relation,
		Subject: &datastore.SubjectFilter{Type: key.SubjectType, IDs: []string{key.SubjectID}, Relations: []string{key.SubjectRel}},
	}
	for _, err := range tx.snap.QueryRelationships(ctx, f, datastore.QueryOptions{Limit: 1}) {
		if err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

func (tx *memTx) set(key tuple.Key, p pendingWrite) {
	if _, ok := tx.pending[key]; !ok {
		tx.order = append(tx.order, key)
	}
	tx.pending[key] = p
}

func (tx *memTx) WriteRelationships(ctx context.Context, updates []datastore.Update) error {
	for _, u := range updates {
		key := u.Relationship.Key()
		switch u.Op {
		case datastore.OpCreate:
			exists, err := tx.live(ctx, key)
			if err != nil {
				return err
			}
			if exists {
				return &datastore.RelationshipExistsError{Relationship: key}
			}
			fallthrough
		case datastore.OpTouch:
			rel := u.Relationship
			tx.set(key, pendingWrite{rel: &rel})
		case datastore.OpDelete:
			tx.set(key, pendingWrite{})
		default:
			return fmt.Errorf("unknown update operation %d: %w", u.Op, datastore.ErrInvalidArgument)
		}
	}
	return nil
}

func (tx *memTx) DeleteRelationships(ctx context.Context, f datastore.RelationshipFilter, limit int) ([]tuple.Relationship, bool, error) {
	var found []tuple.Relationship
	for rel, err := range tx.snap.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
		if err != nil {
			return nil, false, err
		}
		if _, ok := tx.pending[rel.Key()]; ok {
			continue // the pending state decides below
		}
		found = append(found, rel)
	}
	for _, key := range tx.order {
		if p := tx.pending[key]; p.rel != nil && f.Matches(*p.rel) {
			found = append(found, *p.rel)
		}
	}
	tuple.Sort(found)
	more := false
	if limit > 0 && len(found) > limit {
		found, more = found[:limit], true
	}
	for _, rel := range found {
		tx.set(rel.Key(), pendingWrite{})
	}
	return found, more, nil
}

func (tx *memTx) SetMetadata(meta datastore.TxMetadata) { tx.meta = meta }

func (tx *memTx) WriteSchema(_ context.Context, text string) error {
	tx.schema = &text
	return nil
}

// commit applies a finished transaction at its revision and wakes watchers.
func (t *tenant) commit(tx *memTx, meta datastore.TxMetadata, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rec := &datastore.Transaction{Revision: tx.rev, Time: now, Metadata: meta, Schema: tx.schema}
	for _, key := range tx.order {
		p := tx.pending[key]
		prev := t.liveRow(key)
		if prev != nil {
			prev.deleted = tx.rev
			t.liveByType[key.ResourceType]--
			if prev.rel.ExpiredAt(now) {
				prev = nil // it was already absent to every reader
			}
		}
		switch {
		case p.rel != nil:
			r := &row{rel: *p.rel, key: key, created: tx.rev}
			t.forward.ReplaceOrInsert(r)
			t.reverse.ReplaceOrInsert(r)
			t.liveByType[key.ResourceType]++
			kind := datastore.ChangeCreated
			if prev != nil {
				kind = datastore.ChangeTouched
			}
			rec.Changes = append(rec.Changes, datastore.Change{Kind: kind, Relationship: *p.rel})
		case prev != nil:
			rec.Changes = append(rec.Changes, datastore.Change{Kind: datastore.ChangeDeleted, Relationship: prev.rel})
		}
	}
	if tx.schema != nil {
		t.schemas = append(t.schemas, datastore.StoredSchema{Text: *tx.schema, Revision: tx.rev})
	}
	t.log = append(t.log, rec)
	t.commits = append(t.commits, commitTime{rev: tx.rev, at: now})
	t.head = tx.rev
	t.notifyLocked()
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
