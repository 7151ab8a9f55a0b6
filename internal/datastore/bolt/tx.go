package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// fillPercent is how full bbolt fills split pages of the relationship indexes. Commits
// insert in key order, so splits mostly happen at the right edge of a run of new keys,
// where filling pages beyond bbolt's default of half keeps the file small.
var fillPercent = 1.0

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
		meta: meta,
		s:    s,
		t:    t,
		rev:  head + 1,
		snap: &reader{s: s, t: t, rev: head},
	}
	tx.writes = datastore.NewWriteSet(tx.liveInSnapshot)
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

// boltTx buffers a transaction's writes in a write set that commit applies.
type boltTx struct {
	meta    datastore.TxMetadata
	s       *Store
	t       *tenant
	rev     datastore.Revision
	snap    *reader
	writes  *datastore.WriteSet
	schema  *string
	limit   int64 // LimitRelationships; 0 is none
	records datastore.RecordWrites
}

func (tx *boltTx) Revision() datastore.Revision { return tx.rev }
func (tx *boltTx) Snapshot() datastore.Reader   { return tx.snap }

func (tx *boltTx) SetMetadata(meta datastore.TxMetadata) { tx.meta = meta }

func (tx *boltTx) LimitRelationships(max int64) { tx.limit = max }

func (tx *boltTx) WriteSchema(_ context.Context, text string) error {
	tx.schema = &text
	return nil
}

// WriteRelationships implements datastore.ReadWriteTx. Keys the file format cannot
// hold are refused before anything is buffered.
func (tx *boltTx) WriteRelationships(ctx context.Context, updates []datastore.Update) error {
	for i := range updates {
		if err := checkKey(updates[i].Relationship.Key()); err != nil {
			return err
		}
	}
	return tx.writes.Write(ctx, updates)
}

func (tx *boltTx) DeleteRelationships(ctx context.Context, f datastore.RelationshipFilter, limit int) ([]tuple.Relationship, bool, error) {
	return tx.writes.DeleteMatching(ctx, tx.snap, f, limit)
}

// liveInSnapshot is the write set's lookup: it marks the keys that have a live,
// unexpired version in the snapshot, seeking them in key order, lookupBatch keys per
// read transaction.
func (tx *boltTx) liveInSnapshot(ctx context.Context, keys []tuple.Key, live []bool) error {
	order := sortedFields(len(keys), func(i int) tuple.Key { return keys[i] })
	now := tx.s.opts.Now()
	prefix := appendTenant(nil, tx.t.id)
	for len(order) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := order[:min(len(order), lookupBatch)]
		order = order[len(batch):]
		err := tx.s.db.View(func(btx *bbolt.Tx) error {
			c := btx.Bucket(bucketRels).Cursor()
			for _, e := range batch {
				fields, i := fieldsIndex(e)
				prefix = append(prefix[:tenantIDLen], fields...)
				for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+verLen; k, v = c.Next() {
					deleted, ex, err := valueDeleted(v)
					if err != nil {
						return err
					}
					if deleted == 0 && !expiredAt(ex, now) {
						live[i] = true
					}
				}
			}
			return nil
		})
		if err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// commit applies a finished transaction in one bbolt write transaction and then
// publishes the new head.
func (s *Store) commit(t *tenant, tx *boltTx) error {
	now := s.opts.Now()
	if now.Before(t.last) {
		now = t.last // commit times never go backwards, so the log is ordered by time too
	}
	rec := &datastore.Transaction{Revision: tx.rev, Time: now, Metadata: tx.meta, Schema: tx.schema}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	var reverse *run
	err := s.db.Update(func(btx *bbolt.Tx) (err error) {
		reverse, err = s.apply(btx, t, tx, rec)
		return err
	})
	if err != nil {
		return mapErr(err)
	}
	// The overlay gets the reverse-index entries before the head moves, so a reader
	// at the new head finds them.
	s.overlay.add(reverse)
	if s.overlay.len() >= s.reverseBuffer {
		// The commit is durable already (the journal holds the entries); a merge
		// that fails is retried by the next commit or replayed by the next Open.
		_ = s.flushReverse()
	}
	t.last = now
	t.mu.Lock()
	t.head = tx.rev
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	return nil
}

// apply writes the transaction's rows, log record, schema and counters, journals its
// reverse-index entries and returns them for the overlay.
func (s *Store) apply(btx *bbolt.Tx, t *tenant, tx *boltTx, rec *datastore.Transaction) (*run, error) {
	tenants := btx.Bucket(bucketTenants)
	v := tenants.Get([]byte(t.name))
	if v == nil {
		return nil, datastore.TenantNotFound(t.name)
	}
	trec, err := decodeTenantRecord(v)
	if err != nil {
		return nil, err
	}
	if trec.id != t.id {
		return nil, datastore.TenantNotFound(t.name)
	}
	if tx.rev > maxVersionRevision {
		return nil, fmt.Errorf("tenant %q has used every revision the embedded store can number", t.name)
	}
	if trec.head+1 != tx.rev {
		return nil, fmt.Errorf("tenant %q: commit at revision %d but the head is %d", t.name, tx.rev, trec.head)
	}
	btx.Bucket(bucketRels).FillPercent = fillPercent
	w := rowWriter{
		btx: btx, tenant: t.id, rev: tx.rev, now: rec.Time,
		rels: btx.Bucket(bucketRels),
		dead: btx.Bucket(bucketDead), expiry: btx.Bucket(bucketExpiry),
		counts: map[string]int64{},
	}
	// Rows are written in key order, so bbolt fills pages from left to right and the
	// log's changes front-code well.
	pending := tx.writes.Pending()
	order := sortedFields(len(pending), func(i int) tuple.Key { return pending[i].Relationship.Key() })
	w.reverse = &run{ents: make([]ent, 0, len(pending)), data: make([]byte, 0, 64*len(pending))}
	for _, e := range order {
		fields, i := fieldsIndex(e)
		if err := w.write(fields, &pending[i]); err != nil {
			return nil, err
		}
	}
	if tx.limit > 0 {
		// The rows are written but not committed: refusing rolls them back.
		stored := storedCount(btx, t.id)
		after := stored
		for _, d := range w.counts {
			after += d
		}
		if err := datastore.CheckRelationshipLimit(t.name, tx.limit, stored, after); err != nil {
			return nil, err
		}
	}
	if err := w.flushCounts(); err != nil {
		return nil, err
	}
	w.reverse.sort()
	if err := journal(btx, w.reverse); err != nil {
		return nil, err
	}
	if rec.RecordChanges, err = applyRecords(btx, t.id, tx.rev, tx.records.Pending()); err != nil {
		return nil, err
	}
	rk := tenantRevKey(t.id, tx.rev)
	if err := btx.Bucket(bucketLog).Put(rk, appendLogRecord(nil, rec, w.nChanges, w.changes)); err != nil {
		return nil, err
	}
	if err := btx.Bucket(bucketTimes).Put(rk, appendTime(nil, rec.Time)); err != nil {
		return nil, err
	}
	if tx.schema != nil {
		if err := btx.Bucket(bucketSchemas).Put(rk, []byte(*tx.schema)); err != nil {
			return nil, err
		}
	}

	trec.head, trec.last = tx.rev, rec.Time
	trec.txCount++
	return w.reverse, tenants.Put([]byte(t.name), trec.encode())
}

// rowWriter applies relationship writes inside one bbolt write transaction. Keys and
// values handed to bbolt must stay untouched until the commit, so each is built in
// its own slice.
type rowWriter struct {
	btx                *bbolt.Tx
	tenant             uint32
	rev                datastore.Revision
	now                time.Time
	rels, dead, expiry *bbolt.Bucket
	counts             map[string]int64
	prefix, extras, rk []byte
	// reverse collects the rrels writes, which go to the journal and the overlay.
	reverse *run
	// changes holds the encoded changes of the log record.
	changes    []byte
	nChanges   int
	prevFields []byte
}

// change records a change of the key whose encoded fields are in w.prefix (after the
// tenant id); keys come in order, so each is front-coded against the previous one.
func (w *rowWriter) change(kind datastore.ChangeKind, extras []byte) {
	fields := w.prefix[tenantIDLen:]
	w.changes = appendChange(w.changes, w.prevFields, kind, fields, extras)
	w.prevFields = append(w.prevFields[:0], fields...)
	w.nChanges++
}

// write makes p the state of the key with the given encoded fields and records the
// change it makes, if any.
func (w *rowWriter) write(fields string, p *datastore.PendingWrite) error {
	w.prefix = append(appendTenant(w.prefix[:0], w.tenant), fields...)
	key := p.Relationship.Key()
	// The live version, if any, is the one not yet deleted.
	var liveKey, liveVal []byte
	c := w.rels.Cursor()
	for k, v := c.Seek(w.prefix); k != nil && bytes.HasPrefix(k, w.prefix) && len(k) == len(w.prefix)+verLen; k, v = c.Next() {
		deleted, _, err := valueDeleted(v)
		if err != nil {
			return err
		}
		if deleted == 0 {
			liveKey, liveVal = k, v
		}
	}
	// prevExtras are the extras of the live version as readers see it now (nil when
	// there is none or it has expired).
	var prevExtras []byte
	if liveVal != nil {
		_, ex, _ := valueDeleted(liveVal)
		if !expiredAt(ex, w.now) {
			prevExtras = ex
		}
	}
	if !p.Deleted {
		w.extras = appendExtras(w.extras[:0], &p.Relationship)
		if prevExtras != nil && bytes.Equal(prevExtras, w.extras) {
			// Rewriting an identical relationship changes nothing a reader can see.
			w.change(datastore.ChangeTouched, w.extras)
			return nil
		}
	}
	if liveVal != nil {
		if err := w.markDeleted(&key, liveKey, liveVal); err != nil {
			return err
		}
	}
	if p.Deleted {
		if prevExtras != nil {
			w.change(datastore.ChangeDeleted, prevExtras)
		}
		return nil
	}
	if err := w.insert(&key, &p.Relationship); err != nil {
		return err
	}
	if prevExtras != nil {
		w.change(datastore.ChangeTouched, w.extras)
	} else {
		w.change(datastore.ChangeCreated, w.extras)
	}
	return nil
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
	w.rk = appendVer(reversePrefix(w.rk[:0], w.tenant, key), created)
	w.reverse.put(w.rk, nv)
	if err := w.dead.Put(deadKey(nil, w.tenant, w.rev, key, created), nil); err != nil {
		return err
	}
	w.counts[key.ResourceType]--
	return nil
}

// insert stores a new version created at the writer's revision; w.prefix and
// w.extras hold the key's forward prefix and the relationship's encoded extras.
func (w *rowWriter) insert(key *tuple.Key, rel *tuple.Relationship) error {
	val := append(binary.AppendUvarint(make([]byte, 0, 1+len(w.extras)), 0), w.extras...)
	fk := appendVer(append(make([]byte, 0, len(w.prefix)+verLen), w.prefix...), w.rev)
	if err := w.rels.Put(fk, val); err != nil {
		return err
	}
	w.rk = appendVer(reversePrefix(w.rk[:0], w.tenant, key), w.rev)
	w.reverse.put(w.rk, val)
	if rel.HasExpiration() {
		if err := w.expiry.Put(expiryKey(nil, w.tenant, rel.Expiration, key, w.rev), nil); err != nil {
			return err
		}
	}
	w.counts[key.ResourceType]++
	return nil
}

// storedCount is the number of relationships a tenant stores: the sum of its live
// counts, one per resource type.
func storedCount(btx *bbolt.Tx, tenant uint32) int64 {
	var n int64
	c := btx.Bucket(bucketCounts).Cursor()
	for k, v := c.Seek(tenantPrefix(tenant)); hasTenant(k, tenant); k, v = c.Next() {
		n += int64(binary.BigEndian.Uint64(v))
	}
	return n
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
