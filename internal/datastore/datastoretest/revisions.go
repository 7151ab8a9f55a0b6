package datastoretest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// testRevisions checks that each tenant's revisions start at 0 and every commit takes
// the next one.
func testRevisions(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	if got := h.head(def); got != 0 {
		t.Fatalf("a fresh store's head is %d, want 0", got)
	}
	for want := datastore.Revision(1); want <= 5; want++ {
		rev := h.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:x")
		if rev != want || h.head(def) != want {
			t.Fatalf("commit %d returned revision %d with head %d", want, rev, h.head(def))
		}
	}
}

// testEmptyTransaction checks that a transaction that writes nothing still commits a
// revision and an audit record.
func testEmptyTransaction(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	meta := datastore.TxMetadata{Principal: "auditor", Reason: "nothing to change", Operation: "write"}
	rev, err := h.ds.ReadWriteTx(h.ctx(), def, meta, func(context.Context, datastore.ReadWriteTx) error { return nil })
	if err != nil || rev != 1 {
		t.Fatalf("an empty transaction: revision %d, %v", rev, err)
	}
	txn := h.txAt(def, 1)
	if len(txn.Changes) != 0 || txn.Schema != nil || !sameMeta(txn.Metadata, meta) {
		t.Fatalf("the empty transaction was recorded as %+v", txn)
	}
}

func testOptimizedRevision(t *testing.T, newStore NewStoreFunc) {
	const window = 10 * time.Second
	h := setup(t, newStore, datastore.Options{QuantizationWindow: window})
	opt := func() datastore.Revision {
		t.Helper()
		rev, err := h.ds.OptimizedRevision(h.ctx(), def)
		if err != nil {
			t.Fatalf("OptimizedRevision: %v", err)
		}
		if head := h.head(def); rev > head {
			t.Fatalf("OptimizedRevision %d is newer than the head %d", rev, head)
		}
		return rev
	}
	if got := opt(); got != 0 {
		t.Fatalf("OptimizedRevision of a fresh tenant is %d", got)
	}
	h.clock.Advance(window + time.Second)
	r1 := h.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:x")
	h.clock.Advance(window + time.Millisecond)
	if got := opt(); got != r1 {
		t.Fatalf("with nothing committed for longer than the window, OptimizedRevision is %d, want the head %d", got, r1)
	}
	// Within one instant, callers share one revision even while commits happen.
	shared := opt()
	for range 10 {
		h.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:x")
		if got := opt(); got != shared {
			t.Fatalf("OptimizedRevision moved from %d to %d with the clock standing still", shared, got)
		}
	}
	// Within the window it never goes backwards; past it, it has caught up.
	prev := shared
	for range 5 {
		h.clock.Advance(window / 4)
		got := opt()
		if got < prev {
			t.Fatalf("OptimizedRevision went back from %d to %d", prev, got)
		}
		prev = got
	}
	head := h.head(def)
	h.clock.Advance(window + time.Millisecond)
	if got := opt(); got != head {
		t.Fatalf("one window after the last commit OptimizedRevision is %d, want the head %d", got, head)
	}
	// Staleness is bounded by the window.
	h.mustWrite(def, datastore.OpTouch, "document:b#viewer@user:x")
	head = h.head(def)
	for range 3 {
		opt()
		h.clock.Advance(window / 3)
	}
	h.clock.Advance(window)
	if got := opt(); got != head {
		t.Fatalf("OptimizedRevision is %d more than a window after commit %d", got, head)
	}
}

func testCheckRevision(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	if err := h.ds.CheckRevision(h.ctx(), def, 0); err != nil {
		t.Fatalf("CheckRevision(0) on a fresh store: %v", err)
	}
	h.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:x")
	h.mustWrite(def, datastore.OpTouch, "document:b#viewer@user:x")
	for rev := datastore.Revision(0); rev <= 2; rev++ {
		if err := h.ds.CheckRevision(h.ctx(), def, rev); err != nil {
			t.Fatalf("CheckRevision(%d) with head 2: %v", rev, err)
		}
	}
	for _, rev := range []datastore.Revision{3, 1 << 40} {
		err := h.ds.CheckRevision(h.ctx(), def, rev)
		var re *datastore.RevisionError
		if !errors.As(err, &re) || re.TooOld || re.Head != 2 || re.Revision != rev {
			t.Fatalf("CheckRevision(%d) with head 2: %v, want a *RevisionError for a future revision with Head 2", rev, err)
		}
	}
}

func testTokens(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	id := h.ds.UniqueID()
	if id == "" || h.ds.UniqueID() != id {
		t.Fatalf("UniqueID is %q, then %q", id, h.ds.UniqueID())
	}
	if err := h.ds.CreateTenant(h.ctx(), "other"); err != nil {
		t.Fatal(err)
	}
	rev := h.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:x")
	token := datastore.EncodeToken(id, def, rev)
	got, err := datastore.DecodeToken(token, h.ds.UniqueID(), def)
	if err != nil || got != rev {
		t.Fatalf("a token round-trips to %d, %v; want %d", got, err, rev)
	}
	if _, err := datastore.DecodeToken(token, id, "other"); !errors.Is(err, datastore.ErrInvalidArgument) {
		t.Fatalf("a token of another tenant decoded: %v", err)
	}
	h2 := setup(t, newStore, datastore.Options{})
	if h2.ds.UniqueID() == id {
		t.Fatalf("two stores share the UniqueID %q", id)
	}
	if _, err := datastore.DecodeToken(token, h2.ds.UniqueID(), def); !errors.Is(err, datastore.ErrInvalidArgument) {
		t.Fatalf("a token of another store decoded: %v", err)
	}
}

func testStatistics(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	stats := func() datastore.Stats {
		t.Helper()
		st, err := h.ds.Statistics(h.ctx(), def)
		if err != nil {
			t.Fatalf("Statistics: %v", err)
		}
		return st
	}
	if st := stats(); st.Revision != 0 || st.Relationships != 0 || st.Transactions != 0 || len(st.ByResourceType) != 0 {
		t.Fatalf("statistics of a fresh store: %+v", st)
	}
	h.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:x", "document:b#viewer@user:x", "document:c#viewer@user:x",
		"folder:f#viewer@user:x", "folder:g#viewer@user:x", "group:g#member@user:x")
	h.mustWrite(def, datastore.OpDelete, "document:c#viewer@user:x", "document:nosuch#viewer@user:x")
	h.mustWrite(def, datastore.OpTouch, `document:a#viewer@user:x[only_on:{"a":1}]`)
	st := stats()
	want := map[string]int64{"document": 2, "folder": 2, "group": 1}
	if st.Revision != 3 || st.Relationships != 5 || st.Transactions != 3 || !sameCounts(st.ByResourceType, want) {
		t.Fatalf("statistics %+v, want revision 3, 5 relationships %v, 3 transactions", st, want)
	}
	h.mustWrite(def, datastore.OpDelete, "folder:f#viewer@user:x", "folder:g#viewer@user:x")
	exp := h.clock.Now().Add(time.Minute)
	h.mustWrite(def, datastore.OpTouch, expiring("group:h#member@user:x", exp))
	h.clock.Set(exp)
	if _, err := h.ds.GarbageCollect(h.ctx()); err != nil {
		t.Fatal(err)
	}
	st = stats()
	want = map[string]int64{"document": 2, "group": 1}
	if st.Relationships != 3 || !sameCounts(st.ByResourceType, want) {
		t.Fatalf("statistics after deleting and expiring %+v, want %v", st, want)
	}
}

// sameCounts compares per-type counts; a type with no relationships may be absent or 0.
func sameCounts(got, want map[string]int64) bool {
	for k, v := range got {
		if want[k] != v {
			return false
		}
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func testClose(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	h.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:x")
	watch, _ := h.startWatch(def, 1)
	quiet(t, watch)

	// A transaction in progress finishes before Close returns.
	inFn, release := make(chan struct{}), make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		_, err := h.ds.ReadWriteTx(context.Background(), def, testMeta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			close(inFn)
			<-release
			return tx.WriteRelationships(ctx, updates(datastore.OpTouch, "document:b#viewer@user:x"))
		})
		txDone <- err
	}()
	<-inFn
	closed := make(chan error, 1)
	go func() { closed <- h.ds.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a transaction was in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-txDone; err != nil {
		t.Fatalf("the transaction in progress at Close failed: %v", err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return after the transaction finished")
	}
	// A watch ends with ErrClosed; everything else fails with ErrClosed.
	for i := 0; ; i++ {
		r := next(t, watch)
		if r.err != nil {
			if !errors.Is(r.err, datastore.ErrClosed) {
				t.Fatalf("a watch ended by Close yielded %v, want ErrClosed", r.err)
			}
			break
		}
		if r.txn.Revision != 2 || i > 0 {
			t.Fatalf("the watch yielded revision %d", r.txn.Revision)
		}
	}
	if err := h.ds.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	ctx := h.ctx()
	checks := map[string]error{}
	_, checks["HeadRevision"] = h.ds.HeadRevision(ctx, def)
	_, checks["ReadWriteTx"] = h.ds.ReadWriteTx(ctx, def, testMeta, func(context.Context, datastore.ReadWriteTx) error { return nil })
	checks["QueryRelationships"] = seqErr(h.ds.SnapshotReader(def, 1).QueryRelationships(ctx, datastore.RelationshipFilter{}, datastore.QueryOptions{}))
	checks["CreateTenant"] = h.ds.CreateTenant(ctx, "late")
	checks["Watch"] = seqErr(h.ds.Watch(ctx, def, 0))
	checks["ReadTransactions"] = seqErr(h.ds.ReadTransactions(ctx, def, datastore.TransactionFilter{}))
	for op, err := range checks {
		if !errors.Is(err, datastore.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", op, err)
		}
	}
}
