package postgres

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func TestSnapshotsCreateTouchDelete(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	ctx := context.Background()
	r1 := write(t, s, "default", datastore.OpCreate, "document:a#viewer@user:x", "document:a#viewer@user:y")
	if _, err := tryWrite(s, "default", datastore.OpCreate, "document:a#viewer@user:x"); !errors.As(err, new(*datastore.RelationshipExistsError)) {
		t.Fatalf("duplicate create: got %v, want RelationshipExistsError", err)
	}
	r2 := write(t, s, "default", datastore.OpDelete, "document:a#viewer@user:x")
	r3 := write(t, s, "default", datastore.OpTouch, `document:a#viewer@user:y[only_on:{"day":1}]`)
	if r2 != r1+1 || r3 != r2+1 {
		t.Fatalf("revisions %d %d %d are not consecutive (a failed create must not take one)", r1, r2, r3)
	}
	f := datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"a"}}
	tests := []struct {
		rev  datastore.Revision
		want []string
	}{
		{r1 - 1, []string{}},
		{r1, []string{"document:a#viewer@user:x", "document:a#viewer@user:y"}},
		{r2, []string{"document:a#viewer@user:y"}},
		{r3, []string{`document:a#viewer@user:y[only_on:{"day":1}]`}},
	}
	for _, tc := range tests {
		got := strs(t, s.SnapshotReader("default", tc.rev).QueryRelationships(ctx, f, datastore.QueryOptions{}))
		if !slices.Equal(got, tc.want) {
			t.Errorf("at revision %d: got %v, want %v", tc.rev, got, tc.want)
		}
	}
	rev := strs(t, s.SnapshotReader("default", r1).ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: "user", IDs: []string{"y"}}, datastore.ReverseQueryOptions{}))
	if !slices.Equal(rev, []string{"document:a#viewer@user:y"}) {
		t.Fatalf("reverse at r1: %v", rev)
	}
	head, err := s.HeadRevision(ctx, "default")
	if err != nil || head != r3 {
		t.Fatalf("head = %d, %v; want %d", head, err, r3)
	}
}

func TestMissingTenant(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	ctx := context.Background()
	checks := map[string]error{
		"write":  func() error { _, err := tryWrite(s, "nope", datastore.OpTouch, "document:a#viewer@user:x"); return err }(),
		"head":   func() error { _, err := s.HeadRevision(ctx, "nope"); return err }(),
		"schema": func() error { _, err := s.SnapshotReader("nope", 0).ReadSchema(ctx); return err }(),
		"query": func() error {
			for _, err := range s.SnapshotReader("nope", 0).QueryRelationships(ctx, datastore.RelationshipFilter{}, datastore.QueryOptions{}) {
				return err
			}
			return nil
		}(),
		"delete": s.DeleteTenant(ctx, "nope"),
	}
	for name, err := range checks {
		if !errors.Is(err, datastore.ErrTenantNotFound) {
			t.Errorf("%s: got %v, want ErrTenantNotFound", name, err)
		}
	}
}

func TestTenantsAreIsolated(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	ctx := context.Background()
	if err := s.CreateTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, "acme"); !errors.Is(err, datastore.ErrTenantExists) {
		t.Fatalf("second create: %v", err)
	}
	write(t, s, "default", datastore.OpTouch, "document:a#viewer@user:x")
	ra := write(t, s, "acme", datastore.OpTouch, "document:a#viewer@user:y")
	if ra != 1 {
		t.Fatalf("acme's first revision is %d, want 1: each tenant has its own sequence", ra)
	}
	got := strs(t, s.SnapshotReader("acme", ra).QueryRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document"}, datastore.QueryOptions{}))
	if !slices.Equal(got, []string{"document:a#viewer@user:y"}) {
		t.Fatalf("acme sees %v", got)
	}
	tenants, err := s.ListTenants(ctx)
	if err != nil || len(tenants) != 2 || tenants[0].Name != "acme" || tenants[1].Name != "default" {
		t.Fatalf("tenants: %v %v", tenants, err)
	}
	if err := s.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"relationships", "transactions", "transaction_changes", "tenant_heads"} {
		var n int
		if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE tenant = 'acme'").Scan(&n); err != nil || n != 0 {
			t.Errorf("%s still holds %d acme rows (%v)", table, n, err)
		}
	}
	if err := s.CreateTenant(ctx, "acme"); err != nil {
		t.Fatalf("recreate: %v", err)
	}
	if h, _ := s.HeadRevision(ctx, "acme"); h != 0 {
		t.Fatalf("recreated tenant starts at %d", h)
	}
}

func TestWatchAndAudit(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	actor := tuple.SubjectRef{Type: "user", ID: "alice"}
	r1, err := s.ReadWriteTx(ctx, "default", datastore.TxMetadata{
		Principal: "key1", Actor: &actor, Reason: "onboarding", Operation: "write",
		Organizations: []tuple.ObjectRef{{Type: "organization", ID: "acme"}},
		Grants:        []datastore.GrantRecord{{Relationship: tuple.MustParse("document:a#viewer@user:b").Key(), Rule: "grant viewer by manage"}},
	}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteRelationships(ctx, []datastore.Update{
			{Op: datastore.OpTouch, Relationship: tuple.MustParse("document:b#viewer@user:b")},
			{Op: datastore.OpTouch, Relationship: tuple.MustParse("document:a#viewer@user:b")},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan *datastore.Transaction, 10)
	go func() {
		for tx, err := range s.Watch(ctx, "default", 0) {
			if err != nil {
				close(seen)
				return
			}
			seen <- tx
		}
	}()
	first := <-seen
	if first.Revision != r1 || first.Metadata.Principal != "key1" || first.Metadata.Actor == nil || *first.Metadata.Actor != actor ||
		len(first.Changes) != 2 || first.Changes[0].Relationship.String() != "document:b#viewer@user:b" ||
		first.Changes[0].Kind != datastore.ChangeCreated || len(first.Metadata.Grants) != 1 {
		t.Fatalf("first watched transaction: %+v", first)
	}
	r2 := write(t, s, "default", datastore.OpDelete, "document:a#viewer@user:b")
	select {
	case second := <-seen:
		if second.Revision != r2 || len(second.Changes) != 1 || second.Changes[0].Kind != datastore.ChangeDeleted {
			t.Fatalf("second watched transaction: %+v", second)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not deliver the second transaction")
	}
	var got []datastore.Revision
	for tx, err := range s.ReadTransactions(ctx, "default", datastore.TransactionFilter{Organization: &tuple.ObjectRef{Type: "organization", ID: "acme"}}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tx.Revision)
	}
	if !slices.Equal(got, []datastore.Revision{r1}) {
		t.Fatalf("audit by organisation: %v", got)
	}
	got = nil
	for tx, err := range s.ReadTransactions(ctx, "default", datastore.TransactionFilter{Resource: &tuple.ObjectRef{Type: "document", ID: "a"}}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tx.Revision)
	}
	if !slices.Equal(got, []datastore.Revision{r2, r1}) {
		t.Fatalf("audit by resource, newest first: %v", got)
	}
}

// TestRejectedValuesApplyNothing: values the database refuses fail the whole
// transaction with an error wrapping ErrInvalidArgument, and nothing is written.
func TestRejectedValuesApplyNothing(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t, Options{})
	ctx := context.Background()
	head := write(t, s, "default", datastore.OpTouch, "document:a#viewer@user:x")
	bad := tuple.MustParse("document:b#viewer@user:x")
	bad.Subject.ID = "nul\x00byte" // PostgreSQL text cannot hold NUL
	_, err := s.ReadWriteTx(ctx, "default", datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteRelationships(ctx, []datastore.Update{
			{Op: datastore.OpTouch, Relationship: tuple.MustParse("document:c#viewer@user:x")},
			{Op: datastore.OpTouch, Relationship: bad},
		})
	})
	if !errors.Is(err, datastore.ErrInvalidArgument) {
		t.Fatalf("got %v, want ErrInvalidArgument", err)
	}
	if h, _ := s.HeadRevision(ctx, "default"); h != head {
		t.Fatalf("head moved to %d after a rejected write", h)
	}
	got := strs(t, s.SnapshotReader("default", head).QueryRelationships(ctx, datastore.RelationshipFilter{}, datastore.QueryOptions{}))
	if !slices.Equal(got, []string{"document:a#viewer@user:x"}) {
		t.Fatalf("stored after a rejected write: %v", got)
	}
	if _, err := tryWrite(s, "default", 99, "document:c#viewer@user:x"); !errors.Is(err, datastore.ErrInvalidArgument) {
		t.Fatalf("unknown operation: got %v", err)
	}
}
