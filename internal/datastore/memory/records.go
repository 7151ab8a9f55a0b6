package memory

import (
	"context"
	"iter"
	"slices"
	"strings"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// recordVersion is one version of a record: visible at revisions [created, deleted).
type recordVersion struct {
	rec     datastore.Record // rec.Revision is created
	deleted datastore.Revision
}

func (v *recordVersion) visibleAt(rev datastore.Revision) bool {
	return v.rec.Revision <= rev && (v.deleted == 0 || v.deleted > rev)
}

// recordsOf returns the versions of each record of one kind, by id, oldest first.
type recordsOf map[string][]*recordVersion

// visibleRecord returns the version of kind/id visible at rev, or nil. The caller
// holds t.mu.
func (t *tenant) visibleRecord(kind, id string, rev datastore.Revision) *recordVersion {
	for _, v := range t.records[kind][id] {
		if v.visibleAt(rev) {
			return v
		}
	}
	return nil
}

// ReadRecord implements datastore.Reader.
func (r *reader) ReadRecord(_ context.Context, kind, id string) (datastore.Record, error) {
	if r.err != nil {
		return datastore.Record{}, r.err
	}
	r.t.mu.RLock()
	defer r.t.mu.RUnlock()
	if v := r.t.visibleRecord(kind, id, r.rev); v != nil {
		return cloneRecord(v.rec), nil
	}
	return datastore.Record{}, datastore.ErrRecordNotFound
}

// ListRecords implements datastore.Reader. It collects the matching records under the
// lock, then yields them without it.
func (r *reader) ListRecords(_ context.Context, kind string, q datastore.RecordQuery) iter.Seq2[datastore.Record, error] {
	return func(yield func(datastore.Record, error) bool) {
		if r.err != nil {
			yield(datastore.Record{}, r.err)
			return
		}
		if err := datastore.ValidateRecordQuery(kind, q); err != nil {
			yield(datastore.Record{}, err)
			return
		}
		r.t.mu.RLock()
		var out []datastore.Record
		for id := range r.t.records[kind] {
			if q.AfterID != "" && id <= q.AfterID {
				continue
			}
			if v := r.t.visibleRecord(kind, id, r.rev); v != nil && q.Matches(&v.rec) {
				out = append(out, cloneRecord(v.rec))
			}
		}
		r.t.mu.RUnlock()
		slices.SortFunc(out, func(a, b datastore.Record) int { return strings.Compare(a.ID, b.ID) })
		if q.Limit > 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
		for _, rec := range out {
			if !yield(rec, nil) {
				return
			}
		}
	}
}

func cloneRecord(r datastore.Record) datastore.Record {
	r.Data = slices.Clone(r.Data)
	r.Keys = slices.Clone(r.Keys)
	return r
}

// PutRecord implements datastore.ReadWriteTx.
func (tx *memTx) PutRecord(_ context.Context, r datastore.Record) error {
	return tx.records.Put(r)
}

// DeleteRecord implements datastore.ReadWriteTx.
func (tx *memTx) DeleteRecord(_ context.Context, kind, id string) error {
	return tx.records.Delete(kind, id)
}

// applyRecords ends the live version of every record the transaction wrote and adds
// the new ones, at rev, and returns the changes. The caller holds t.mu for writing.
func (t *tenant) applyRecords(pending []datastore.PendingRecord, rev datastore.Revision) []datastore.RecordChange {
	var changes []datastore.RecordChange
	for _, p := range pending {
		kind, id := p.Record.Kind, p.Record.ID
		byID := t.records[kind]
		if byID == nil {
			byID = recordsOf{}
			t.records[kind] = byID
		}
		vs := byID[id]
		if n := len(vs); n > 0 && vs[n-1].deleted == 0 {
			vs[n-1].deleted = rev
			if p.Deleted {
				changes = append(changes, datastore.RecordChange{Deleted: true, Record: datastore.Record{Kind: kind, ID: id}})
			}
		}
		if !p.Deleted {
			rec := p.Record
			rec.Revision = rev
			vs = append(vs, &recordVersion{rec: rec})
			changes = append(changes, datastore.RecordChange{Record: cloneRecord(rec)})
		}
		if len(vs) > 0 {
			byID[id] = vs
		}
	}
	return changes
}

// collectRecords removes the record versions deleted at or before horizon. The
// caller holds t.mu for writing.
func (t *tenant) collectRecords(horizon datastore.Revision) int64 {
	var n int64
	for kind, byID := range t.records {
		for id, vs := range byID {
			kept := vs[:0]
			for _, v := range vs {
				if v.deleted != 0 && v.deleted <= horizon {
					n++
					continue
				}
				kept = append(kept, v)
			}
			if len(kept) == 0 {
				delete(byID, id)
			} else {
				byID[id] = kept
			}
		}
		if len(byID) == 0 {
			delete(t.records, kind)
		}
	}
	return n
}
