package bolt

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// TestRecordsInBackups: a backup carries records and their grants-bearing
// relationships; a backup of a file written before records existed (no record
// buckets) restores and opens, and records can be written to it.
func TestRecordsInBackups(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rel := tuple.MustParse("organization:acme-eu#member@user:bob[granted:user:eve@organization:acme-eu]")
	rev, err := s.ReadWriteTx(ctx, tuple.DefaultTenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.PutRecord(ctx, datastore.Record{Kind: "access_request", ID: "req-1", Data: []byte(`{"s":"approved"}`), Keys: []string{"state=approved"}}); err != nil {
			return err
		}
		return tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.OpTouch, Relationship: rel}})
	})
	if err != nil {
		t.Fatal(err)
	}
	restoreAndCheck := func(t *testing.T, backup string, wantRecord bool) {
		dir := t.TempDir()
		if _, err := Restore(backup, dir, false); err != nil {
			t.Fatalf("restore: %v", err)
		}
		r, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := r.SnapshotReader(tuple.DefaultTenant, rev).ReadRecord(ctx, "access_request", "req-1")
		if wantRecord && (err != nil || string(got.Data) != `{"s":"approved"}` || got.Revision != rev) {
			t.Fatalf("restored record: %+v %v", got, err)
		}
		for r, err := range r.SnapshotReader(tuple.DefaultTenant, rev).QueryRelationships(ctx, datastore.RelationshipFilter{ResourceType: "organization"}, datastore.QueryOptions{}) {
			if err != nil || !r.Equal(rel) {
				t.Fatalf("restored relationship %s %v, want %s", r, err, rel)
			}
		}
		if _, err := r.ReadWriteTx(ctx, tuple.DefaultTenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			return tx.PutRecord(ctx, datastore.Record{Kind: "access_request", ID: "req-2"})
		}); err != nil {
			t.Fatalf("writing a record after the restore: %v", err)
		}
	}
	backup := filepath.Join(t.TempDir(), "pemba.backup")
	if _, err := WriteSnapshotFile(backup, false, func(out io.Writer) error {
		return s.Backup(ctx, out, func(int64, map[string]datastore.Revision) error { return nil })
	}); err != nil {
		t.Fatal(err)
	}
	t.Run("records", func(t *testing.T) { restoreAndCheck(t, backup, true) })

	// The same backup without the record buckets stands for one taken by an earlier
	// Pemba.
	db, err := bbolt.Open(backup, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range recordBuckets {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Run("an earlier format", func(t *testing.T) { restoreAndCheck(t, backup, false) })
}
