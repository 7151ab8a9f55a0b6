package datastoretest

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// NewStoreFunc returns a fresh, empty store built with opts. It fails the test itself
// when the store cannot be built.
type NewStoreFunc func(t *testing.T, opts datastore.Options) datastore.Datastore

// RunConformance runs the whole conformance suite against the store newStore builds.
// Each subtest gets a fresh store whose options carry a Clock the suite controls.
func RunConformance(t *testing.T, newStore func(t *testing.T, opts datastore.Options) datastore.Datastore) {
	for _, c := range conformanceCases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newStore) })
	}
}

// conformanceCases lists the suite's subtests; each file adds its own.
var conformanceCases = []struct {
	name string
	run  func(t *testing.T, newStore NewStoreFunc)
}{
	{"Revisions", testRevisions},
	{"EmptyTransaction", testEmptyTransaction},
	{"Snapshots", testSnapshots},
	{"RandomHistory", testRandomHistory},
	{"QueryFilters", testQueryFilters},
	{"ReverseQueryFilters", testReverseQueryFilters},
	{"QueryRandomFilters", testQueryRandomFilters},
	{"Pagination", testPagination},
	{"PaginationWhileWriting", testPaginationWhileWriting},
	{"CreateTouchDelete", testCreateTouchDelete},
	{"SeveralUpdatesToOneKey", testSeveralUpdatesToOneKey},
	{"DeleteRelationships", testDeleteRelationships},
	{"FailingCall", testFailingCall},
	{"FailingTransaction", testFailingTransaction},
	{"CancelledTransaction", testCancelledTransaction},
	{"SnapshotInsideTransaction", testSnapshotInsideTransaction},
	{"Preconditions", testPreconditions},
	{"ConcurrentPreconditions", testConcurrentPreconditions},
	{"Schema", testSchema},
	{"Expiry", testExpiry},
	{"Caveats", testCaveats},
	{"Grants", testGrants},
	{"Records", testRecords},
	{"RecordHistory", testRecordHistory},
	{"RecordBounds", testRecordBounds},
	{"RecordsWithRelationships", testRecordsWithRelationships},
	{"RecordTenants", testRecordTenants},
	{"RecordGarbageCollection", testRecordGarbageCollection},
	{"RecordWatch", testRecordWatch},
	{"TransactionLog", testTransactionLog},
	{"ReadTransactions", testReadTransactions},
	{"ReadTransactionsPaging", testReadTransactionsPaging},
	{"Denials", testDenials},
	{"Watch", testWatch},
	{"WatchResume", testWatchResume},
	{"WatchWaits", testWatchWaits},
	{"WatchErrors", testWatchErrors},
	{"WatchConcurrentWriters", testWatchConcurrentWriters},
	{"Tenants", testTenants},
	{"TenantIsolation", testTenantIsolation},
	{"DeleteTenant", testDeleteTenant},
	{"UnknownTenant", testUnknownTenant},
	{"OptimizedRevision", testOptimizedRevision},
	{"CheckRevision", testCheckRevision},
	{"GarbageCollection", testGarbageCollection},
	{"GarbageCollectionRandom", testGarbageCollectionRandom},
	{"AuditRetention", testAuditRetention},
	{"Tokens", testTokens},
	{"Statistics", testStatistics},
	{"RelationshipLimit", testRelationshipLimit},
	{"ConcurrentRelationshipLimit", testConcurrentRelationshipLimit},
	{"Concurrency", testConcurrency},
	{"Bulk", testBulk},
	{"IterationHoldsNoLocks", testIterationHoldsNoLocks},
	{"Close", testClose},
}

// harness is one subtest's store and clock.
type harness struct {
	t     *testing.T
	ds    datastore.Datastore
	clock *Clock
}

// setup builds a fresh store with opts (its clock replaced by the suite's) and closes
// it when the subtest ends.
func setup(t *testing.T, newStore NewStoreFunc, opts datastore.Options) *harness {
	t.Helper()
	clock := NewClock(Start)
	opts.Now = clock.Now
	ds := newStore(t, opts)
	if ds == nil {
		t.Fatal("newStore returned nil")
	}
	t.Cleanup(func() {
		if err := ds.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &harness{t: t, ds: ds, clock: clock}
}

const def = tuple.DefaultTenant

func (h *harness) ctx() context.Context { return h.t.Context() }

// testMeta is the metadata of writes whose metadata the test does not look at.
var testMeta = datastore.TxMetadata{Principal: "conformance", Operation: "write"}

// tx runs fn in a write transaction of tenant.
func (h *harness) tx(tenant string, fn func(ctx context.Context, tx datastore.ReadWriteTx) error) (datastore.Revision, error) {
	return h.ds.ReadWriteTx(h.ctx(), tenant, testMeta, fn)
}

// mustTx is tx that fails the test on error.
func (h *harness) mustTx(tenant string, fn func(ctx context.Context, tx datastore.ReadWriteTx) error) datastore.Revision {
	h.t.Helper()
	rev, err := h.tx(tenant, fn)
	if err != nil {
		h.t.Fatalf("write transaction on tenant %q: %v", tenant, err)
	}
	return rev
}

// write applies one operation to every relationship (text form) in one transaction.
func (h *harness) write(tenant string, op datastore.Operation, rels ...string) (datastore.Revision, error) {
	ups := updates(op, rels...)
	return h.tx(tenant, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteRelationships(ctx, ups)
	})
}

// mustWrite is write that fails the test on error.
func (h *harness) mustWrite(tenant string, op datastore.Operation, rels ...string) datastore.Revision {
	h.t.Helper()
	rev, err := h.write(tenant, op, rels...)
	if err != nil {
		h.t.Fatalf("%s %v on tenant %q: %v", op, rels, tenant, err)
	}
	return rev
}

func updates(op datastore.Operation, rels ...string) []datastore.Update {
	ups := make([]datastore.Update, len(rels))
	for i, r := range rels {
		ups[i] = datastore.Update{Op: op, Relationship: tuple.MustParse(r)}
	}
	return ups
}

func (h *harness) head(tenant string) datastore.Revision {
	h.t.Helper()
	rev, err := h.ds.HeadRevision(h.ctx(), tenant)
	if err != nil {
		h.t.Fatalf("HeadRevision(%q): %v", tenant, err)
	}
	return rev
}

// query returns the text forms of a forward query's results, in the store's order.
func (h *harness) query(tenant string, rev datastore.Revision, f datastore.RelationshipFilter, opts datastore.QueryOptions) []string {
	h.t.Helper()
	return h.collect(h.ds.SnapshotReader(tenant, rev).QueryRelationships(h.ctx(), f, opts))
}

// reverse returns the text forms of a reverse query's results, in the store's order.
func (h *harness) reverse(tenant string, rev datastore.Revision, sf datastore.SubjectFilter, opts datastore.ReverseQueryOptions) []string {
	h.t.Helper()
	return h.collect(h.ds.SnapshotReader(tenant, rev).ReverseQueryRelationships(h.ctx(), sf, opts))
}

// all returns every relationship of tenant visible at rev.
func (h *harness) all(tenant string, rev datastore.Revision) []string {
	h.t.Helper()
	return h.query(tenant, rev, datastore.RelationshipFilter{}, datastore.QueryOptions{})
}

func (h *harness) collect(seq iter.Seq2[tuple.Relationship, error]) []string {
	h.t.Helper()
	out := []string{}
	for r, err := range seq {
		if err != nil {
			h.t.Fatalf("query: %v", err)
		}
		out = append(out, tuple.Format(r))
	}
	return out
}

// collectRels drains a relationship sequence, failing the test on error.
func collectRels(t *testing.T, seq iter.Seq2[tuple.Relationship, error]) []tuple.Relationship {
	t.Helper()
	var out []tuple.Relationship
	for r, err := range seq {
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		out = append(out, r)
	}
	return out
}

// seqErr drains a sequence and returns its first error.
func seqErr[T any](seq iter.Seq2[T, error]) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}

// equalStrings fails the test with a readable diff when got and want differ.
func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Fatalf("%s:\n got  %d: %s\n want %d: %s\n%s", what, len(got), brief(got), len(want), brief(want), diff(got, want))
}

func brief(s []string) string {
	if len(s) > 12 {
		return strings.Join(s[:12], " ") + fmt.Sprintf(" … (%d more)", len(s)-12)
	}
	return strings.Join(s, " ")
}

func diff(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	var b strings.Builder
	n := 0
	for _, s := range want {
		if !g[s] && n < 10 {
			fmt.Fprintf(&b, " missing %s\n", s)
			n++
		}
	}
	for _, s := range got {
		if !w[s] && n < 20 {
			fmt.Fprintf(&b, " unexpected %s\n", s)
			n++
		}
	}
	if n == 0 {
		b.WriteString(" (same elements, different order or multiplicity)\n")
	}
	return b.String()
}

// formatAll returns the text forms of rels.
func formatAll(rels []tuple.Relationship) []string {
	out := make([]string, len(rels))
	for i, r := range rels {
		out[i] = tuple.Format(r)
	}
	return out
}

// sortedForward returns rels as text in forward (tuple.Key) order.
func sortedForward(rels []tuple.Relationship) []string {
	rels = slices.Clone(rels)
	sort.Slice(rels, func(i, j int) bool { return rels[i].Key().Compare(rels[j].Key()) < 0 })
	return formatAll(rels)
}

// sortedReverse returns rels as text in reverse-query order.
func sortedReverse(rels []tuple.Relationship) []string {
	rels = slices.Clone(rels)
	sort.Slice(rels, func(i, j int) bool { return datastore.ReverseLess(rels[i].Key(), rels[j].Key()) })
	return formatAll(rels)
}

func parseAll(rels ...string) []tuple.Relationship {
	out := make([]tuple.Relationship, len(rels))
	for i, r := range rels {
		out[i] = tuple.MustParse(r)
	}
	return out
}

func keyOf(s string) *tuple.Key {
	k := tuple.MustParse(s).Key()
	return &k
}
