package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// lookupBatch is how many keys one read transaction checks for a batch of creates.
const lookupBatch = 1024

// ReadWriteTx implements datastore.Datastore. fn reads the committed state through
// short read transactions and buffers its writes; the commit then applies them in one
// bbolt write transaction, fsynced before ReadWriteTx returns.
func (s *Store) ReadWriteTx(ctx context.Context, name string, meta datastore.TxMetadata, fn func(context.Context, datastore.ReadWriteTx) error) (datastore.Revision, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	t, err := s.tenant(name)
	if err != nil {
		return 0, err
	}
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	head, _, _, gone := t.state()
	if gone != nil {
		return 0, gone
	}
	tx := &boltTx{
		meta:    meta,
		s:       s,
		t:       t,
		rev:     head + 1,
		snap:    &reader{s: s, t: t, rev: head},
		pending: map[tuple.Key]*tuple.Relationship{},
	}
	if err := fn(ctx, tx); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.commit(t, tx); err != nil {
		return 0, err
	}
	return tx.rev, nil
}

type boltTx struct {
	meta datastore.TxMetadata
	s    *Store
	t    *tenant
	rev  datastore.Revision
	snap *reader
	// pending is the final state of every key the transaction wrote: the relationship
	// to store, or nil for a deletion.
	pending map[tuple.Key]*tuple.Relationship
	order   []tuple.Key
	schema  *string
}

func (tx *boltTx) Revision() datastore.Revision { return tx.rev }
func (tx *boltTx) Snapshot() datastore.Reader   { return tx.snap }

func (tx *boltTx) set(key tuple.Key, rel *tuple.Relationship) {
	if _, ok := tx.pending[key]; !ok {
		tx.order = append(tx.order, key)
	}
	tx.pending[key] = rel
}

func (tx *boltTx) SetMetadata(meta datastore.TxMetadata) { tx.meta = meta }

func (tx *boltTx) WriteSchema(_ context.Context, text string) error {
	tx.schema = &text
	return nil
}

func (tx *boltTx) WriteRelationships(ctx context.Context, updates []datastore.Update) error {
	var lookup []tuple.Key
	for i := range updates {
		u := &updates[i]
		key := u.Relationship.Key()
		if err := checkKey(key); err != nil {
			return err
		}
		switch u.Op {
		case datastore.OpCreate:
			if _, ok := tx.pending[key]; !ok {
				lookup = append(lookup, key)
			}
		case datastore.OpTouch, datastore.OpDelete:
		default:
			return fmt.Errorf("unknown update operation %d for %s: %w", u.Op, key, datastore.ErrInvalidArgument)
		}
	}
	live, err := tx.liveInSnapshot(ctx, lookup)
	if err != nil {
		return err
	}
	for i := range updates {
		u := &updates[i]
		key := u.Relationship.Key()
		switch u.Op {
		case datastore.OpCreate:
			if p, ok := tx.pending[key]; ok {
				if p != nil {
					return &datastore.RelationshipExistsError{Relationship: key}
				}
			} else if live[key] {
				return &datastore.RelationshipExistsError{Relationship: key}
			}
			fallthrough
		case datastore.OpTouch:
			rel := u.Relationship
			tx.set(key, &rel)
		case datastore.OpDelete:
			tx.set(key, nil)
		}
	}
	return nil
}

// liveInSnapshot reports which keys have a live, unexpired version in the snapshot.
func (tx *boltTx) liveInSnapshot(ctx context.Context, keys []tuple.Key) (map[tuple.Key]bool, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, tuple.Key.Compare)
	live := map[tuple.Key]bool{}
	now := tx.s.opts.Now()
	var prefix []byte
	for len(sorted) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch := sorted[:min(len(sorted), lookupBatch)]
		sorted = sorted[len(batch):]
		err := tx.s.db.View(func(btx *bbolt.Tx) error {
			c := btx.Bucket(bucketRels).Cursor()
			for i := range batch {
				prefix = forwardPrefix(prefix[:0], tx.t.id, &batch[i])
				for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+revLen; k, v = c.Next() {
					deleted, ex, err := valueDeleted(v)
					if err != nil {
						return err
					}
					if deleted == 0 && !expiredAt(ex, now) {
						live[batch[i]] = true
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, mapErr(err)
		}
	}
	return live, nil
}

func (tx *boltTx) DeleteRelationships(ctx context.Context, f datastore.RelationshipFilter, limit int) ([]tuple.Relationship, bool, error) {
	// The transaction's view is the snapshot overlaid with its pending writes; walk
	// both in key order and stop once limit+1 matches prove there are more.
	var mine []tuple.Relationship
	for _, key := range tx.order {
		if p := tx.pending[key]; p != nil && f.Matches(*p) {
			mine = append(mine, *p)
		}
	}
	tuple.Sort(mine)
	var found []tuple.Relationship
	full := func() bool { return limit > 0 && len(found) > limit }
	for rel, err := range tx.snap.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
		if err != nil {
			return nil, false, err
		}
		key := rel.Key()
		if _, ok := tx.pending[key]; ok {
			continue // the pending state decides
		}
		for len(mine) > 0 && mine[0].Key().Compare(key) < 0 && !full() {
			found, mine = append(found, mine[0]), mine[1:]
		}
		if full() {
			break
		}
		found = append(found, rel)
	}
	for len(mine) > 0 && !full() {
		found, mine = append(found, mine[0]), mine[1:]
	}
	more := false
	if limit > 0 && len(found) > limit {
		found, more = found[:limit], true
	}
	for _, rel := range found {
		tx.set(rel.Key(), nil)
	}
	return found, more, nil
}

// commit applies a finished transaction in one bbolt write transaction and then
// publishes the new head.
func (s *Store) commit(t *tenant, tx *boltTx) error {
	now := s.opts.Now()
	if now.Before(t.last) {
		now = t.last // commit times never go backwards, so the log is ordered by time too
	}
	rec := &datastore.Transaction{Revision: tx.rev, Time: now, Metadata: tx.meta, Schema: tx.schema}
	err := s.db.Update(func(btx *bbolt.Tx) error {
		return s.apply(btx, t, tx, rec)
	})
	if err != nil {
		return mapErr(err)
	}
	t.last = now
	t.mu.Lock()
	t.head = tx.rev
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	return nil
}

// apply writes the transaction's rows, log record, schema and counters.
func (s *Store) apply(btx *bbolt.Tx, t *tenant, tx *boltTx, rec *datastore.Transaction) error {
	tenants := btx.Bucket(bucketTenants)
	v := tenants.Get([]byte(t.name))
	if v == nil {
		return datastore.TenantNotFound(t.name)
	}
	trec, err := decodeTenantRecord(v)
	if err != nil {
		return err
	}
	if trec.id != t.id {
		return datastore.TenantNotFound(t.name)
	}
	if trec.head+1 != tx.rev {
		return fmt.Errorf("tenant %q: commit at revision %d but the head is %d", t.name, tx.rev, trec.head)
	}
	w := rowWriter{
		btx: btx, tenant: t.id, rev: tx.rev, now: rec.Time,
		rels: btx.Bucket(bucketRels), rrels: btx.Bucket(bucketRevRels),
		dead: btx.Bucket(bucketDead), expiry: btx.Bucket(bucketExpiry),
		counts: map[string]int64{},
	}
	keys := slices.Clone(tx.order)
	slices.SortFunc(keys, tuple.Key.Compare)
	for i := range keys {
		c, err := w.write(&keys[i], tx.pending[keys[i]])
		if err != nil {
			return err
		}
		if c != nil {
			rec.Changes = append(rec.Changes, *c)
		}
	}
	if err := w.flushCounts(); err != nil {
		return err
	}
	rk := tenantRevKey(t.id, tx.rev)
	if err := btx.Bucket(bucketLog).Put(rk, appendTransaction(nil, rec)); err != nil {
		return err
	}
	if err := btx.Bucket(bucketTimes).Put(rk, appendTime(nil, rec.Time)); err != nil {
		return err
	}
	if tx.schema != nil {
		if err := btx.Bucket(bucketSchemas).Put(rk, []byte(*tx.schema)); err != nil {
			return err
		}
	}
	trec.head, trec.last = tx.rev, rec.Time
	trec.txCount++
	return tenants.Put([]byte(t.name), trec.encode())
}

// rowWriter applies relationship writes inside one bbolt write transaction. Keys and
// values handed to bbolt must stay untouched until the commit, so each is built in
// its own slice.
type rowWriter struct {
	btx                       *bbolt.Tx
	tenant                    uint32
	rev                       datastore.Revision
	now                       time.Time
	rels, rrels, dead, expiry *bbolt.Bucket
	counts                    map[string]int64
	prefix, extras            []byte
}

// write makes rel (nil: nothing) the live state of key and returns the change it
// makes, if any.
func (w *rowWriter) write(key *tuple.Key, rel *tuple.Relationship) (*datastore.Change, error) {
	w.prefix = forwardPrefix(w.prefix[:0], w.tenant, key)
	// The live version, if any, is the one not yet deleted.
	var liveKey, liveVal []byte
	c := w.rels.Cursor()
	for k, v := c.Seek(w.prefix); k != nil && bytes.HasPrefix(k, w.prefix) && len(k) == len(w.prefix)+revLen; k, v = c.Next() {
		deleted, _, err := valueDeleted(v)
		if err != nil {
			return nil, err
		}
		if deleted == 0 {
			liveKey, liveVal = k, v
		}
	}
	var prev *tuple.Relationship // the live version as readers see it now
	var prevExtras []byte
	if liveVal != nil {
		_, ex, _ := valueDeleted(liveVal)
		if !expiredAt(ex, w.now) {
			p := relFromKey(*key)
			if err := decodeExtras(ex, &p); err != nil {
				return nil, err
			}
			prev, prevExtras = &p, ex
		}
	}
	if rel != nil {
		w.extras = appendExtras(w.extras[:0], rel)
		if prev != nil && bytes.Equal(prevExtras, w.extras) {
			// Rewriting an identical relationship changes nothing a reader can see.
			return &datastore.Change{Kind: datastore.ChangeTouched, Relationship: *rel}, nil
		}
	}
	if liveVal != nil {
		if err := w.markDeleted(key, liveKey, liveVal); err != nil {
			return nil, err
		}
	}
	if rel == nil {
		if prev == nil {
			return nil, nil
		}
		return &datastore.Change{Kind: datastore.ChangeDeleted, Relationship: *prev}, nil
	}
	if err := w.insert(key, rel); err != nil {
		return nil, err
	}
	kind := datastore.ChangeCreated
	if prev != nil {
		kind = datastore.ChangeTouched
	}
	return &datastore.Change{Kind: kind, Relationship: *rel}, nil
}

// markDeleted ends a live version at the writer's revision in both indexes and queues
// it for garbage collection.
func (w *rowWriter) markDeleted(key *tuple.Key, fk, val []byte) error {
	created := createdOf(fk)
	nv, err := withDeleted(val, w.rev)
	if err != nil {
		return err
	}
	if err := w.rels.Put(bytes.Clone(fk), nv); err != nil {
		return err
	}
	rk := appendRev(reversePrefix(nil, w.tenant, key), created)
	if err := w.rrels.Put(rk, nv); err != nil {
		return err
	}
	if err := w.dead.Put(deadKey(nil, w.tenant, w.rev, key, created), nil); err != nil {
		return err
	}
	w.counts[key.ResourceType]--
	return nil
}

// insert stores a new version created at the writer's revision.
func (w *rowWriter) insert(key *tuple.Key, rel *tuple.Relationship) error {
	val := appendValue(nil, 0, rel)
	fk := appendRev(forwardPrefix(nil, w.tenant, key), w.rev)
	if err := w.rels.Put(fk, val); err != nil {
		return err
	}
	rk := appendRev(reversePrefix(nil, w.tenant, key), w.rev)
	if err := w.rrels.Put(rk, val); err != nil {
		return err
	}
	if rel.HasExpiration() {
		if err := w.expiry.Put(expiryKey(nil, w.tenant, rel.Expiration, key, w.rev), nil); err != nil {
			return err
		}
	}
	w.counts[key.ResourceType]++
	return nil
}

// flushCounts adds the per-type deltas to the stored live counts.
func (w *rowWriter) flushCounts() error {
	b := w.btx.Bucket(bucketCounts)
	for typ, d := range w.counts {
		if d == 0 {
			continue
		}
		k := countKey(w.tenant, typ)
		var n int64
		if v := b.Get(k); len(v) == 8 {
			n = int64(binary.BigEndian.Uint64(v))
		}
		n += d
		if n <= 0 {
			if err := b.Delete(k); err != nil {
				return err
			}
			continue
		}
		if err := b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
			return err
		}
	}
	return nil
}
