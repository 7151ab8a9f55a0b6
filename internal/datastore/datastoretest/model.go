package datastoretest

import (
	"maps"
	"sort"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// model is the reference a store's answers are compared with: the full state of one
// tenant at every revision, expired rows included (visibility applies the clock when
// read, as the stores do).
type model struct {
	states []map[tuple.Key]tuple.Relationship // index = revision
}

func newModel() *model {
	return &model{states: []map[tuple.Key]tuple.Relationship{{}}}
}

func (m *model) head() datastore.Revision { return datastore.Revision(len(m.states) - 1) }

// visible returns the relationships visible at rev and time now that match.
func (m *model) visible(rev datastore.Revision, now time.Time, match func(tuple.Relationship) bool) []tuple.Relationship {
	var out []tuple.Relationship
	for _, r := range m.states[rev] {
		if !r.ExpiredAt(now) && (match == nil || match(r)) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key().Compare(out[j].Key()) < 0 })
	return out
}

// modelTx is a transaction being built against the model's head.
type modelTx struct {
	now     time.Time
	before  map[tuple.Key]tuple.Relationship // live at the start
	cur     map[tuple.Key]tuple.Relationship // live now
	written map[tuple.Key]bool               // keys the transaction wrote or deleted
}

func (m *model) begin(now time.Time) *modelTx {
	live := map[tuple.Key]tuple.Relationship{}
	for k, r := range m.states[m.head()] {
		if !r.ExpiredAt(now) {
			live[k] = r
		}
	}
	return &modelTx{now: now, before: live, cur: maps.Clone(live), written: map[tuple.Key]bool{}}
}

// apply applies one update and reports whether a Create conflicts.
func (tx *modelTx) apply(u datastore.Update) (conflict bool) {
	k := u.Relationship.Key()
	if u.Op == datastore.OpCreate {
		if _, ok := tx.cur[k]; ok {
			return true
		}
	}
	tx.written[k] = true
	switch u.Op {
	case datastore.OpCreate:
		tx.cur[k] = u.Relationship
	case datastore.OpTouch:
		tx.cur[k] = u.Relationship
	case datastore.OpDelete:
		delete(tx.cur, k)
	}
	return false
}

// matching returns the live relationships of the transaction's view that match f.
func (tx *modelTx) matching(f datastore.RelationshipFilter) map[tuple.Key]tuple.Relationship {
	out := map[tuple.Key]tuple.Relationship{}
	for k, r := range tx.cur {
		if f.Matches(r) {
			out[k] = r
		}
	}
	return out
}

// remove deletes a key from the transaction's view (a delete-by-filter result).
func (tx *modelTx) remove(k tuple.Key) {
	tx.written[k] = true
	delete(tx.cur, k)
}

// changes returns the net change of every key the transaction wrote, in key order:
// created when it was absent before and present after, touched when present in both,
// deleted when present before and absent after, nothing when absent in both.
func (tx *modelTx) changes() []datastore.Change {
	var out []datastore.Change
	for k := range tx.written {
		before, wasLive := tx.before[k]
		after, isLive := tx.cur[k]
		switch {
		case wasLive && isLive:
			out = append(out, datastore.Change{Kind: datastore.ChangeTouched, Relationship: after})
		case isLive:
			out = append(out, datastore.Change{Kind: datastore.ChangeCreated, Relationship: after})
		case wasLive:
			out = append(out, datastore.Change{Kind: datastore.ChangeDeleted, Relationship: before})
		}
	}
	sortChanges(out)
	return out
}

// commit records the transaction as the next revision.
func (m *model) commit(tx *modelTx) {
	m.states = append(m.states, tx.cur)
}

func sortChanges(cs []datastore.Change) {
	sort.Slice(cs, func(i, j int) bool {
		return cs[i].Relationship.Key().Compare(cs[j].Relationship.Key()) < 0
	})
}
