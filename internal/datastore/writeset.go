package datastore

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// WriteSet is what a read-write transaction has written and not yet committed: the
// final state of every key it wrote, in first-write order. Every store buffers its
// transactions in one and applies Pending at commit, so the rules of
// ReadWriteTx.WriteRelationships and ReadWriteTx.DeleteRelationships live here once:
// Create checks the snapshot and the pending state, deletes by filter see both, and a
// call that fails changes nothing.
//
// A WriteSet belongs to one transaction and is not safe for concurrent use.
type WriteSet struct {
	lookup  LiveLookup
	entries []PendingWrite
	// The entries are found by a hash of their key: heads maps a hash to the newest
	// entry with it and links[i].next to the next older one, so a collision costs a
	// comparison. A map keyed by the key itself hashes six strings on every lookup and
	// again on every insert, which is most of the cost of buffering a large import.
	seed  maphash.Seed
	heads map[uint64]int32
	links []link
	buf   []byte
	// hashes holds the key hashes of the updates of the current Write call.
	hashes []uint64
	// undo keeps the earlier state of entries a Write call overwrote, so a failing call
	// can be taken back.
	undo []undoEntry
}

// link is an entry's key hash and the next older entry with the same hash (-1 for
// none).
type link struct {
	hash uint64
	next int32
}

// PendingWrite is the buffered final state of one key.
type PendingWrite struct {
	// Relationship is the relationship to store or, for a deletion, the one the
	// deletion named (only its key matters then).
	Relationship tuple.Relationship
	// Deleted is set when the key is to be removed.
	Deleted bool
}

// LiveLookup reports which of keys have a live, unexpired relationship in the
// transaction's snapshot by setting live[i] for keys[i] (live has len(keys) elements,
// all false). A WriteSet asks once per Write call for every key a Create there has to
// check, so a store can answer the whole batch in a few reads.
type LiveLookup func(ctx context.Context, keys []tuple.Key, live []bool) error

type undoEntry struct {
	pos  int
	prev PendingWrite
}

// NewWriteSet returns an empty write set whose Creates check the snapshot through
// lookup.
func NewWriteSet(lookup LiveLookup) *WriteSet {
	return &WriteSet{lookup: lookup, seed: maphash.MakeSeed(), heads: map[uint64]int32{}}
}

// PointLookup is a LiveLookup that asks snap for each key in turn. It suits stores whose
// point reads are cheap; others batch the lookup themselves.
func PointLookup(snap Reader) LiveLookup {
	return func(ctx context.Context, keys []tuple.Key, live []bool) error {
		for i, k := range keys {
			f := RelationshipFilter{
				ResourceType: k.ResourceType, ResourceIDs: []string{k.ResourceID}, Relation: k.Relation,
				Subject: &SubjectFilter{Type: k.SubjectType, IDs: []string{k.SubjectID}, Relations: []string{k.SubjectRel}},
			}
			for _, err := range snap.QueryRelationships(ctx, f, QueryOptions{Limit: 1}) {
				if err != nil {
					return err
				}
				live[i] = true
			}
		}
		return nil
	}
}

// Len is the number of keys written.
func (w *WriteSet) Len() int { return len(w.entries) }

// Pending returns the final state of every key written, in first-write order. The
// slice belongs to the write set: callers read it and do not keep it past the next
// call.
func (w *WriteSet) Pending() []PendingWrite { return w.entries }

// Write applies updates in order, with the semantics of ReadWriteTx.WriteRelationships.
// It fails with a *RelationshipExistsError for a Create of a key that is live in the
// transaction's view (its pending state if it was written, the snapshot otherwise), and
// with an error wrapping ErrInvalidArgument for an unknown operation. When it fails,
// none of the call's updates is applied.
func (w *WriteSet) Write(ctx context.Context, updates []Update) error {
	probeAt, live, creates, err := w.probe(ctx, updates)
	if err != nil {
		return err
	}
	w.heads = growMap(w.heads, len(updates))
	w.entries = slices.Grow(w.entries, len(updates))
	w.links = slices.Grow(w.links, len(updates))
	mark := len(w.entries)
	// Only a Create can fail once the operations are known; without one there is
	// nothing to take back, so nothing is remembered.
	keep := mark
	if creates == 0 {
		keep = 0
	}
	next := 0 // the next probe
	for i := range updates {
		u := &updates[i]
		pos := w.find(w.hashes[i], &u.Relationship)
		if u.Op == OpCreate {
			exists := false
			if next < len(probeAt) && probeAt[next] == i {
				exists = live[next]
				next++
			}
			// An earlier update of this call may have written the key since the probe:
			// the pending state, when there is one, is the newer.
			if pos >= 0 {
				exists = !w.entries[pos].Deleted
			}
			if exists {
				w.rollback(mark)
				return &RelationshipExistsError{Relationship: u.Relationship.Key()}
			}
		}
		p := PendingWrite{Relationship: u.Relationship, Deleted: u.Op == OpDelete}
		if pos < 0 {
			w.add(w.hashes[i], p)
			continue
		}
		if pos < keep {
			w.undo = append(w.undo, undoEntry{pos: pos, prev: w.entries[pos]})
		}
		w.entries[pos] = p
	}
	clear(w.undo)
	w.undo = w.undo[:0]
	return nil
}

// probe checks every update's operation, hashes its key into w.hashes, and asks the
// snapshot, in one lookup, about the keys of the Creates that the pending state does
// not decide. probeAt lists the updates asked about, live holds the answers, creates
// counts the Creates.
func (w *WriteSet) probe(ctx context.Context, updates []Update) (probeAt []int, live []bool, creates int, err error) {
	w.hashes = slices.Grow(w.hashes[:0], len(updates))[:len(updates)]
	var keys []tuple.Key
	for i := range updates {
		u := &updates[i]
		w.hashes[i] = w.hash(&u.Relationship)
		switch u.Op {
		case OpCreate:
			creates++
			if w.find(w.hashes[i], &u.Relationship) < 0 {
				if keys == nil {
					keys = make([]tuple.Key, 0, len(updates)-i)
				}
				keys = append(keys, u.Relationship.Key())
				probeAt = append(probeAt, i)
			}
		case OpTouch, OpDelete:
		default:
			return nil, nil, 0, fmt.Errorf("update %d (%s): unknown operation %d: %w", i, u.Relationship.Key(), u.Op, ErrInvalidArgument)
		}
	}
	live = make([]bool, len(keys))
	if len(keys) > 0 {
		if err := w.lookup(ctx, keys, live); err != nil {
			return nil, nil, 0, err
		}
	}
	return probeAt, live, creates, nil
}

// growMap makes room in m for n more keys. Maps cannot be grown in place, so a small
// map that is about to take many keys is replaced once instead of growing in steps.
func growMap(m map[uint64]int32, n int) map[uint64]int32 {
	if len(m) > 0 || n <= 8 {
		return m
	}
	return make(map[uint64]int32, n)
}

// hash hashes the key of r. Fields end with a 0 byte, which no valid name or id
// holds; an invalid one can only make two keys share a hash, which find tells apart.
func (w *WriteSet) hash(r *tuple.Relationship) uint64 {
	b := w.buf[:0]
	for _, f := range [...]string{r.Resource.Type, r.Resource.ID, r.Relation, r.Subject.Type, r.Subject.ID, r.Subject.Relation} {
		b = append(append(b, f...), 0)
	}
	w.buf = b
	return maphash.Bytes(w.seed, b)
}

// find returns the position of the entry with r's key, whose hash is h, or -1.
func (w *WriteSet) find(h uint64, r *tuple.Relationship) int {
	head, ok := w.heads[h]
	if !ok {
		return -1
	}
	for pos := int(head); pos >= 0; pos = int(w.links[pos].next) {
		if sameKey(&w.entries[pos].Relationship, r) {
			return pos
		}
	}
	return -1
}

func sameKey(a, b *tuple.Relationship) bool {
	return a.Resource == b.Resource && a.Relation == b.Relation && a.Subject == b.Subject
}

// set makes p the pending state of its key.
func (w *WriteSet) set(p PendingWrite) {
	h := w.hash(&p.Relationship)
	if pos := w.find(h, &p.Relationship); pos >= 0 {
		w.entries[pos] = p
		return
	}
	w.add(h, p)
}

// add appends the pending state of a key not written before; h is its hash.
func (w *WriteSet) add(h uint64, p PendingWrite) {
	next := int32(-1)
	if head, ok := w.heads[h]; ok {
		next = head
	}
	w.heads[h] = int32(len(w.entries))
	w.entries = append(w.entries, p)
	w.links = append(w.links, link{hash: h, next: next})
}

// rollback restores the state before the entries from mark on were added and the
// writes in undo were made.
func (w *WriteSet) rollback(mark int) {
	for i := len(w.undo) - 1; i >= 0; i-- {
		w.entries[w.undo[i].pos] = w.undo[i].prev
	}
	clear(w.undo)
	w.undo = w.undo[:0]
	// Newer entries head their hash's chain, so removing them newest first hands
	// each chain back to the entry it had before.
	for i := len(w.entries) - 1; i >= mark; i-- {
		if l := w.links[i]; l.next >= 0 {
			w.heads[l.hash] = l.next
		} else {
			delete(w.heads, l.hash)
		}
	}
	clear(w.entries[mark:]) // drop the references the removed entries hold
	w.entries = w.entries[:mark]
	w.links = w.links[:mark]
}

// DeleteMatching deletes up to limit relationships matching f (0 means all) from the
// transaction's view, the snapshot snap overlaid with the pending writes, with the
// semantics of ReadWriteTx.DeleteRelationships: it returns them in tuple.Key order
// and sets more when further ones match. snap must read the snapshot the
// transaction builds on. When it fails, nothing is deleted.
func (w *WriteSet) DeleteMatching(ctx context.Context, snap Reader, f RelationshipFilter, limit int) ([]tuple.Relationship, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	// The pending state decides for every key written; of the keys the snapshot
	// returns, at most `shadowed` are such keys, so reading that many more than the
	// limit leaves enough. mine are the transaction's own writes that match.
	var mine []tuple.Relationship
	shadowed := 0
	for i := range w.entries {
		p := &w.entries[i]
		if !f.Matches(p.Relationship) {
			continue
		}
		shadowed++
		if !p.Deleted {
			mine = append(mine, p.Relationship)
		}
	}
	tuple.Sort(mine)
	fetch := 0
	if limit > 0 {
		fetch = limit + shadowed + 1
	}
	// Walk the snapshot and mine together in key order and stop once limit+1 matches
	// prove there are more.
	var found []tuple.Relationship
	full := func() bool { return limit > 0 && len(found) > limit }
	for rel, err := range snap.QueryRelationships(ctx, f, QueryOptions{Limit: fetch}) {
		if err != nil {
			return nil, false, err
		}
		if w.find(w.hash(&rel), &rel) >= 0 {
			continue
		}
		key := rel.Key()
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
		w.set(PendingWrite{Relationship: rel, Deleted: true})
	}
	return found, more, nil
}
