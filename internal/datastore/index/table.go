package index

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// row is one version of one relationship, visible at revisions [created, deleted).
type row struct {
	resType, resID, rel    uint32
	subType, subID, subRel uint32
	caveat                 uint32 // index into table.caveats; 0 = none
	// grant is an index into table.grants; 0 = none. It fills what would be padding
	// before the revisions, so it costs a row no bytes.
	grant            uint32
	created, deleted datastore.Revision
	expires          int64 // unix nanoseconds; 0 = never
}

type objKey struct{ typ, id, rel uint32 }
type subjKey struct{ typ, id uint32 }

// table is one tenant's relationships from revision base onwards. It is not safe for
// concurrent use; tenantIndex guards it.
type table struct {
	strs []string
	ids  map[string]uint32

	rows    []row
	free    []uint32
	caveats []*tuple.Caveat
	freeCav []uint32
	// grants holds each distinct grant once (a grantor grants many relationships
	// through the same object) and grantIDs finds it; like strings they are kept
	// until the table is rebuilt.
	grants   []*tuple.Grant
	grantIDs map[tuple.Grant]uint32

	// fwd holds, per (resource, relation), row numbers sorted by subject then created.
	fwd map[objKey][]uint32
	// rev holds, per subject object, row numbers sorted by subject relation, then
	// resource key, then created.
	rev map[subjKey][]uint32

	base    datastore.Revision // oldest revision the table can answer
	applied datastore.Revision // newest revision applied
	live    int
	dead    int

	schemas []datastore.StoredSchema // ascending; the first is the newest at or before base
	times   []revTime                // commit times of applied revisions, ascending
}

type revTime struct {
	rev datastore.Revision
	at  time.Time
}

func newTable(base datastore.Revision) *table {
	t := &table{
		ids:     map[string]uint32{"": 0},
		strs:    []string{""},
		caveats: []*tuple.Caveat{nil},
		grants:  []*tuple.Grant{nil},
		fwd:     map[objKey][]uint32{},
		rev:     map[subjKey][]uint32{},
		base:    base,
		applied: base,
	}
	return t
}

func (t *table) intern(s string) uint32 {
	if id, ok := t.ids[s]; ok {
		return id
	}
	// A copy: s is often a slice of a larger buffer (a decoded key or transaction),
	// which the table would otherwise keep alive for as long as it holds the string.
	s = strings.Clone(s)
	id := uint32(len(t.strs))
	t.strs = append(t.strs, s)
	t.ids[s] = id
	return id
}

// internGrant returns the id of g, adding it the first time it is seen.
func (t *table) internGrant(g *tuple.Grant) uint32 {
	if id, ok := t.grantIDs[*g]; ok {
		return id
	}
	if t.grantIDs == nil {
		t.grantIDs = map[tuple.Grant]uint32{}
	}
	c := &tuple.Grant{
		By:  tuple.SubjectRef{Type: t.strs[t.intern(g.By.Type)], ID: t.strs[t.intern(g.By.ID)], Relation: t.strs[t.intern(g.By.Relation)]},
		Via: tuple.ObjectRef{Type: t.strs[t.intern(g.Via.Type)], ID: t.strs[t.intern(g.Via.ID)]},
	}
	id := uint32(len(t.grants))
	t.grants = append(t.grants, c)
	t.grantIDs[*c] = id
	return id
}

// lookup returns the id of s without interning it; ok is false for unknown strings.
func (t *table) lookup(s string) (uint32, bool) {
	id, ok := t.ids[s]
	return id, ok
}

func (t *table) visible(r *row, rev datastore.Revision, now int64) bool {
	return r.created <= rev && (r.deleted == 0 || r.deleted > rev) && (r.expires == 0 || now < r.expires)
}

func (t *table) relationship(r *row) tuple.Relationship {
	rel := tuple.Relationship{
		Resource: tuple.ObjectRef{Type: t.strs[r.resType], ID: t.strs[r.resID]},
		Relation: t.strs[r.rel],
		Subject:  tuple.SubjectRef{Type: t.strs[r.subType], ID: t.strs[r.subID], Relation: t.strs[r.subRel]},
		Caveat:   t.caveats[r.caveat],
		Granted:  t.grants[r.grant],
	}
	if r.expires != 0 {
		rel.Expiration = time.Unix(0, r.expires).UTC()
	}
	return rel
}

func (t *table) key(r *row) tuple.Key {
	return tuple.Key{
		ResourceType: t.strs[r.resType], ResourceID: t.strs[r.resID], Relation: t.strs[r.rel],
		SubjectType: t.strs[r.subType], SubjectID: t.strs[r.subID], SubjectRel: t.strs[r.subRel],
	}
}

// cmpSubject orders rows of one (resource, relation) list.
func (t *table) cmpSubject(a, b *row) int {
	if c := cmp.Compare(t.strs[a.subType], t.strs[b.subType]); c != 0 {
		return c
	}
	if c := cmp.Compare(t.strs[a.subID], t.strs[b.subID]); c != 0 {
		return c
	}
	if c := cmp.Compare(t.strs[a.subRel], t.strs[b.subRel]); c != 0 {
		return c
	}
	return cmp.Compare(a.created, b.created)
}

// cmpResource orders rows of one subject list.
func (t *table) cmpResource(a, b *row) int {
	if c := cmp.Compare(t.strs[a.subRel], t.strs[b.subRel]); c != 0 {
		return c
	}
	if c := cmp.Compare(t.strs[a.resType], t.strs[b.resType]); c != 0 {
		return c
	}
	if c := cmp.Compare(t.strs[a.resID], t.strs[b.resID]); c != 0 {
		return c
	}
	if c := cmp.Compare(t.strs[a.rel], t.strs[b.rel]); c != 0 {
		return c
	}
	return cmp.Compare(a.created, b.created)
}

// insert adds a relationship version created at rev.
func (t *table) insert(rel tuple.Relationship, rev datastore.Revision) {
	r := row{
		resType: t.intern(rel.Resource.Type), resID: t.intern(rel.Resource.ID), rel: t.intern(rel.Relation),
		subType: t.intern(rel.Subject.Type), subID: t.intern(rel.Subject.ID), subRel: t.intern(rel.Subject.Relation),
		created: rev,
	}
	if rel.HasExpiration() {
		r.expires = rel.Expiration.UnixNano()
	}
	if rel.Granted != nil {
		r.grant = t.internGrant(rel.Granted)
	}
	if rel.Caveat != nil {
		if n := len(t.freeCav); n > 0 {
			r.caveat = t.freeCav[n-1]
			t.freeCav = t.freeCav[:n-1]
			t.caveats[r.caveat] = rel.Caveat
		} else {
			r.caveat = uint32(len(t.caveats))
			t.caveats = append(t.caveats, rel.Caveat)
		}
	}
	var idx uint32
	if n := len(t.free); n > 0 {
		idx = t.free[n-1]
		t.free = t.free[:n-1]
		t.rows[idx] = r
	} else {
		idx = uint32(len(t.rows))
		t.rows = append(t.rows, r)
	}
	p := &t.rows[idx]
	ok := objKey{p.resType, p.resID, p.rel}
	list := t.fwd[ok]
	i, _ := slices.BinarySearchFunc(list, p, func(x uint32, target *row) int { return t.cmpSubject(&t.rows[x], target) })
	t.fwd[ok] = slices.Insert(list, i, idx)

	sk := subjKey{p.subType, p.subID}
	rlist := t.rev[sk]
	j, _ := slices.BinarySearchFunc(rlist, p, func(x uint32, target *row) int { return t.cmpResource(&t.rows[x], target) })
	t.rev[sk] = slices.Insert(rlist, j, idx)
	t.live++
}

// retire marks the live version of key, if any, deleted at rev.
func (t *table) retire(k tuple.Key, rev datastore.Revision) {
	var ids [6]uint32
	for i, s := range []string{k.ResourceType, k.ResourceID, k.Relation, k.SubjectType, k.SubjectID, k.SubjectRel} {
		id, ok := t.lookup(s)
		if !ok {
			return
		}
		ids[i] = id
	}
	list := t.fwd[objKey{ids[0], ids[1], ids[2]}]
	probe := row{subType: ids[3], subID: ids[4], subRel: ids[5]}
	i, _ := slices.BinarySearchFunc(list, &probe, func(x uint32, target *row) int { return t.cmpSubject(&t.rows[x], target) })
	for ; i < len(list); i++ {
		r := &t.rows[list[i]]
		if r.subType != ids[3] || r.subID != ids[4] || r.subRel != ids[5] {
			return
		}
		if r.deleted == 0 {
			r.deleted = rev
			t.live--
			t.dead++
		}
	}
}

// apply replays one committed transaction. Transactions must come in revision order.
func (t *table) apply(tx *datastore.Transaction) {
	for _, c := range tx.Changes {
		t.retire(c.Relationship.Key(), tx.Revision)
		if c.Kind != datastore.ChangeDeleted {
			t.insert(c.Relationship, tx.Revision)
		}
	}
	if tx.Schema != nil {
		t.schemas = append(t.schemas, datastore.StoredSchema{Text: *tx.Schema, Revision: tx.Revision})
	}
	t.applied = tx.Revision
	t.times = append(t.times, revTime{tx.Revision, tx.Time})
}

// collect removes row versions no revision from horizon on can see, and expired rows,
// and moves base up to horizon.
func (t *table) collect(horizon datastore.Revision, now time.Time) int {
	if horizon < t.base {
		horizon = t.base
	}
	nowNano := now.UnixNano()
	dead := func(idx uint32) bool {
		r := &t.rows[idx]
		return (r.deleted != 0 && r.deleted <= horizon) || (r.expires != 0 && nowNano >= r.expires)
	}
	removed := 0
	for k, list := range t.fwd {
		kept := list[:0]
		for _, idx := range list {
			if !dead(idx) {
				kept = append(kept, idx)
			}
		}
		if len(kept) == 0 {
			delete(t.fwd, k)
		} else if len(kept) != len(list) {
			t.fwd[k] = slices.Clip(kept)
		}
	}
	for k, list := range t.rev {
		kept := list[:0]
		for _, idx := range list {
			if dead(idx) {
				r := &t.rows[idx]
				if r.deleted == 0 {
					t.live--
				} else {
					t.dead--
				}
				if r.caveat != 0 {
					t.caveats[r.caveat] = nil
					t.freeCav = append(t.freeCav, r.caveat)
				}
				*r = row{}
				t.free = append(t.free, idx)
				removed++
				continue
			}
			kept = append(kept, idx)
		}
		if len(kept) == 0 {
			delete(t.rev, k)
		} else if len(kept) != len(list) {
			t.rev[k] = slices.Clip(kept)
		}
	}
	// Keep the newest schema at or before the horizon and everything after it.
	keep := 0
	for i, s := range t.schemas {
		if s.Revision <= horizon {
			keep = i
		}
	}
	t.schemas = t.schemas[keep:]
	n := 0
	for n < len(t.times) && t.times[n].rev < horizon {
		n++
	}
	t.times = t.times[n:]
	t.base = horizon
	return removed
}

// horizonBefore returns the newest applied revision committed at or before cutoff.
func (t *table) horizonBefore(cutoff time.Time) datastore.Revision {
	h := t.base
	for _, rt := range t.times {
		if rt.at.After(cutoff) {
			break
		}
		h = rt.rev
	}
	return h
}

// schemaAt returns the newest schema at or before rev.
func (t *table) schemaAt(rev datastore.Revision) (datastore.StoredSchema, bool) {
	for i := len(t.schemas) - 1; i >= 0; i-- {
		if t.schemas[i].Revision <= rev {
			return t.schemas[i], true
		}
	}
	return datastore.StoredSchema{}, false
}
