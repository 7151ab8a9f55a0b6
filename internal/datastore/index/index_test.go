package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// TestMatchesBackingStore drives random writes into a memory store and checks that,
// at every revision, every query shape the index serves gives exactly the backing
// store's answer.
func TestMatchesBackingStore(t *testing.T) {
	c := newComparison(t)
	revs := c.writeRandomHistory(60)
	checked := 0
	for _, rev := range revs {
		mine := c.idx.SnapshotReader(c.tenant, rev)
		theirs := c.backing.SnapshotReader(c.tenant, rev)
		for range 40 {
			c.compareForward(mine, theirs, rev)
			c.compareReverse(mine, theirs, rev)
			checked++
		}
	}
	st := c.idx.Stats()
	if st.Served == 0 {
		t.Fatal("index served no query")
	}
	c.compareAfterCollect(revs)
	t.Log(fmt.Sprintf("%d query pairs compared; served %d, fell back %d", checked*2, st.Served, st.Fallbacks))
}

// The values the random relationships and filters of TestMatchesBackingStore draw
// from.
var (
	randTypes    = []string{"document", "folder"}
	randRels     = []string{"viewer", "editor", "parent"}
	randSubTypes = []string{"user", "group"}
	randIDs      = []string{"a", "b", "c", "d", "e"}
)

// comparison is a memory store, the index in front of it, the clock both read and
// the random source TestMatchesBackingStore's steps draw from, in a fixed order.
type comparison struct {
	t       *testing.T
	ctx     context.Context
	tenant  string
	clock   time.Time
	backing *memory.Store
	idx     *Store
	rng     *rand.Rand
}

func newComparison(t *testing.T) *comparison {
	c := &comparison{
		t:      t,
		ctx:    context.Background(),
		tenant: tuple.DefaultTenant,
		clock:  time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		rng:    rand.New(rand.NewPCG(1, 2)),
	}
	now := func() time.Time { return c.clock }
	c.backing = memory.New(datastore.Options{Now: now})
	c.idx = New(c.backing, Options{Now: now, CatchUpWait: time.Second})
	t.Cleanup(func() { _ = c.idx.Close() })
	if err := c.idx.Warm(c.ctx, c.tenant); err != nil {
		t.Fatal(err)
	}
	return c
}

// randRel is a random relationship, now and then with a subject relation, a
// wildcard, a caveat, an expiry around the current time or a grant.
func (c *comparison) randRel() tuple.Relationship {
	rng := c.rng
	r := tuple.Relationship{
		Resource: tuple.ObjectRef{Type: randTypes[rng.IntN(2)], ID: randIDs[rng.IntN(5)]},
		Relation: randRels[rng.IntN(3)],
		Subject:  tuple.SubjectRef{Type: randSubTypes[rng.IntN(2)], ID: randIDs[rng.IntN(5)]},
	}
	switch rng.IntN(6) {
	case 0:
		r.Subject.Relation = "member"
	case 1:
		r.Subject.ID = tuple.Wildcard
	case 2:
		r.Caveat = &tuple.Caveat{Name: "cav", Context: map[string]any{"n": float64(rng.IntN(3))}}
	case 3:
		r.Expiration = c.clock.Add(time.Duration(rng.IntN(20)-5) * time.Minute)
	case 4:
		r.Granted = &tuple.Grant{By: tuple.SubjectRef{Type: "user", ID: randIDs[rng.IntN(5)]}, Via: tuple.ObjectRef{Type: "organization", ID: randIDs[rng.IntN(2)]}}
	}
	return r
}

// writeRandomHistory commits n transactions of random touches and deletes through
// the index, a quarter of a minute apart, and returns their revisions.
func (c *comparison) writeRandomHistory(n int) []datastore.Revision {
	var revs []datastore.Revision
	for range n {
		rev, err := c.idx.ReadWriteTx(c.ctx, c.tenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			var ups []datastore.Update
			seen := map[tuple.Key]bool{}
			for range 1 + c.rng.IntN(8) {
				r := c.randRel()
				if seen[r.Key()] {
					continue
				}
				seen[r.Key()] = true
				op := datastore.OpTouch
				if c.rng.IntN(3) == 0 {
					op = datastore.OpDelete
				}
				ups = append(ups, datastore.Update{Op: op, Relationship: r})
			}
			return tx.WriteRelationships(ctx, ups)
		})
		if err != nil {
			c.t.Fatal(err)
		}
		revs = append(revs, rev)
		c.clock = c.clock.Add(time.Minute / 4)
	}
	return revs
}

func (c *comparison) collectAll(seq func(func(tuple.Relationship, error) bool)) []string {
	var out []string
	for r, err := range seq {
		if err != nil {
			c.t.Fatal(err)
		}
		out = append(out, r.String())
	}
	return out
}

// compareForward asks both readers one random forward query.
func (c *comparison) compareForward(mine, theirs datastore.Reader, rev datastore.Revision) {
	rng := c.rng
	f := datastore.RelationshipFilter{ResourceType: randTypes[rng.IntN(2)], Relation: randRels[rng.IntN(3)], ResourceIDs: []string{randIDs[rng.IntN(5)], randIDs[rng.IntN(5)]}}
	if rng.IntN(2) == 0 {
		f.Subject = &datastore.SubjectFilter{Type: randSubTypes[rng.IntN(2)]}
		if rng.IntN(2) == 0 {
			f.Subject.IDs = []string{randIDs[rng.IntN(5)], tuple.Wildcard}
		}
		if rng.IntN(2) == 0 {
			f.Subject.Relations = []string{""}
		}
	}
	opts := datastore.QueryOptions{Limit: rng.IntN(4)}
	want := c.collectAll(theirs.QueryRelationships(c.ctx, f, opts))
	got := c.collectAll(mine.QueryRelationships(c.ctx, f, opts))
	if diff := cmp.Diff(want, got); diff != "" {
		c.t.Fatalf("forward %+v at %d (-backing +index):\n%s", f, rev, diff)
	}
}

// compareReverse asks both readers one random reverse query and the page after it.
func (c *comparison) compareReverse(mine, theirs datastore.Reader, rev datastore.Revision) {
	rng := c.rng
	sf := datastore.SubjectFilter{Type: randSubTypes[rng.IntN(2)], IDs: []string{randIDs[rng.IntN(5)]}}
	if rng.IntN(2) == 0 {
		sf.Relations = []string{"member"}
	}
	ro := datastore.ReverseQueryOptions{Limit: rng.IntN(4)}
	if rng.IntN(2) == 0 {
		ro.ResourceType = randTypes[rng.IntN(2)]
	}
	if rng.IntN(2) == 0 {
		ro.Relation = randRels[rng.IntN(3)]
	}
	want := c.collectAll(theirs.ReverseQueryRelationships(c.ctx, sf, ro))
	got := c.collectAll(mine.ReverseQueryRelationships(c.ctx, sf, ro))
	if diff := cmp.Diff(want, got); diff != "" {
		c.t.Fatalf("reverse %+v %+v at %d (-backing +index):\n%s", sf, ro, rev, diff)
	}
	// The next page, resuming after the last result.
	if len(want) > 0 {
		k := tuple.MustParse(want[len(want)-1]).Key()
		ro.After = &k
		want = c.collectAll(theirs.ReverseQueryRelationships(c.ctx, sf, ro))
		got = c.collectAll(mine.ReverseQueryRelationships(c.ctx, sf, ro))
		if diff := cmp.Diff(want, got); diff != "" {
			c.t.Fatalf("reverse %+v after %v at %d (-backing +index):\n%s", sf, k, rev, diff)
		}
	}
}

// compareAfterCollect collects what the retention window no longer needs and checks
// that every revision within it still gets the backing store's answers.
func (c *comparison) compareAfterCollect(revs []datastore.Revision) {
	c.clock = c.clock.Add(2 * time.Minute)
	idx := c.idx
	idx.mu.Lock()
	ti := idx.tenants[c.tenant]
	idx.mu.Unlock()
	ti.mu.Lock()
	removed := ti.t.collect(ti.t.horizonBefore(c.clock.Add(-idx.opts.Retain)), c.clock)
	base := ti.t.base
	ti.mu.Unlock()
	if removed == 0 {
		c.t.Fatal("collect removed nothing")
	}
	for _, rev := range revs {
		if rev < base {
			continue
		}
		f := datastore.RelationshipFilter{ResourceType: "document", Relation: "viewer", ResourceIDs: randIDs}
		want := c.collectAll(c.backing.SnapshotReader(c.tenant, rev).QueryRelationships(c.ctx, f, datastore.QueryOptions{}))
		got := c.collectAll(idx.SnapshotReader(c.tenant, rev).QueryRelationships(c.ctx, f, datastore.QueryOptions{}))
		if diff := cmp.Diff(want, got); diff != "" {
			c.t.Fatalf("after collect at %d (-backing +index):\n%s", rev, diff)
		}
	}
}
