package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"iter"
	"slices"
	"sort"

	"go.etcd.io/bbolt"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// Records are kept in three buckets (see doc.go):
//
//	recs     T | kind id | created → deleted (uvarint, 0 = live) | keys | data
//	reckeys  T | kind key id | created → ∅     one entry per key of each version
//	recdead  T | deleted | kind id | created → ∅   versions to collect, by deleting revision
//
// Names end with a 0 byte, which validated kinds, ids and keys never contain, and
// revisions are 8-byte big-endian, so keys sort by kind, then id, then version.

// recordChunk is how many records one read transaction of a listing collects.
const recordChunk = 256

func recordPrefix(tenant uint32, kind, id string) []byte {
	b := appendTenant(make([]byte, 0, 4+len(kind)+len(id)+2+revLen), tenant)
	b = append(append(b, kind...), sep)
	return append(append(b, id...), sep)
}

func recordKindPrefix(tenant uint32, kind string) []byte {
	return append(append(appendTenant(nil, tenant), kind...), sep)
}

func recordKeyPrefix(tenant uint32, kind, key string) []byte {
	return append(append(recordKindPrefix(tenant, kind), key...), sep)
}

// recordValue encodes a version's value.
func recordValue(deleted datastore.Revision, r *datastore.Record) []byte {
	b := binary.AppendUvarint(nil, uint64(deleted))
	b = binary.AppendUvarint(b, uint64(len(r.Keys)))
	for _, k := range r.Keys {
		b = appendString(b, k)
	}
	return appendBytes(b, r.Data)
}

// decodeRecordValue decodes a version's value into r and returns its deleting
// revision.
func decodeRecordValue(v []byte, r *datastore.Record) (datastore.Revision, error) {
	d := decoder{b: v}
	deleted := datastore.Revision(d.uvarint())
	if n := d.count(); n > 0 {
		r.Keys = make([]string, n)
		for i := range r.Keys {
			r.Keys[i] = d.string()
		}
	}
	r.Data = bytes.Clone(d.bytes())
	if d.err != nil {
		return 0, errors.New("corrupt record version")
	}
	return deleted, nil
}

// splitRecordKey splits "id 0 created" off the end of a recs key whose kind prefix is
// prefixLen bytes long.
func splitRecordKey(k []byte, prefixLen int) (id string, created datastore.Revision, ok bool) {
	if len(k) < prefixLen+1+revLen || k[len(k)-revLen-1] != sep {
		return "", 0, false
	}
	return string(k[prefixLen : len(k)-revLen-1]), datastore.Revision(binary.BigEndian.Uint64(k[len(k)-revLen:])), true
}

// visibleRecord reads the version of kind/id visible at rev from tx.
func (r *reader) visibleRecord(tx *bbolt.Tx, kind, id string) (datastore.Record, bool, error) {
	prefix := recordPrefix(r.t.id, kind, id)
	c := tx.Bucket(bucketRecs).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+revLen {
			continue
		}
		created := datastore.Revision(binary.BigEndian.Uint64(k[len(prefix):]))
		if created > r.rev {
			break
		}
		rec := datastore.Record{Kind: kind, ID: id, Revision: created}
		deleted, err := decodeRecordValue(v, &rec)
		if err != nil {
			return datastore.Record{}, false, err
		}
		if deleted == 0 || deleted > r.rev {
			return rec, true, nil
		}
	}
	return datastore.Record{}, false, nil
}

// ReadRecord implements datastore.Reader.
func (r *reader) ReadRecord(_ context.Context, kind, id string) (datastore.Record, error) {
	if r.err != nil {
		return datastore.Record{}, r.err
	}
	if _, _, _, gone := r.t.state(); gone != nil {
		return datastore.Record{}, gone
	}
	var out datastore.Record
	found := false
	err := r.s.db.View(func(tx *bbolt.Tx) (err error) {
		out, found, err = r.visibleRecord(tx, kind, id)
		return err
	})
	if err != nil {
		return datastore.Record{}, mapErr(err)
	}
	if !found {
		return datastore.Record{}, datastore.ErrRecordNotFound
	}
	return out, nil
}

// ListRecords implements datastore.Reader. Without a key condition it walks the
// kind's versions in id order, a chunk per read transaction; with an exact key it
// walks that key's entries, also in id order; a key prefix spans several keys, so
// its matches are gathered and sorted before they are yielded.
func (r *reader) ListRecords(ctx context.Context, kind string, q datastore.RecordQuery) iter.Seq2[datastore.Record, error] {
	return func(yield func(datastore.Record, error) bool) {
		if r.err != nil {
			yield(datastore.Record{}, r.err)
			return
		}
		if err := datastore.ValidateRecordQuery(kind, q); err != nil {
			yield(datastore.Record{}, err)
			return
		}
		if _, _, _, gone := r.t.state(); gone != nil {
			yield(datastore.Record{}, gone)
			return
		}
		if q.KeyPrefix != "" {
			r.listByPrefix(kind, q, yield)
			return
		}
		bucket, prefix := bucketRecs, recordKindPrefix(r.t.id, kind)
		if q.Key != "" {
			bucket, prefix = bucketRecKeys, recordKeyPrefix(r.t.id, kind, q.Key)
		}
		after, n := q.AfterID, 0
		for {
			if err := ctx.Err(); err != nil {
				yield(datastore.Record{}, err)
				return
			}
			var page []datastore.Record
			err := r.s.db.View(func(tx *bbolt.Tx) (err error) {
				page, err = r.recordPage(tx, bucket, prefix, kind, q.Key, after)
				return err
			})
			if err != nil {
				yield(datastore.Record{}, mapErr(err))
				return
			}
			for _, rec := range page {
				if !yield(rec, nil) {
					return
				}
				if n++; q.Limit > 0 && n >= q.Limit {
					return
				}
			}
			if len(page) < recordChunk {
				return
			}
			after = page[len(page)-1].ID
		}
	}
}

// recordPage collects up to recordChunk visible records with ids after after, from
// the entries of bucket under prefix (recs for a kind, or reckeys for one key, which
// the visible version must then have: an entry may be an older version's).
func (r *reader) recordPage(tx *bbolt.Tx, bucket, prefix []byte, kind, key, after string) ([]datastore.Record, error) {
	c := tx.Bucket(bucket).Cursor()
	start := prefix
	if after != "" {
		// Past every version of the id after.
		start = append(append(append(bytes.Clone(prefix), after...), sep), bytes.Repeat([]byte{0xff}, revLen)...)
	}
	var out []datastore.Record
	last := ""
	for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix) && len(out) < recordChunk; k, _ = c.Next() {
		id, _, ok := splitRecordKey(k, len(prefix))
		if !ok || (after != "" && id <= after) || (len(out) > 0 && id == last) {
			continue
		}
		rec, found, err := r.visibleRecord(tx, kind, id)
		if err != nil {
			return nil, err
		}
		if !found || (key != "" && !slices.Contains(rec.Keys, key)) {
			continue
		}
		out = append(out, rec)
		last = id
	}
	return out, nil
}

// listByPrefix yields the records with a key starting with q.KeyPrefix.
func (r *reader) listByPrefix(kind string, q datastore.RecordQuery, yield func(datastore.Record, error) bool) {
	var out []datastore.Record
	err := r.s.db.View(func(tx *bbolt.Tx) error {
		kindPrefix := recordKindPrefix(r.t.id, kind)
		prefix := append(bytes.Clone(kindPrefix), q.KeyPrefix...)
		seen := map[string]bool{}
		c := tx.Bucket(bucketRecKeys).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			rest := k[len(kindPrefix):]
			end := bytes.IndexByte(rest, sep)
			if end < 0 {
				continue
			}
			id, _, ok := splitRecordKey(k, len(kindPrefix)+end+1)
			if !ok || seen[id] || (q.AfterID != "" && id <= q.AfterID) {
				continue
			}
			rec, found, err := r.visibleRecord(tx, kind, id)
			if err != nil {
				return err
			}
			if found && q.Matches(&rec) {
				seen[id] = true
				out = append(out, rec)
			}
		}
		return nil
	})
	if err != nil {
		yield(datastore.Record{}, mapErr(err))
		return
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	for _, rec := range out {
		if !yield(rec, nil) {
			return
		}
	}
}

// PutRecord implements datastore.ReadWriteTx.
func (tx *boltTx) PutRecord(_ context.Context, r datastore.Record) error { return tx.records.Put(r) }

// DeleteRecord implements datastore.ReadWriteTx.
func (tx *boltTx) DeleteRecord(_ context.Context, kind, id string) error {
	return tx.records.Delete(kind, id)
}

// applyRecords writes a transaction's record writes at rev: it ends the live version
// of each record written (listing it in recdead) and inserts the new versions with
// their key entries. It returns the changes for the log record.
func applyRecords(btx *bbolt.Tx, tenant uint32, rev datastore.Revision, pending []datastore.PendingRecord) ([]datastore.RecordChange, error) {
	recs, keys, dead := btx.Bucket(bucketRecs), btx.Bucket(bucketRecKeys), btx.Bucket(bucketRecDead)
	var changes []datastore.RecordChange
	for _, p := range pending {
		kind, id := p.Record.Kind, p.Record.ID
		prefix := recordPrefix(tenant, kind, id)
		c := recs.Cursor()
		// The newest version is the last under the prefix.
		k, v := c.Seek(append(bytes.Clone(prefix), bytes.Repeat([]byte{0xff}, revLen)...))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		if k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+revLen {
			var old datastore.Record
			deleted, err := decodeRecordValue(v, &old)
			if err != nil {
				return nil, err
			}
			if deleted == 0 {
				if err := recs.Put(bytes.Clone(k), recordValue(rev, &old)); err != nil {
					return nil, err
				}
				dk := append(appendRev(tenantPrefix(tenant), rev), k[tenantIDLen:]...)
				if err := dead.Put(dk, nil); err != nil {
					return nil, err
				}
				if p.Deleted {
					changes = append(changes, datastore.RecordChange{Deleted: true, Record: datastore.Record{Kind: kind, ID: id}})
				}
			}
		}
		if p.Deleted {
			continue
		}
		if err := recs.Put(appendRev(prefix, rev), recordValue(0, &p.Record)); err != nil {
			return nil, err
		}
		for _, key := range p.Record.Keys {
			ek := append(append(recordKeyPrefix(tenant, kind, key), id...), sep)
			if err := keys.Put(appendRev(ek, rev), nil); err != nil {
				return nil, err
			}
		}
		put := p.Record
		put.Revision = rev
		changes = append(changes, datastore.RecordChange{Record: put})
	}
	return changes, nil
}

// collectRecords removes, in one batch, the record versions deleted at or before the
// horizon, with their key entries.
func collectRecords(tx *bbolt.Tx, tenant uint32, horizon datastore.Revision) (int, bool, error) {
	limit := appendRev(tenantPrefix(tenant), horizon)
	c := tx.Bucket(bucketRecDead).Cursor()
	var entries [][]byte
	for k, _ := c.Seek(tenantPrefix(tenant)); hasTenant(k, tenant) && len(entries) < gcBatch; k, _ = c.Next() {
		if bytes.Compare(k[:tenantIDLen+revLen], limit) > 0 {
			break
		}
		entries = append(entries, bytes.Clone(k))
	}
	recs, keys := tx.Bucket(bucketRecs), tx.Bucket(bucketRecKeys)
	count := 0
	for _, e := range entries {
		vk := append(tenantPrefix(tenant), e[tenantIDLen+revLen:]...)
		if v := recs.Get(vk); v != nil {
			var old datastore.Record
			if _, err := decodeRecordValue(v, &old); err != nil {
				return count, false, err
			}
			// vk is T | kind 0 id 0 | created: split kind and id back out.
			name := vk[tenantIDLen : len(vk)-revLen-1]
			i := bytes.IndexByte(name, sep)
			if i < 0 {
				return count, false, errors.New("corrupt record key")
			}
			kind, id := string(name[:i]), name[i+1:]
			for _, key := range old.Keys {
				ek := append(append(recordKeyPrefix(tenant, kind, key), id...), sep)
				if err := keys.Delete(append(ek, vk[len(vk)-revLen:]...)); err != nil {
					return count, false, err
				}
			}
			if err := recs.Delete(vk); err != nil {
				return count, false, err
			}
			count++
		}
		if err := tx.Bucket(bucketRecDead).Delete(e); err != nil {
			return count, false, err
		}
	}
	return count, len(entries) == gcBatch, nil
}
