package datastoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// watchResult is one item a Watch yielded.
type watchResult struct {
	txn *datastore.Transaction
	err error
}

// startWatch runs Watch in a goroutine owned by the test and hands its items over a
// channel; the returned cancel stops it and waits for it to end.
func (h *harness) startWatch(tenant string, after datastore.Revision) (<-chan watchResult, func()) {
	ctx, cancel := context.WithCancel(h.ctx())
	ch := make(chan watchResult)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for txn, err := range h.ds.Watch(ctx, tenant, after) {
			select {
			case ch <- watchResult{txn, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			h.t.Errorf("Watch did not end within 10s of its context being cancelled")
		}
	}
	h.t.Cleanup(stop)
	return ch, stop
}

// next waits for the next item of a watch.
func next(t *testing.T, ch <-chan watchResult) watchResult {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatal("Watch ended early")
		}
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("Watch yielded nothing within 20s")
	}
	return watchResult{}
}

// quiet checks that a watch yields nothing for a short while.
func quiet(t *testing.T, ch <-chan watchResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Watch yielded %+v with nothing committed", r)
	case <-time.After(50 * time.Millisecond):
	}
}

func testWatch(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	auditFixture(h)
	var want []*datastore.Transaction
	for txn, err := range h.ds.ReadTransactions(h.ctx(), def, datastore.TransactionFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		want = append([]*datastore.Transaction{txn}, want...)
	}
	ch, stop := h.startWatch(def, 0)
	for i, w := range want {
		r := next(t, ch)
		if r.err != nil {
			t.Fatalf("Watch item %d: %v", i, r.err)
		}
		sameTransaction(t, fmt.Sprintf("Watch item %d", i), r.txn, w)
	}
	quiet(t, ch)
	h.clock.Advance(time.Minute)
	rev := h.mustWrite(def, datastore.OpTouch, "document:new#viewer@user:x")
	r := next(t, ch)
	if r.err != nil || r.txn.Revision != rev {
		t.Fatalf("after a new commit Watch yielded %+v, want revision %d", r, rev)
	}
	compareChanges(t, "the new commit's changes", r.txn.Changes, []datastore.Change{{Kind: datastore.ChangeCreated, Relationship: tuple.MustParse("document:new#viewer@user:x")}})
	stop()
	// After cancellation the iteration ends; any error it yields says why.
	for r := range ch {
		if r.err != nil && !errors.Is(r.err, context.Canceled) {
			t.Fatalf("Watch ended with %v, want context.Canceled", r.err)
		}
	}

	// A consumer may stop at any point.
	n := 0
	for txn, err := range h.ds.Watch(h.ctx(), def, 2) {
		if err != nil || txn.Revision != 3 {
			t.Fatalf("Watch(2) first yielded %+v, %v", txn, err)
		}
		n++
		break
	}
	if n != 1 {
		t.Fatal("Watch(2) yielded nothing")
	}
}

func testWatchResume(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	auditFixture(h)
	for after := datastore.Revision(0); after <= 5; after++ {
		got := h.watchN(def, after, int(5-after))
		for i, txn := range got {
			if txn.Revision != after+datastore.Revision(i)+1 {
				t.Fatalf("Watch(%d) item %d is revision %d", after, i, txn.Revision)
			}
		}
	}
	// Resuming at the head waits for the next commit.
	ch, _ := h.startWatch(def, 5)
	quiet(t, ch)
	h.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:x")
	if r := next(t, ch); r.err != nil || r.txn.Revision != 6 {
		t.Fatalf("Watch(5) yielded %+v after the commit of 6", r)
	}
}

func testWatchWaits(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	ch, _ := h.startWatch(def, 0)
	quiet(t, ch)
	// A consumer that does not read does not hold up writers.
	for i := range 20 {
		h.mustWrite(def, datastore.OpTouch, fmt.Sprintf("document:d%02d#viewer@user:x", i))
	}
	for i := 1; i <= 20; i++ {
		r := next(t, ch)
		if r.err != nil || r.txn.Revision != datastore.Revision(i) {
			t.Fatalf("item %d: %+v", i, r)
		}
	}
	quiet(t, ch)
	// A consumer that writes from inside its loop does not deadlock.
	ctx, cancel := context.WithTimeout(h.ctx(), 30*time.Second)
	defer cancel()
	seen := 0
	for txn, err := range h.ds.Watch(ctx, def, 18) {
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		seen++
		if txn.Revision == 22 {
			break
		}
		h.mustWrite(def, datastore.OpTouch, fmt.Sprintf("document:w%d#viewer@user:x", txn.Revision))
	}
	if seen != 4 {
		t.Fatalf("the writing consumer saw %d transactions, want 4", seen)
	}
}

func testWatchErrors(t *testing.T, newStore NewStoreFunc) {
	t.Run("newer than the head", func(t *testing.T) {
		h := setup(t, newStore, datastore.Options{})
		h.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:x")
		ch, _ := h.startWatch(def, 2)
		r := next(t, ch)
		var re *datastore.RevisionError
		if !errors.As(r.err, &re) || re.TooOld {
			t.Fatalf("Watch after a revision newer than the head yielded %+v, want a *RevisionError that is not TooOld", r)
		}
	})
	t.Run("unknown tenant", func(t *testing.T) {
		h := setup(t, newStore, datastore.Options{})
		ch, _ := h.startWatch("nosuch", 0)
		if r := next(t, ch); !errors.Is(r.err, datastore.ErrTenantNotFound) {
			t.Fatalf("Watch of an unknown tenant yielded %+v", r)
		}
	})
	t.Run("tenant deleted while watching", func(t *testing.T) {
		h := setup(t, newStore, datastore.Options{})
		if err := h.ds.CreateTenant(h.ctx(), "doomed"); err != nil {
			t.Fatal(err)
		}
		ch, _ := h.startWatch("doomed", 0)
		h.mustWrite("doomed", datastore.OpTouch, "document:a#viewer@user:x")
		if r := next(t, ch); r.err != nil || r.txn.Revision != 1 {
			t.Fatalf("first item %+v", r)
		}
		if err := h.ds.DeleteTenant(h.ctx(), "doomed"); err != nil {
			t.Fatal(err)
		}
		if r := next(t, ch); !errors.Is(r.err, datastore.ErrTenantNotFound) {
			t.Fatalf("Watch of a deleted tenant yielded %+v, want ErrTenantNotFound", r)
		}
	})
	t.Run("older than the log", func(t *testing.T) {
		h := setup(t, newStore, datastore.Options{GCWindow: time.Hour, AuditRetention: time.Hour})
		for range 3 {
			h.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:x")
		}
		h.clock.Advance(2 * time.Hour)
		h.mustWrite(def, datastore.OpTouch, "document:b#viewer@user:x")
		if _, err := h.ds.GarbageCollect(h.ctx()); err != nil {
			t.Fatal(err)
		}
		for _, after := range []datastore.Revision{0, 1, 2} {
			ch, _ := h.startWatch(def, after)
			var re *datastore.RevisionError
			if r := next(t, ch); !errors.As(r.err, &re) || !re.TooOld {
				t.Fatalf("Watch(%d) after its history was collected yielded %+v, want a TooOld *RevisionError", after, r)
			}
		}
		if got := h.watchN(def, 3, 1); got[0].Revision != 4 {
			t.Fatalf("Watch(3) yielded revision %d", got[0].Revision)
		}
		// Once the whole log is past retention, only the head can be resumed.
		h.clock.Advance(2 * time.Hour)
		if _, err := h.ds.GarbageCollect(h.ctx()); err != nil {
			t.Fatal(err)
		}
		ch, _ := h.startWatch(def, 3)
		var re *datastore.RevisionError
		if r := next(t, ch); !errors.As(r.err, &re) || !re.TooOld {
			t.Fatalf("Watch(3) with an empty log yielded %+v, want a TooOld *RevisionError", r)
		}
		ch, _ = h.startWatch(def, 4)
		quiet(t, ch)
		h.mustWrite(def, datastore.OpTouch, "document:c#viewer@user:x")
		if r := next(t, ch); r.err != nil || r.txn.Revision != 5 {
			t.Fatalf("Watch(4) yielded %+v", r)
		}
	})
}

// testWatchConcurrentWriters checks that a watcher sees every transaction of many
// concurrent writers exactly once, in revision order, with its own changes.
func testWatchConcurrentWriters(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	const writers, each = 4, 15
	ch, stop := h.startWatch(def, 0)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				meta := datastore.TxMetadata{Principal: fmt.Sprintf("w%d", w), Reason: fmt.Sprintf("%02d", i)}
				_, err := h.ds.ReadWriteTx(context.Background(), def, meta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
					return tx.WriteRelationships(ctx, updates(datastore.OpCreate, fmt.Sprintf("document:w%d-%02d#viewer@user:x", w, i)))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	seen := map[string]bool{}
	for i := 1; i <= writers*each; i++ {
		r := next(t, ch)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.txn.Revision != datastore.Revision(i) {
			t.Fatalf("item %d is revision %d", i, r.txn.Revision)
		}
		id := r.txn.Metadata.Principal + "-" + r.txn.Metadata.Reason
		want := fmt.Sprintf("document:%s#viewer@user:x", id)
		if len(r.txn.Changes) != 1 || r.txn.Changes[0].Relationship.String() != want || seen[id] {
			t.Fatalf("revision %d (%s) carries %v, want one creation of %s", i, id, r.txn.Changes, want)
		}
		seen[id] = true
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	stop()
}
