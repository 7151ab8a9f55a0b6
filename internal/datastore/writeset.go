package datastore

import (
	"context"
	"fmt"
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
	index   map[tuple.Key]int // position in entries
	entries []PendingWrite
	// undo keeps the earlier state of entries a Write call overwrote, so a failing call
	// can be taken back.
	undo []undoEntry
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
	return &WriteSet{lookup: lookup, index: map[tuple.Key]int{}}
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
	w.index = growMap(w.index, len(updates))
	w.entries = slices.Grow(w.entries, len(updates))
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
		key := u.Relationship.Key()
		pos, written := w.index[key]
		if u.Op == OpCreate {
			exists := false
			if next < len(probeAt) && probeAt[next] == i {
				exists = live[next]
				next++
			}
			// An earlier update of this call may have written the key since the probe:
			// the pending state, when there is one, is the newer.
			if written {
				exists = !w.entries[pos].Deleted
			}
			if exists {
				w.rollback(mark)
				return &RelationshipExistsError{Relationship: key}
			}
		}
		p := PendingWrite{Relationship: u.Relationship, Deleted: u.Op == OpDelete}
		if !written {
			w.add(key, p)
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

// probe checks every update's operation and asks the snapshot, in one lookup, about
// the keys of the Creates that the pending state does not decide. probeAt lists the
// updates asked about, live holds the answers, creates counts the Creates.
func (w *WriteSet) probe(ctx context.Context, updates []Update) (probeAt []int, live []bool, creates int, err error) {
	var keys []tuple.Key
	for i := range updates {
		u := &updates[i]
		switch u.Op {
		case OpCreate:
			creates++
			if k := u.Relationship.Key(); !w.has(k) {
				if keys == nil {
					keys = make([]tuple.Key, 0, len(updates)-i)
				}
				keys = append(keys, k)
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
func growMap(m map[tuple.Key]int, n int) map[tuple.Key]int {
	if len(m) > 0 || n <= 8 {
		return m
	}
	return make(map[tuple.Key]int, n)
}

func (w *WriteSet) has(key tuple.Key) bool {
	_, ok := w.index[key]
	return ok
}

// set makes p the pending state of key.
func (w *WriteSet) set(key tuple.Key, p PendingWrite) {
	if pos, ok := w.index[key]; ok {
		w.entries[pos] = p
		return
	}
	w.add(key, p)
}

// add appends the pending state of a key not written before.
func (w *WriteSet) add(key tuple.Key, p PendingWrite) {
	w.index[key] = len(w.entries)
	w.entries = append(w.entries, p)
}

// rollback restores the state before the entries from mark on were added and the
// writes in undo were made.
func (w *WriteSet) rollback(mark int) {
	for i := len(w.undo) - 1; i >= 0; i-- {
		w.entries[w.undo[i].pos] = w.undo[i].prev
	}
	clear(w.undo)
	w.undo = w.undo[:0]
	for i := mark; i < len(w.entries); i++ {
		delete(w.index, w.entries[i].Relationship.Key())
	}
	clear(w.entries[mark:]) // drop the references the removed entries hold
	w.entries = w.entries[:mark]
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
		key := rel.Key()
		if w.has(key) {
			continue
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
		w.set(rel.Key(), PendingWrite{Relationship: rel, Deleted: true})
	}
	return found, more, nil
}
