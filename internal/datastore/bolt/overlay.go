package bolt

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"

	bbolt "go.etcd.io/bbolt"
)

// DefaultReverseBuffer is how many reverse-index writes are buffered before they are
// merged into the reverse index.
const DefaultReverseBuffer = 400_000

// The reverse index (rrels) is written behind. A commit records the rrels keys it
// changes in the rpend journal, whose keys are a sequence, so the journal only ever
// appends and costs a few pages per commit, and puts the new values in the in-memory
// overlay below, which reverse queries merge with rrels. Once the overlay holds
// ReverseBuffer entries, one write transaction writes them all into rrels and empties
// the journal. Merging many entries at once writes each rrels page once for
// many entries instead of once per entry, which is what random subject ids would
// otherwise cost. After a crash, Open replays the journal from rels, the record.

// ovItem is the newest value of one rrels key.
type ovItem struct {
	key []byte
	val []byte
}

// run is a sorted batch of overlay entries packed into one byte slice, so the garbage
// collector has no pointers to chase however many entries are buffered.
type run struct {
	data []byte
	ents []ent // in key order
}

// ent locates one entry of a run: its key, then its value, at off.
type ent struct{ off, klen, vlen uint32 }

func (r *run) key(i int) []byte {
	e := r.ents[i]
	return r.data[e.off : e.off+e.klen : e.off+e.klen]
}

func (r *run) val(i int) []byte {
	e := r.ents[i]
	s := e.off + e.klen
	return r.data[s : s+e.vlen : s+e.vlen]
}

func (r *run) item(i int) ovItem { return ovItem{key: r.key(i), val: r.val(i)} }

// put appends an entry; sort restores key order afterwards.
func (r *run) put(key, val []byte) {
	off := len(r.data)
	r.data = append(append(r.data, key...), val...)
	r.ents = append(r.ents, ent{off: uint32(off), klen: uint32(len(key)), vlen: uint32(len(val))})
}

func (r *run) sort() {
	slices.SortFunc(r.ents, func(a, b ent) int {
		return bytes.Compare(r.data[a.off:a.off+a.klen], r.data[b.off:b.off+b.klen])
	})
}

// mergeIter walks runs in key order; on equal keys the newest run's entry wins and
// the others are skipped.
type mergeIter struct {
	runs []*run
	pos  []int
	// pos and runs for up to 24 runs without allocating
	local     [24]int
	localRuns [24]*run
}

func newMergeIter(runs []*run, start []byte) *mergeIter {
	it := &mergeIter{}
	if len(runs) <= len(it.local) {
		it.pos = it.local[:len(runs)]
		it.runs = append(it.localRuns[:0], runs...)
	} else {
		it.pos = make([]int, len(runs))
		it.runs = slices.Clone(runs)
	}
	if start != nil {
		for i, r := range runs {
			it.pos[i], _ = slices.BinarySearchFunc(r.ents, start, func(e ent, k []byte) int {
				return bytes.Compare(r.data[e.off:e.off+e.klen], k)
			})
		}
	}
	return it
}

// next returns the next entry, or false at the end.
func (it *mergeIter) next() (ovItem, bool) {
	best := -1
	for i := len(it.runs) - 1; i >= 0; i-- {
		if it.pos[i] < len(it.runs[i].ents) && (best < 0 || bytes.Compare(it.runs[i].key(it.pos[i]), it.runs[best].key(it.pos[best])) < 0) {
			best = i
		}
	}
	if best < 0 {
		return ovItem{}, false
	}
	item := it.runs[best].item(it.pos[best])
	for i, r := range it.runs {
		if it.pos[i] < len(r.ents) && bytes.Equal(r.key(it.pos[i]), item.key) {
			it.pos[i]++
		}
	}
	return item, true
}

// mergeRuns merges runs (oldest first) into one run.
func mergeRuns(runs ...*run) *run {
	size, n := 0, 0
	for _, r := range runs {
		size += len(r.data)
		n += len(r.ents)
	}
	out := &run{data: make([]byte, 0, size), ents: make([]ent, 0, n)}
	it := newMergeIter(runs, nil)
	for item, ok := it.next(); ok; item, ok = it.next() {
		out.put(item.key, item.val)
	}
	return out
}

// overlay holds the rrels writes not yet merged into the file as sorted runs, oldest
// first. Each commit adds one run; a run is merged into its predecessor while the
// predecessor is at most twice its size (like the digits of a binary counter), so an
// entry is copied O(log n) times in sequential passes and there are O(log n) runs to
// search. Runs are never modified once added, so readers may keep slices of them.
type overlay struct {
	mu   sync.RWMutex
	runs []*run
	n    atomic.Int64 // entries in all runs (a key in several runs counts more than once)
}

func newOverlay() *overlay { return &overlay{} }

func (o *overlay) len() int { return int(o.n.Load()) }

// add adds a commit's entries as the newest run.
func (o *overlay) add(r *run) {
	if r == nil || len(r.ents) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.runs = append(o.runs, r)
	for len(o.runs) > 1 {
		older, newer := o.runs[len(o.runs)-2], o.runs[len(o.runs)-1]
		if len(older.ents) > 2*len(newer.ents) {
			break
		}
		o.runs = append(o.runs[:len(o.runs)-2], mergeRuns(older, newer))
	}
	o.count()
}

func (o *overlay) count() {
	n := 0
	for _, r := range o.runs {
		n += len(r.ents)
	}
	o.n.Store(int64(n))
}

// rangeFrom returns up to max entries (newest values, ascending) with keys >= start
// that have the prefix, and whether more may follow. The entries point into runs,
// which never change.
func (o *overlay) rangeFrom(start, prefix []byte, max int) ([]ovItem, bool) {
	if o.len() == 0 {
		return nil, false
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []ovItem
	it := newMergeIter(o.runs, start)
	// Most runs hold nothing under the prefix (a subject's writes come from few
	// commits): leave those out of the merge.
	n := 0
	for i, r := range it.runs {
		if p := it.pos[i]; p < len(r.ents) && bytes.HasPrefix(r.key(p), prefix) {
			it.runs[n], it.pos[n] = r, p
			n++
		}
	}
	it.runs, it.pos = it.runs[:n], it.pos[:n]
	for item, ok := it.next(); ok && bytes.HasPrefix(item.key, prefix); item, ok = it.next() {
		if len(out) == max {
			return out, true
		}
		out = append(out, item)
	}
	return out, false
}

// snapshot returns the current runs, which never change.
func (o *overlay) snapshot() []*run {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return slices.Clone(o.runs)
}

// remove drops the entries of the given keys.
func (o *overlay) remove(keys [][]byte) {
	if len(keys) == 0 || o.len() == 0 {
		return
	}
	// Versions old enough to collect are usually merged already: rebuild the runs
	// only when one of the keys is still buffered.
	drop := make(map[string]bool, len(keys))
	o.mu.RLock()
	for _, k := range keys {
		for _, r := range o.runs {
			if _, found := slices.BinarySearchFunc(r.ents, k, func(e ent, k []byte) int {
				return bytes.Compare(r.data[e.off:e.off+e.klen], k)
			}); found {
				drop[string(k)] = true
				break
			}
		}
	}
	o.mu.RUnlock()
	if len(drop) == 0 {
		return
	}
	o.filter(func(k []byte) bool { return !drop[string(k)] })
}

// removePrefix drops every entry whose key starts with prefix.
func (o *overlay) removePrefix(prefix []byte) {
	if o.len() == 0 {
		return
	}
	o.filter(func(k []byte) bool { return !bytes.HasPrefix(k, prefix) })
}

// filter replaces every run by a copy holding the entries keep accepts.
func (o *overlay) filter(keep func(key []byte) bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var runs []*run
	for _, r := range o.runs {
		nr := &run{}
		for i := range r.ents {
			if keep(r.key(i)) {
				nr.put(r.key(i), r.val(i))
			}
		}
		if len(nr.ents) > 0 {
			runs = append(runs, nr)
		}
	}
	o.runs = runs
	o.count()
}

func (o *overlay) clear() {
	o.mu.Lock()
	o.runs = nil
	o.n.Store(0)
	o.mu.Unlock()
}

// journal records the rrels keys a commit changed as one rpend entry (a sequence
// number → the keys, length-prefixed), so the journal costs one append per commit.
func journal(tx *bbolt.Tx, r *run) error {
	if len(r.ents) == 0 {
		return nil
	}
	b := tx.Bucket(bucketRevPending)
	b.FillPercent = 1 // append-only: fill every page
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	v := make([]byte, 0, len(r.data)+2*len(r.ents))
	for i := range r.ents {
		v = appendBytes(v, r.key(i))
	}
	return b.Put(binary.BigEndian.AppendUint64(nil, seq), v)
}

// resetJournal empties the journal once everything it lists is in rrels.
func resetJournal(tx *bbolt.Tx) error {
	if err := tx.DeleteBucket(bucketRevPending); err != nil {
		return err
	}
	_, err := tx.CreateBucket(bucketRevPending)
	return err
}

// mergeChunk is how many overlay entries one merge transaction writes. The entries
// are sorted, so a chunk covers a narrow key range and dirties few rrels pages, which
// bounds the memory a merge holds (bbolt keeps every dirty page until the commit).
const mergeChunk = 10_000

// flushReverse merges the overlay into rrels; the caller holds commitMu, so no commit
// adds to the overlay or the journal meanwhile. The overlay's values are current:
// commits update them, and GC and tenant deletion remove the entries of the versions
// they remove (also under commitMu). Readers keep reading the overlay until the last
// chunk is in and the journal is emptied; a crash in between replays the journal.
func (s *Store) flushReverse() error {
	if s.overlay.len() == 0 {
		return nil
	}
	it := newMergeIter(s.overlay.snapshot(), nil)
	item, ok := it.next()
	for ok {
		err := s.db.Update(func(tx *bbolt.Tx) error {
			rrels := tx.Bucket(bucketRevRels)
			rrels.FillPercent = fillPercent
			for n := 0; ok && n < mergeChunk; n++ {
				if err := rrels.Put(item.key, item.val); err != nil {
					return err
				}
				item, ok = it.next()
			}
			if !ok {
				return resetJournal(tx)
			}
			return nil
		})
		if err != nil {
			return mapErr(err)
		}
	}
	s.overlay.clear()
	return nil
}

// replayReverse merges what the journal lists after a crash: every listed key gets the
// current value of its version in rels, or is removed when rels no longer has it.
func replayReverse(tx *bbolt.Tx) error {
	var keys []string
	if err := tx.Bucket(bucketRevPending).ForEach(func(_, v []byte) error {
		d := decoder{b: v}
		for len(d.b) > 0 && d.err == nil {
			keys = append(keys, d.string())
		}
		return d.err
	}); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	rels, rrels := tx.Bucket(bucketRels), tx.Bucket(bucketRevRels)
	var fk []byte
	for _, rk := range keys {
		k, created, err := decodeReverseKey([]byte(rk))
		if err != nil {
			return err
		}
		fk = appendVer(forwardPrefix(fk[:0], tenantOf([]byte(rk)), &k), created)
		if v := rels.Get(fk); v != nil {
			if err := rrels.Put([]byte(rk), bytes.Clone(v)); err != nil {
				return err
			}
		} else if err := rrels.Delete([]byte(rk)); err != nil {
			return err
		}
	}
	return resetJournal(tx)
}
