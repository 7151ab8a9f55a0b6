package postgres

import (
	"context"
	"slices"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// bulkState is what an import leaves: every live relationship at the head, in text
// form, and the tenant's relationship count.
func bulkState(t *testing.T, s *Store) ([]string, int64) {
	t.Helper()
	ctx := context.Background()
	head, err := s.HeadRevision(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	rels := strs(t, s.SnapshotReader("default", head).QueryRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document"}, datastore.QueryOptions{}))
	var n int64
	if err := s.Pool().QueryRow(ctx, `SELECT relationship_count FROM tenant_heads WHERE tenant = 'default'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return rels, n
}

// lastChanges counts the change kinds of the transaction back transactions before
// the newest (0: the newest).
func lastChanges(t *testing.T, s *Store, back int) map[datastore.ChangeKind]int {
	t.Helper()
	for tx, err := range s.ReadTransactions(context.Background(), "default", datastore.TransactionFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if back > 0 {
			back--
			continue
		}
		kinds := map[datastore.ChangeKind]int{}
		for _, c := range tx.Changes {
			kinds[c.Kind]++
		}
		return kinds
	}
	t.Fatal("no transaction")
	return nil
}

// TestBulkImportIdempotent imports through the bulk path twice: the second import
// fails nothing and changes nothing but revisions, and logs every write as a touch.
func TestBulkImportIdempotent(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	const n, batch = 3000, 1000 // batches above DefaultBulkWrites take the bulk path
	importRels(t, s, 0, n, batch)
	first, count := bulkState(t, s)
	if len(first) != n || count != n {
		t.Fatalf("after the import: %d relationships, count %d; want %d", len(first), count, n)
	}
	if k := lastChanges(t, s, 0); k[datastore.ChangeCreated] != batch || len(k) != 1 {
		t.Fatalf("changes of the import's last batch: %v, want %d created", k, batch)
	}
	head, _ := s.HeadRevision(context.Background(), "default")
	importRels(t, s, 0, n, batch)
	again, count := bulkState(t, s)
	if !slices.Equal(first, again) || count != n {
		t.Fatalf("a repeated import changed the relationships (%d, count %d)", len(again), count)
	}
	if k := lastChanges(t, s, 0); k[datastore.ChangeTouched] != batch || len(k) != 1 {
		t.Fatalf("changes of the repeated import's last batch: %v, want %d touched", k, batch)
	}
	if h, _ := s.HeadRevision(context.Background(), "default"); h != head+n/batch {
		t.Fatalf("head after the repeated import: %d, want %d", h, head+n/batch)
	}
	// The rows path agrees with the bulk path on the same store.
	rows, _ := newTestStore(t, Options{BulkWrites: -1})
	importRels(t, rows, 0, n, batch)
	if r, c := bulkState(t, rows); !slices.Equal(first, r) || c != n {
		t.Fatalf("the row path stored %d relationships (count %d), the bulk path %d", len(r), c, len(first))
	}
}

// TestBulkImportResume stops an import part-way, inside a batch's range, and runs it
// again from the start: the result is the complete import, counted once.
func TestBulkImportResume(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	const n, batch = 3000, 1000
	importRels(t, s, 0, 1700, batch) // two full batches and part of the third
	importRels(t, s, 0, n, batch)
	got, count := bulkState(t, s)
	whole, _ := newTestStore(t, Options{})
	importRels(t, whole, 0, n, batch)
	want, _ := bulkState(t, whole)
	if !slices.Equal(got, want) || count != n {
		t.Fatalf("the resumed import holds %d relationships (count %d), the whole one %d", len(got), count, len(want))
	}
	// The batch [1000, 2000) of the second run found 700 of its keys stored.
	if k := lastChanges(t, s, 1); k[datastore.ChangeCreated] != 300 || k[datastore.ChangeTouched] != 700 {
		t.Fatalf("changes of the resumed import's second batch: %v, want 300 created and 700 touched", k)
	}
}
