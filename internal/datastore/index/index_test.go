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
	ctx := context.Background()
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	backing := memory.New(datastore.Options{Now: now})
	idx := New(backing, Options{Now: now, CatchUpWait: time.Second})
	defer idx.Close()
	tenant := tuple.DefaultTenant
	if err := idx.Warm(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"document", "folder"}
	rels := []string{"viewer", "editor", "parent"}
	subTypes := []string{"user", "group"}
	ids := []string{"a", "b", "c", "d", "e"}
	randRel := func() tuple.Relationship {
		r := tuple.Relationship{
			Resource: tuple.ObjectRef{Type: types[rng.IntN(2)], ID: ids[rng.IntN(5)]},
			Relation: rels[rng.IntN(3)],
			Subject:  tuple.SubjectRef{Type: subTypes[rng.IntN(2)], ID: ids[rng.IntN(5)]},
		}
		switch rng.IntN(6) {
		case 0:
			r.Subject.Relation = "member"
		case 1:
			r.Subject.ID = tuple.Wildcard
		case 2:
			r.Caveat = &tuple.Caveat{Name: "cav", Context: map[string]any{"n": float64(rng.IntN(3))}}
		case 3:
			r.Expiration = clock.Add(time.Duration(rng.IntN(20)-5) * time.Minute)
		}
		return r
	}
	var revs []datastore.Revision
	for range 60 {
		rev, err := idx.ReadWriteTx(ctx, tenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			var ups []datastore.Update
			seen := map[tuple.Key]bool{}
			for range 1 + rng.IntN(8) {
				r := randRel()
				if seen[r.Key()] {
					continue
				}
				seen[r.Key()] = true
				op := datastore.OpTouch
				if rng.IntN(3) == 0 {
					op = datastore.OpDelete
				}
				ups = append(ups, datastore.Update{Op: op, Relationship: r})
			}
			return tx.WriteRelationships(ctx, ups)
		})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
		clock = clock.Add(time.Minute / 4)
	}
	collectAll := func(seq func(func(tuple.Relationship, error) bool)) []string {
		var out []string
		for r, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r.String())
		}
		return out
	}
	checked := 0
	for _, rev := range revs {
		mine := idx.SnapshotReader(tenant, rev)
		theirs := backing.SnapshotReader(tenant, rev)
		for range 40 {
			f := datastore.RelationshipFilter{ResourceType: types[rng.IntN(2)], Relation: rels[rng.IntN(3)], ResourceIDs: []string{ids[rng.IntN(5)], ids[rng.IntN(5)]}}
			if rng.IntN(2) == 0 {
				f.Subject = &datastore.SubjectFilter{Type: subTypes[rng.IntN(2)]}
				if rng.IntN(2) == 0 {
					f.Subject.IDs = []string{ids[rng.IntN(5)], tuple.Wildcard}
				}
				if rng.IntN(2) == 0 {
					f.Subject.Relations = []string{""}
				}
			}
			opts := datastore.QueryOptions{Limit: rng.IntN(4)}
			want := collectAll(theirs.QueryRelationships(ctx, f, opts))
			got := collectAll(mine.QueryRelationships(ctx, f, opts))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("forward %+v at %d (-backing +index):\n%s", f, rev, diff)
			}
			sf := datastore.SubjectFilter{Type: subTypes[rng.IntN(2)], IDs: []string{ids[rng.IntN(5)]}}
			if rng.IntN(2) == 0 {
				sf.Relations = []string{"member"}
			}
			ro := datastore.ReverseQueryOptions{Limit: rng.IntN(4)}
			if rng.IntN(2) == 0 {
				ro.ResourceType = types[rng.IntN(2)]
			}
			if rng.IntN(2) == 0 {
				ro.Relation = rels[rng.IntN(3)]
			}
			want = collectAll(theirs.ReverseQueryRelationships(ctx, sf, ro))
			got = collectAll(mine.ReverseQueryRelationships(ctx, sf, ro))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("reverse %+v %+v at %d (-backing +index):\n%s", sf, ro, rev, diff)
			}
			// The next page, resuming after the last result.
			if len(want) > 0 {
				k := tuple.MustParse(want[len(want)-1]).Key()
				ro.After = &k
				want = collectAll(theirs.ReverseQueryRelationships(ctx, sf, ro))
				got = collectAll(mine.ReverseQueryRelationships(ctx, sf, ro))
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("reverse %+v after %v at %d (-backing +index):\n%s", sf, k, rev, diff)
				}
			}
			checked++
		}
	}
	st := idx.Stats()
	if st.Served == 0 {
		t.Fatal("index served no query")
	}
	// Collecting keeps every revision within the retention window answerable.
	clock = clock.Add(2 * time.Minute)
	idx.mu.Lock()
	ti := idx.tenants[tenant]
	idx.mu.Unlock()
	ti.mu.Lock()
	removed := ti.t.collect(ti.t.horizonBefore(clock.Add(-idx.opts.Retain)), clock)
	base := ti.t.base
	ti.mu.Unlock()
	if removed == 0 {
		t.Fatal("collect removed nothing")
	}
	for _, rev := range revs {
		if rev < base {
			continue
		}
		f := datastore.RelationshipFilter{ResourceType: "document", Relation: "viewer", ResourceIDs: ids}
		want := collectAll(backing.SnapshotReader(tenant, rev).QueryRelationships(ctx, f, datastore.QueryOptions{}))
		got := collectAll(idx.SnapshotReader(tenant, rev).QueryRelationships(ctx, f, datastore.QueryOptions{}))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("after collect at %d (-backing +index):\n%s", rev, diff)
		}
	}
	t.Log(fmt.Sprintf("%d query pairs compared; served %d, fell back %d", checked*2, st.Served, st.Fallbacks))
}
