package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"sort"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// gcBatch bounds the entries one GC write transaction removes, so collection never
// builds a huge transaction in memory and writers get their turn in between.
const gcBatch = 10000

// GarbageCollect implements datastore.Datastore. Per tenant it raises the oldest
// readable revision to the newest one committed at or before now-GCWindow, removes
// the versions deleted at or before it (through the dead index) and every expired
// version (through the expiry index), drops superseded schemas and, when
// AuditRetention is set, audit records older than it.
func (s *Store) GarbageCollect(ctx context.Context) (datastore.GCStats, error) {
	if err := s.enter(); err != nil {
		return datastore.GCStats{}, err
	}
	defer s.leave()
	s.mu.Lock()
	ts := make([]*tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		ts = append(ts, t)
	}
	s.mu.Unlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].name < ts[j].name })
	now := s.opts.Now()
	var total datastore.GCStats
	for _, t := range ts {
		st, err := s.collect(ctx, t, now)
		total.Relationships += st.Relationships
		total.Transactions += st.Transactions
		total.Schemas += st.Schemas
		total.Records += st.Records
		if err != nil {
			return total, mapErr(err)
		}
	}
	return total, nil
}

func (s *Store) collect(ctx context.Context, t *tenant, now time.Time) (datastore.GCStats, error) {
	var st datastore.GCStats
	horizon, err := s.advanceHorizon(ctx, t, now.Add(-s.opts.GCWindow))
	if err != nil {
		return st, err
	}
	steps := []func(*bbolt.Tx, *[][]byte) (int, bool, error){
		func(tx *bbolt.Tx, removed *[][]byte) (int, bool, error) {
			return collectDead(tx, t.id, horizon, removed)
		},
		func(tx *bbolt.Tx, removed *[][]byte) (int, bool, error) {
			return collectExpired(tx, t.id, now, removed)
		},
	}
	for _, step := range steps {
		n, err := s.versionBatches(ctx, step)
		st.Relationships += int64(n)
		if err != nil {
			return st, err
		}
	}
	n, err := s.batches(ctx, func(tx *bbolt.Tx) (int, bool, error) { return collectSchemas(tx, t.id, horizon) })
	st.Schemas = int64(n)
	if err != nil {
		return st, err
	}
	n, err = s.batches(ctx, func(tx *bbolt.Tx) (int, bool, error) { return collectRecords(tx, t.id, horizon) })
	st.Records = int64(n)
	if err != nil {
		return st, err
	}
	if s.opts.AuditRetention > 0 {
		cutoff := now.Add(-s.opts.AuditRetention)
		n, err := s.batches(ctx, func(tx *bbolt.Tx) (int, bool, error) { return collectAudit(tx, t, cutoff) })
		st.Transactions = int64(n)
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// batches runs step in write transactions until it reports nothing more to do.
func (s *Store) batches(ctx context.Context, step func(*bbolt.Tx) (int, bool, error)) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int
		var more bool
		err := s.db.Update(func(tx *bbolt.Tx) (err error) {
			n, more, err = step(tx)
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// versionBatches is batches for steps that remove relationship versions: each batch
// runs under commitMu and then drops the removed versions' reverse-index entries from
// the overlay, so a later merge cannot write them back.
func (s *Store) versionBatches(ctx context.Context, step func(*bbolt.Tx, *[][]byte) (int, bool, error)) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n int
		var more bool
		var removed [][]byte
		s.commitMu.Lock()
		err := s.db.Update(func(tx *bbolt.Tx) (err error) {
			removed = removed[:0]
			n, more, err = step(tx, &removed)
			return err
		})
		if err == nil {
			s.overlay.remove(removed)
		}
		s.commitMu.Unlock()
		if err != nil {
			return total, err
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// updateTenantRecord rewrites the tenant's record with fn applied; it reports false
// when the tenant is gone.
func updateTenantRecord(tx *bbolt.Tx, t *tenant, fn func(*tenantRecord)) (bool, error) {
	b := tx.Bucket(bucketTenants)
	v := b.Get([]byte(t.name))
	if v == nil {
		return false, nil
	}
	rec, err := decodeTenantRecord(v)
	if err != nil || rec.id != t.id {
		return false, err
	}
	fn(&rec)
	return true, b.Put([]byte(t.name), rec.encode())
}

// advanceHorizon finds the newest revision committed at or before cutoff, makes it
// the oldest readable revision and drops the commit times before it.
func (s *Store) advanceHorizon(ctx context.Context, t *tenant, cutoff time.Time) (datastore.Revision, error) {
	_, horizon, _, _ := t.state()
	_, err := s.batches(ctx, func(tx *bbolt.Tx) (int, bool, error) {
		times := tx.Bucket(bucketTimes)
		c := times.Cursor()
		var drop [][]byte
		var last []byte
		n := 0
		for k, v := c.Seek(tenantPrefix(t.id)); hasTenant(k, t.id) && n < gcBatch; k, v = c.Next() {
			if readTime(v).After(cutoff) {
				break
			}
			if last != nil {
				drop = append(drop, last)
			}
			last = bytes.Clone(k)
			horizon = max(horizon, revOfTenantRevKey(k))
			n++
		}
		for _, k := range drop {
			if err := times.Delete(k); err != nil {
				return 0, false, err
			}
		}
		if _, err := updateTenantRecord(tx, t, func(r *tenantRecord) { r.oldest = max(r.oldest, horizon) }); err != nil {
			return 0, false, err
		}
		return len(drop), n == gcBatch, nil
	})
	if err != nil {
		return 0, err
	}
	t.mu.Lock()
	t.oldest = max(t.oldest, horizon)
	horizon = t.oldest
	t.mu.Unlock()
	return horizon, nil
}

// removeVersion deletes one relationship version from both indexes and from the
// GC indexes that point at it, and keeps the live count right. It returns false when
// the version was already gone.
func removeVersion(tx *bbolt.Tx, tenant uint32, key *tuple.Key, created datastore.Revision, removed *[][]byte) (bool, error) {
	rels := tx.Bucket(bucketRels)
	fk := appendVer(forwardPrefix(nil, tenant, key), created)
	v := rels.Get(fk)
	if v == nil {
		return false, nil
	}
	deleted, ex, err := valueDeleted(v)
	if err != nil {
		return false, err
	}
	if at, ok := extrasExpiry(ex); ok {
		if err := tx.Bucket(bucketExpiry).Delete(expiryKey(nil, tenant, at, key, created)); err != nil {
			return false, err
		}
	}
	if deleted != 0 {
		if err := tx.Bucket(bucketDead).Delete(deadKey(nil, tenant, deleted, key, created)); err != nil {
			return false, err
		}
	} else if err := addCount(tx, tenant, key.ResourceType, -1); err != nil {
		return false, err
	}
	if err := rels.Delete(fk); err != nil {
		return false, err
	}
	rk := appendVer(reversePrefix(nil, tenant, key), created)
	*removed = append(*removed, rk)
	return true, tx.Bucket(bucketRevRels).Delete(rk)
}

func addCount(tx *bbolt.Tx, tenant uint32, typ string, d int64) error {
	b := tx.Bucket(bucketCounts)
	k := countKey(tenant, typ)
	var n int64
	if v := b.Get(k); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	if n += d; n <= 0 {
		return b.Delete(k)
	}
	return b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// collectIndex removes, in one batch, the versions an index (dead or expiry) lists
// before limit, and the index entries themselves.
func collectIndex(tx *bbolt.Tx, bucket []byte, tenant uint32, headLen int, limit []byte, removed *[][]byte) (int, bool, error) {
	c := tx.Bucket(bucket).Cursor()
	var entries [][]byte
	for k, _ := c.Seek(tenantPrefix(tenant)); hasTenant(k, tenant) && len(entries) < gcBatch; k, _ = c.Next() {
		if bytes.Compare(k[:headLen], limit) > 0 {
			break
		}
		entries = append(entries, bytes.Clone(k))
	}
	count := 0
	for _, e := range entries {
		key, created, err := decodeIndexTail(e, headLen)
		if err != nil {
			return count, false, err
		}
		ok, err := removeVersion(tx, tenant, &key, created, removed)
		if err != nil {
			return count, false, err
		}
		if ok {
			count++
		}
		if err := tx.Bucket(bucket).Delete(e); err != nil {
			return count, false, err
		}
	}
	return count, len(entries) == gcBatch, nil
}

// collectDead removes versions deleted at or before the horizon.
func collectDead(tx *bbolt.Tx, tenant uint32, horizon datastore.Revision, removed *[][]byte) (int, bool, error) {
	return collectIndex(tx, bucketDead, tenant, tenantIDLen+revLen, appendRev(tenantPrefix(tenant), horizon), removed)
}

// collectExpired removes versions whose expiry is at or before now: no revision can
// see them any more.
func collectExpired(tx *bbolt.Tx, tenant uint32, now time.Time, removed *[][]byte) (int, bool, error) {
	return collectIndex(tx, bucketExpiry, tenant, tenantIDLen+timeLen, appendTime(tenantPrefix(tenant), now), removed)
}

// collectSchemas drops the schemas older than the newest one at or before the
// horizon, which readers at the horizon still see.
func collectSchemas(tx *bbolt.Tx, tenant uint32, horizon datastore.Revision) (int, bool, error) {
	b := tx.Bucket(bucketSchemas)
	c := b.Cursor()
	k, _ := c.Seek(tenantRevKey(tenant, horizon+1))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if !hasTenant(k, tenant) {
		return 0, false, nil
	}
	keep := revOfTenantRevKey(k)
	var drop [][]byte
	for k, _ := c.Seek(tenantPrefix(tenant)); hasTenant(k, tenant) && revOfTenantRevKey(k) < keep && len(drop) < gcBatch; k, _ = c.Next() {
		drop = append(drop, bytes.Clone(k))
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return 0, false, err
		}
	}
	return len(drop), len(drop) == gcBatch, nil
}

// collectAudit drops log records committed before cutoff.
func collectAudit(tx *bbolt.Tx, t *tenant, cutoff time.Time) (int, bool, error) {
	b := tx.Bucket(bucketLog)
	c := b.Cursor()
	var drop [][]byte
	for k, v := c.Seek(tenantPrefix(t.id)); hasTenant(k, t.id) && len(drop) < gcBatch; k, v = c.Next() {
		if !recordTime(v).Before(cutoff) {
			break
		}
		drop = append(drop, bytes.Clone(k))
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return 0, false, err
		}
	}
	if len(drop) > 0 {
		if _, err := updateTenantRecord(tx, t, func(r *tenantRecord) { r.txCount -= int64(len(drop)) }); err != nil {
			return 0, false, err
		}
	}
	return len(drop), len(drop) == gcBatch, nil
}

// purge removes every row of a deleted tenant in bounded batches, then forgets it.
func (s *Store) purge(id uint32) error {
	prefix := tenantPrefix(id)
	for _, name := range tenantBuckets {
		if _, err := s.batches(context.Background(), func(tx *bbolt.Tx) (int, bool, error) {
			b := tx.Bucket(name)
			c := b.Cursor()
			var drop [][]byte
			for k, _ := c.Seek(prefix); hasTenant(k, id) && len(drop) < gcBatch; k, _ = c.Next() {
				drop = append(drop, bytes.Clone(k))
			}
			for _, k := range drop {
				if err := b.Delete(k); err != nil {
					return 0, false, err
				}
			}
			return len(drop), len(drop) == gcBatch, nil
		}); err != nil {
			return mapErr(err)
		}
	}
	return mapErr(s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketDropped).Delete(prefix) }))
}
