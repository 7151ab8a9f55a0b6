package datastoretest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

func (h *harness) gc() datastore.GCStats {
	h.t.Helper()
	st, err := h.ds.GarbageCollect(h.ctx())
	if err != nil {
		h.t.Fatalf("GarbageCollect: %v", err)
	}
	return st
}

// snapshotOf records everything a reader at rev answers for later comparison.
func (h *harness) snapshotOf(rev datastore.Revision) []string {
	h.t.Helper()
	out := h.all(def, rev)
	out = append(out, "--reverse--")
	for _, typ := range []string{"user", "group"} {
		out = append(out, h.reverse(def, rev, datastore.SubjectFilter{Type: typ}, datastore.ReverseQueryOptions{})...)
	}
	sc, err := h.ds.SnapshotReader(def, rev).ReadSchema(h.ctx())
	switch {
	case errors.Is(err, datastore.ErrSchemaNotFound):
		out = append(out, "--no schema--")
	case err != nil:
		h.t.Fatalf("ReadSchema at %d: %v", rev, err)
	default:
		out = append(out, fmt.Sprintf("--schema %q at %d--", sc.Text, sc.Revision))
	}
	return out
}

func (h *harness) wantTooOld(rev, oldest, head datastore.Revision) {
	h.t.Helper()
	err := h.ds.CheckRevision(h.ctx(), def, rev)
	var re *datastore.RevisionError
	if !errors.As(err, &re) || !re.TooOld || re.Oldest != oldest || re.Head != head {
		h.t.Fatalf("CheckRevision(%d): %v (%+v), want TooOld with oldest %d and head %d", rev, err, re, oldest, head)
	}
}

func testGarbageCollection(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{GCWindow: time.Hour})
	schemaTx := func(text string, ups []datastore.Update) datastore.Revision {
		return h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			if text != "" {
				if err := tx.WriteSchema(ctx, text); err != nil {
					return err
				}
			}
			return tx.WriteRelationships(ctx, ups)
		})
	}
	schemaTx("s1", updates(datastore.OpCreate, "document:a#viewer@user:x", "document:b#viewer@user:x", "document:c#viewer@group:g#member"))
	h.clock.Set(Start.Add(10 * time.Minute))
	schemaTx("s2", append(updates(datastore.OpDelete, "document:a#viewer@user:x"), updates(datastore.OpTouch, `document:b#viewer@user:x[only_on:{"a":1}]`)...))
	h.clock.Set(Start.Add(20 * time.Minute))
	r3 := schemaTx("", append(updates(datastore.OpDelete, "document:b#viewer@user:x"),
		updates(datastore.OpCreate, expiring("document:e#viewer@user:x", Start.Add(150*time.Minute)))...))
	h.clock.Set(Start.Add(2 * time.Hour))
	r4 := schemaTx("s3", updates(datastore.OpCreate, "document:d#viewer@user:x"))
	before := map[datastore.Revision][]string{r3: h.snapshotOf(r3), r4: h.snapshotOf(r4)}

	// The window keeps revision 3 (superseded 1h40m ago, after the cutoff) and
	// everything newer; revisions 1 and 2 were superseded more than an hour ago.
	st := h.gc()
	if st.Relationships < 3 {
		t.Fatalf("GC removed %d relationship versions, want at least the 3 deleted before the window", st.Relationships)
	}
	if st.Transactions != 0 {
		t.Fatalf("GC removed %d audit records although audit is kept forever by default", st.Transactions)
	}
	for rev, want := range before {
		equalStrings(t, fmt.Sprintf("revision %d after GC", rev), h.snapshotOf(rev), want)
	}
	h.wantTooOld(1, r3, r4)
	h.wantTooOld(2, r3, r4)
	for _, rev := range []datastore.Revision{r3, r4} {
		if err := h.ds.CheckRevision(h.ctx(), def, rev); err != nil {
			t.Fatalf("CheckRevision(%d) after GC: %v", rev, err)
		}
	}
	var re *datastore.RevisionError
	if err := h.ds.CheckRevision(h.ctx(), def, r4+1); !errors.As(err, &re) || re.TooOld {
		t.Fatalf("CheckRevision(%d) after GC: %v, want a future-revision error", r4+1, err)
	}
	if st := h.gc(); st.Relationships != 0 {
		t.Fatalf("a second GC removed %d relationship versions", st.Relationships)
	}
	// The audit trail and Watch still cover every transaction.
	if revs := h.auditRevisions(def, datastore.TransactionFilter{}); len(revs) != 4 {
		t.Fatalf("audit after GC: %v", revs)
	}
	if got := h.watchN(def, 0, 4); got[0].Revision != 1 {
		t.Fatalf("Watch(0) after GC starts at %d", got[0].Revision)
	}

	// Expired relationships are removed without waiting for the window. At 2h30m
	// the cutoff is 1h30m, so revision 3 is still readable.
	h.clock.Set(Start.Add(150 * time.Minute))
	afterExpiry := map[datastore.Revision][]string{r3: h.snapshotOf(r3), r4: h.snapshotOf(r4)}
	if st := h.gc(); st.Relationships < 1 {
		t.Fatalf("GC after an expiry removed %d relationship versions", st.Relationships)
	}
	for rev, want := range afterExpiry {
		equalStrings(t, fmt.Sprintf("revision %d after collecting an expired relationship", rev), h.snapshotOf(rev), want)
	}
	st2, err := h.ds.Statistics(h.ctx(), def)
	if err != nil || st2.Relationships != 2 {
		t.Fatalf("statistics after GC: %+v, %v; want 2 relationships", st2, err)
	}
	// Writes continue normally after collection.
	r5 := h.mustWrite(def, datastore.OpCreate, "document:a#viewer@user:x", "document:b#viewer@user:x", "document:e#viewer@user:x")
	equalStrings(t, "writes after GC", h.all(def, r5), []string{
		"document:a#viewer@user:x", "document:b#viewer@user:x", "document:c#viewer@group:g#member", "document:d#viewer@user:x", "document:e#viewer@user:x"})

	// With the default window, a recent deletion is never collected.
	h2 := setup(t, newStore, datastore.Options{})
	h2.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:x")
	h2.mustWrite(def, datastore.OpDelete, "document:a#viewer@user:x")
	h2.clock.Advance(time.Hour)
	if st := h2.gc(); st.Relationships != 0 {
		t.Fatalf("GC with the default 24h window removed %d versions deleted an hour ago", st.Relationships)
	}
	equalStrings(t, "revision 1 under the default window", h2.all(def, 1), []string{"document:a#viewer@user:x"})
}

// testGarbageCollectionRandom collects repeatedly during a random history and checks
// that every revision still readable answers exactly as before, that every revision
// inside the window stays readable, and that collected revisions are refused.
func testGarbageCollectionRandom(t *testing.T, newStore NewStoreFunc) {
	const window = 20 * time.Minute
	h := setup(t, newStore, datastore.Options{GCWindow: window})
	hist := newHistory(h, 42)
	for round := range 4 {
		hist.run(t, 12)
		removed := h.gc().Relationships
		now := h.clock.Now()
		head := hist.m.head()
		tooOld := false
		for rev := head; ; rev-- {
			err := h.ds.CheckRevision(h.ctx(), def, rev)
			// A revision superseded less than a window ago must stay readable.
			inWindow := rev == head || hist.times[rev+1].After(now.Add(-window))
			switch {
			case err == nil:
				if tooOld {
					t.Fatalf("round %d: revision %d is readable but a newer one is not", round, rev)
				}
				equalStrings(t, fmt.Sprintf("round %d: revision %d after GC", round, rev), h.all(def, rev), formatAll(hist.m.visible(rev, now, nil)))
			case inWindow:
				t.Fatalf("round %d: revision %d was superseded less than the window ago but CheckRevision says %v", round, rev, err)
			default:
				var re *datastore.RevisionError
				if !errors.As(err, &re) || !re.TooOld {
					t.Fatalf("round %d: CheckRevision(%d): %v", round, rev, err)
				}
				tooOld = true
			}
			if rev == 0 {
				break
			}
		}
		t.Logf("round %d: head %d, %d versions removed", round, head, removed)
	}
}

func testAuditRetention(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{GCWindow: time.Hour, AuditRetention: 2 * time.Hour})
	for i, m := range []time.Duration{0, 30 * time.Minute, time.Hour} {
		h.clock.Set(Start.Add(m))
		h.mustWrite(def, datastore.OpTouch, fmt.Sprintf("document:d%d#viewer@user:x", i))
	}
	h.clock.Set(Start.Add(2*time.Hour + 45*time.Minute))
	st := h.gc()
	if st.Transactions != 2 {
		t.Fatalf("GC removed %d audit records, want the 2 older than the retention", st.Transactions)
	}
	if revs := h.auditRevisions(def, datastore.TransactionFilter{}); len(revs) != 1 || revs[0] != 3 {
		t.Fatalf("audit after retention: %v, want [3]", revs)
	}
	stats, err := h.ds.Statistics(h.ctx(), def)
	if err != nil || stats.Transactions != 1 || stats.Relationships != 3 {
		t.Fatalf("statistics after retention: %+v, %v", stats, err)
	}
	// Relationships are not audit records: they all stay.
	equalStrings(t, "relationships after audit retention", h.all(def, 3), []string{
		"document:d0#viewer@user:x", "document:d1#viewer@user:x", "document:d2#viewer@user:x"})
}
