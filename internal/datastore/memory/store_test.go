package memory

import (
	"context"
	"errors"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func collect(t *testing.T, seq func(func(tuple.Relationship, error) bool)) []string {
	t.Helper()
	var out []string
	for r, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.String())
	}
	return out
}

func TestSnapshotsAndCreate(t *testing.T) {
	ctx := context.Background()
	s := New(datastore.Options{})
	write := func(op datastore.Operation, rels ...string) (datastore.Revision, error) {
		return s.ReadWriteTx(ctx, tuple.DefaultTenant, datastore.TxMetadata{Principal: "test"}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			var ups []datastore.Update
			for _, r := range rels {
				ups = append(ups, datastore.Update{Op: op, Relationship: tuple.MustParse(r)})
			}
			return tx.WriteRelationships(ctx, ups)
		})
	}
	r1, err := write(datastore.OpCreate, "document:a#viewer@user:x", "document:a#viewer@user:y")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := write(datastore.OpCreate, "document:a#viewer@user:x"); !errors.As(err, new(*datastore.RelationshipExistsError)) {
		t.Fatalf("duplicate create: %v", err)
	}
	r2, err := write(datastore.OpDelete, "document:a#viewer@user:x")
	if err != nil {
		t.Fatal(err)
	}
	f := datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"a"}}
	if got := collect(t, s.SnapshotReader("default", r1).QueryRelationships(ctx, f, datastore.QueryOptions{})); len(got) != 2 {
		t.Fatalf("at r1: %v", got)
	}
	if got := collect(t, s.SnapshotReader("default", r2).QueryRelationships(ctx, f, datastore.QueryOptions{})); len(got) != 1 || got[0] != "document:a#viewer@user:y" {
		t.Fatalf("at r2: %v", got)
	}
	rev := collect(t, s.SnapshotReader("default", r1).ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: "user", IDs: []string{"y"}}, datastore.ReverseQueryOptions{}))
	if len(rev) != 1 {
		t.Fatalf("reverse: %v", rev)
	}
}
