package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func write(t testing.TB, s datastore.Datastore, tenant string, op datastore.Operation, rels ...string) datastore.Revision {
	t.Helper()
	rev, err := s.ReadWriteTx(context.Background(), tenant, datastore.TxMetadata{Principal: "test"}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		ups := make([]datastore.Update, len(rels))
		for i, r := range rels {
			ups[i] = datastore.Update{Op: op, Relationship: tuple.MustParse(r)}
		}
		return tx.WriteRelationships(ctx, ups)
	})
	if err != nil {
		t.Fatalf("%s %v: %v", op, rels, err)
	}
	return rev
}

func all(t testing.TB, s datastore.Datastore, tenant string, rev datastore.Revision) []string {
	t.Helper()
	var out []string
	for r, err := range s.SnapshotReader(tenant, rev).QueryRelationships(context.Background(), datastore.RelationshipFilter{}, datastore.QueryOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.String())
	}
	return out
}

// TestReopen checks that everything survives closing and reopening the file: the
// store's identity, tenants, every revision, schemas, the audit trail and the GC state.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	opts := Options{Options: datastore.Options{Now: clock, GCWindow: time.Hour}}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	id := s.UniqueID()
	if err := s.CreateTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	write(t, s, "acme", datastore.OpTouch, "document:a#viewer@user:x", `document:b#viewer@user:y[only_on:{"d":"mon"}]`)
	if _, err := s.ReadWriteTx(ctx, "acme", datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteSchema(ctx, "definition user {}")
	}); err != nil {
		t.Fatal(err)
	}
	write(t, s, "acme", datastore.OpDelete, "document:a#viewer@user:x")
	now = now.Add(2 * time.Hour)
	write(t, s, "acme", datastore.OpTouch, "document:c#viewer@user:x")
	if _, err := s.GarbageCollect(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[datastore.Revision][]string{3: all(t, s, "acme", 3), 4: all(t, s, "acme", 4)}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.UniqueID() != id {
		t.Fatalf("UniqueID changed across reopening: %q then %q", id, s.UniqueID())
	}
	ts, err := s.ListTenants(ctx)
	if err != nil || len(ts) != 2 || ts[0].Name != "acme" || ts[1].Name != tuple.DefaultTenant {
		t.Fatalf("tenants after reopening: %+v, %v", ts, err)
	}
	if head, _ := s.HeadRevision(ctx, "acme"); head != 4 {
		t.Fatalf("head after reopening: %d", head)
	}
	for rev, w := range want {
		if got := all(t, s, "acme", rev); !slices.Equal(got, w) {
			t.Fatalf("revision %d after reopening: %v, want %v", rev, got, w)
		}
	}
	var re *datastore.RevisionError
	if err := s.CheckRevision(ctx, "acme", 2); !errors.As(err, &re) || !re.TooOld {
		t.Fatalf("a collected revision after reopening: %v", err)
	}
	sc, err := s.SnapshotReader("acme", 4).ReadSchema(ctx)
	if err != nil || sc.Text != "definition user {}" || sc.Revision != 2 {
		t.Fatalf("schema after reopening: %+v, %v", sc, err)
	}
	n := 0
	for txn, err := range s.ReadTransactions(ctx, "acme", datastore.TransactionFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if txn.Metadata.Principal != "test" && txn.Revision != 2 {
			t.Fatalf("audit record %d lost its principal", txn.Revision)
		}
		n++
	}
	if n != 4 {
		t.Fatalf("%d audit records after reopening, want 4", n)
	}
	// Writes continue at the next revision; commit times never go backwards even
	// when the clock does.
	now = now.Add(-time.Hour)
	if rev := write(t, s, "acme", datastore.OpTouch, "document:d#viewer@user:x"); rev != 5 {
		t.Fatalf("the first write after reopening committed at %d", rev)
	}
	for txn, err := range s.ReadTransactions(ctx, "acme", datastore.TransactionFilter{Limit: 2}) {
		if err != nil || txn.Time.Before(time.Date(2030, 1, 1, 2, 0, 0, 0, time.UTC)) {
			t.Fatalf("commit time %v went backwards with the clock (%v)", txn.Time, err)
		}
	}
	st, err := s.Statistics(ctx, "acme")
	if err != nil || st.Relationships != 3 || st.Transactions != 5 {
		t.Fatalf("statistics after reopening: %+v, %v", st, err)
	}
}

// TestPurgeResumes simulates a crash between a tenant's deletion and the removal of
// its rows: the next Open finishes the removal.
func TestPurgeResumes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	write(t, s, "doomed", datastore.OpTouch, "document:a#viewer@user:x", "document:b#viewer@user:x[expiration:"+exp+"]")
	write(t, s, "doomed", datastore.OpDelete, "document:a#viewer@user:x")
	write(t, s, tuple.DefaultTenant, datastore.OpTouch, "document:a#viewer@user:x")
	s.mu.Lock()
	id := s.tenants["doomed"].id
	s.mu.Unlock()
	// The first half of DeleteTenant, as if the process died right after it.
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketTenants).Delete([]byte("doomed")); err != nil {
			return err
		}
		return tx.Bucket(bucketDropped).Put(appendTenant(nil, id), nil)
	}); err != nil {
		t.Fatal(err)
	}
	if n := countTenantKeys(t, s.db, id); n == 0 {
		t.Fatal("the simulated crash left no rows to purge")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := countTenantKeys(t, s.db, id); n != 0 {
		t.Fatalf("%d keys of the deleted tenant remain after reopening", n)
	}
	if got := all(t, s, tuple.DefaultTenant, 1); !slices.Equal(got, []string{"document:a#viewer@user:x"}) {
		t.Fatalf("the default tenant after the purge: %v", got)
	}
	// A new tenant never reuses the id.
	if err := s.CreateTenant(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	newID := s.tenants["doomed"].id
	s.mu.Unlock()
	if newID == id {
		t.Fatalf("a re-created tenant reused id %d", id)
	}
}

func countTenantKeys(t *testing.T, db *bbolt.DB, id uint32) int {
	t.Helper()
	n := 0
	if err := db.View(func(tx *bbolt.Tx) error {
		for _, name := range tenantBuckets {
			c := tx.Bucket(name).Cursor()
			for k, _ := c.Seek(tenantPrefix(id)); hasTenant(k, id); k, _ = c.Next() {
				n++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("", Options{}); !errors.Is(err, datastore.ErrInvalidArgument) {
		t.Fatalf("Open(\"\"): %v", err)
	}
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file, Options{}); err == nil {
		t.Fatal("Open of a path that is a file succeeded")
	}
	// A file written by a future layout is refused, not misread.
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("format"), []byte("99")) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), `format version "99"`) {
		t.Fatalf("Open of a future format: %v", err)
	}
	// Corrupt files fail with an error, not a panic.
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(strings.Repeat("garbage!", 2048)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("Open of a corrupt file succeeded")
	}
}

// TestBadKeys checks that names the key layout cannot hold are refused before
// anything is written.
func TestBadKeys(t *testing.T) {
	s := openTemp(t, datastore.Options{})
	for _, rel := range []tuple.Relationship{
		{Resource: tuple.ObjectRef{Type: "document", ID: "a\x00b"}, Relation: "viewer", Subject: tuple.SubjectRef{Type: "user", ID: "x"}},
		{Resource: tuple.ObjectRef{Type: "document", ID: ""}, Relation: "viewer", Subject: tuple.SubjectRef{Type: "user", ID: "x"}},
		{Resource: tuple.ObjectRef{Type: "document", ID: "a"}, Relation: "viewer", Subject: tuple.SubjectRef{Type: "user", ID: "x", Relation: "a\x00"}},
	} {
		_, err := s.ReadWriteTx(context.Background(), tuple.DefaultTenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			return tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpTouch, Relationship: rel}})
		})
		if !errors.Is(err, datastore.ErrInvalidArgument) {
			t.Fatalf("writing %q: %v, want ErrInvalidArgument", fmt.Sprint(rel.Key()), err)
		}
	}
	if head, _ := s.HeadRevision(context.Background(), tuple.DefaultTenant); head != 0 {
		t.Fatalf("refused writes moved the head to %d", head)
	}
}
