package datastoretest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// testConcurrency runs writers in two tenants and readers side by side. Every
// transaction writes four relationships of one document, so a reader at revision R
// must see exactly 4·R relationships, each document complete, and the same answer
// when it reads R again later.
func testConcurrency(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	if err := h.ds.CreateTenant(h.ctx(), "other"); err != nil {
		t.Fatal(err)
	}
	const writers, each = 6, 15
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed atomic.Value
	fail := func(err error) { failed.CompareAndSwap(nil, err) }
	done := make(chan struct{})
	for _, tenant := range []string{def, "other"} {
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					_, err := h.ds.ReadWriteTx(ctx, tenant, testMeta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
						doc := fmt.Sprintf("document:w%d-%02d", w, i)
						return tx.WriteRelationships(ctx, updates(datastore.OpCreate,
							doc+"#viewer@user:a", doc+"#viewer@user:b", doc+"#editor@user:a", doc+"#viewer@group:g#member"))
					})
					if err != nil {
						fail(fmt.Errorf("writer %d in %s: %w", w, tenant, err))
						return
					}
				}
			})
		}
	}
	var readers sync.WaitGroup
	for range 3 {
		readers.Go(func() {
			seen := map[datastore.Revision]int{}
			for {
				select {
				case <-done:
					return
				default:
				}
				rev, err := h.ds.HeadRevision(ctx, def)
				if err != nil {
					fail(err)
					return
				}
				perDoc := map[string]int{}
				n := 0
				for r, err := range h.ds.SnapshotReader(def, rev).QueryRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document"}, datastore.QueryOptions{}) {
					if err != nil {
						fail(err)
						return
					}
					perDoc[r.Resource.ID]++
					n++
				}
				if n != 4*int(rev) {
					fail(fmt.Errorf("a reader at revision %d saw %d relationships, want %d", rev, n, 4*rev))
					return
				}
				for doc, c := range perDoc {
					if c != 4 {
						fail(fmt.Errorf("a reader at revision %d saw %d of document %s's 4 relationships", rev, c, doc))
						return
					}
				}
				users := 0
				for _, err := range h.ds.SnapshotReader(def, rev).ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: "user", IDs: []string{"b"}}, datastore.ReverseQueryOptions{}) {
					if err != nil {
						fail(err)
						return
					}
					users++
				}
				if users != int(rev) {
					fail(fmt.Errorf("a reverse reader at revision %d saw %d relationships of user:b", rev, users))
					return
				}
				// Re-read an earlier revision: the same answer as before.
				for old, want := range seen {
					if got := countAt(h.ds, old); got != want {
						fail(fmt.Errorf("revision %d first had %d relationships, later %d", old, want, got))
						return
					}
					break
				}
				seen[rev] = n
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{def, "other"} {
		if got := h.head(tenant); got != writers*each {
			t.Fatalf("%s: head %d after %d transactions", tenant, got, writers*each)
		}
		st, err := h.ds.Statistics(h.ctx(), tenant)
		if err != nil || st.Relationships != 4*writers*each || st.Transactions != writers*each {
			t.Fatalf("%s: statistics %+v, %v", tenant, st, err)
		}
	}
}

func countAt(ds datastore.Datastore, rev datastore.Revision) int {
	n := 0
	for _, err := range ds.SnapshotReader(def, rev).QueryRelationships(context.Background(), datastore.RelationshipFilter{ResourceType: "document"}, datastore.QueryOptions{}) {
		if err != nil {
			return -1
		}
		n++
	}
	return n
}

// testBulk writes 5,000 relationships in one transaction, rewrites and deletes them.
func testBulk(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	const n = 5000
	rels := make([]string, n)
	ups := make([]datastore.Update, n)
	for i := range n {
		rels[i] = fmt.Sprintf("document:bulk-%05d#viewer@user:u%03d", i, i%997)
		ups[i] = datastore.Update{Op: datastore.OpTouch, Relationship: tuple.MustParse(rels[i])}
	}
	r1 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error { return tx.WriteRelationships(ctx, ups) })
	equalStrings(t, "5,000 relationships in pages of 1,000", h.pageForward(def, r1, datastore.RelationshipFilter{ResourceType: "document"}, 1000), rels)
	equalStrings(t, "reverse query for one user", h.reverse(def, r1, datastore.SubjectFilter{Type: "user", IDs: []string{"u005"}}, datastore.ReverseQueryOptions{}),
		[]string{"document:bulk-00005#viewer@user:u005", "document:bulk-01002#viewer@user:u005", "document:bulk-01999#viewer@user:u005",
			"document:bulk-02996#viewer@user:u005", "document:bulk-03993#viewer@user:u005", "document:bulk-04990#viewer@user:u005"})
	txn := h.watchN(def, 0, 1)[0]
	if len(txn.Changes) != n {
		t.Fatalf("the bulk transaction recorded %d changes", len(txn.Changes))
	}
	for _, c := range txn.Changes {
		if c.Kind != datastore.ChangeCreated {
			t.Fatalf("bulk change %s %s", c.Kind, c.Relationship)
		}
	}
	for i := range ups {
		ups[i].Relationship.Caveat = &tuple.Caveat{Name: "only_on", Context: map[string]any{"i": i}}
	}
	r2 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error { return tx.WriteRelationships(ctx, ups) })
	txn = h.txAt(def, r2)
	if len(txn.Changes) != n || txn.Changes[0].Kind != datastore.ChangeTouched {
		t.Fatalf("the bulk rewrite recorded %d changes", len(txn.Changes))
	}
	st, err := h.ds.Statistics(h.ctx(), def)
	if err != nil || st.Relationships != n || st.ByResourceType["document"] != n {
		t.Fatalf("statistics after the bulk writes: %+v, %v", st, err)
	}
	r3 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		deleted, more, err := tx.DeleteRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document"}, 0)
		if err != nil {
			return err
		}
		if len(deleted) != n || more {
			return fmt.Errorf("bulk delete removed %d with more=%v", len(deleted), more)
		}
		return nil
	})
	equalStrings(t, "after the bulk delete", h.all(def, r3), []string{})
	if got := len(h.all(def, r2)); got != n {
		t.Fatalf("revision %d has %d relationships after the bulk delete", r2, got)
	}
}

// testIterationHoldsNoLocks checks that a consumer can write, run nested queries and
// abandon iterations while a query is being yielded, without deadlocking the store.
func testIterationHoldsNoLocks(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	rels := gridRels("d", 300, "alice", "bob")
	base := h.mustWrite(def, datastore.OpTouch, rels...)
	within := func(what string, fn func() error) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- fn() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("%s did not finish within 60s: the store holds a lock while yielding", what)
		}
	}
	ctx := context.Background()
	docs := datastore.RelationshipFilter{ResourceType: "document"}
	within("writing from inside a forward query", func() error {
		n := 0
		for _, err := range h.ds.SnapshotReader(def, base).QueryRelationships(ctx, docs, datastore.QueryOptions{}) {
			if err != nil {
				return err
			}
			n++
			if n == 10 || n == 400 {
				// A large write (it grows a file-backed store) and a nested query.
				var big []datastore.Update
				for i := range 3000 {
					big = append(big, datastore.Update{Op: datastore.OpTouch, Relationship: tuple.MustParse(fmt.Sprintf("folder:n%d-%04d#viewer@user:carol", n, i))})
				}
				if _, err := h.ds.ReadWriteTx(ctx, def, testMeta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
					return tx.WriteRelationships(ctx, big)
				}); err != nil {
					return err
				}
				if err := seqErr(h.ds.SnapshotReader(def, base).ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: "user"}, datastore.ReverseQueryOptions{})); err != nil {
					return err
				}
			}
		}
		if n != len(rels) {
			return fmt.Errorf("the query yielded %d relationships, want %d", n, len(rels))
		}
		return nil
	})
	within("writing from inside a reverse query", func() error {
		n := 0
		for r, err := range h.ds.SnapshotReader(def, base).ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: "user"}, datastore.ReverseQueryOptions{}) {
			if err != nil {
				return err
			}
			n++
			if n%100 == 0 {
				if _, err := h.ds.ReadWriteTx(ctx, def, testMeta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
					return tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpDelete, Relationship: r}})
				}); err != nil {
					return err
				}
			}
		}
		if n != len(rels) {
			return fmt.Errorf("the reverse query yielded %d relationships, want %d", n, len(rels))
		}
		return nil
	})
	within("deleting each row of the snapshot inside a transaction", func() error {
		_, err := h.ds.ReadWriteTx(ctx, def, testMeta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			for r, err := range tx.Snapshot().QueryRelationships(ctx, docs, datastore.QueryOptions{}) {
				if err != nil {
					return err
				}
				if err := tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpDelete, Relationship: r}}); err != nil {
					return err
				}
			}
			return nil
		})
		return err
	})
	equalStrings(t, "documents after deleting each row", h.query(def, h.head(def), docs, datastore.QueryOptions{}), []string{})
	within("abandoning iterations", func() error {
		for range 200 {
			for _, err := range h.ds.SnapshotReader(def, base).QueryRelationships(ctx, docs, datastore.QueryOptions{}) {
				if err != nil {
					return err
				}
				break
			}
			for _, err := range h.ds.ReadTransactions(ctx, def, datastore.TransactionFilter{}) {
				if err != nil {
					return err
				}
				break
			}
		}
		_, err := h.ds.ReadWriteTx(ctx, def, testMeta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			return tx.WriteRelationships(ctx, updates(datastore.OpTouch, "document:after#viewer@user:x"))
		})
		return err
	})
	if _, err := h.ds.GarbageCollect(ctx); err != nil {
		t.Fatal(err)
	}
}
