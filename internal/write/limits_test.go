package write

import (
	"context"
	"errors"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// TestRelationshipLimit checks that writes and import batches that would take a
// tenant over its relationship limit are refused whole, that a write which does not
// grow the tenant passes at the limit, and that other tenants count apart.
func TestRelationshipLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.w.cfg.ImportBatchSize = 3
	f.w.cfg.MaxRelationships = func(tenant string) int64 {
		if tenant == tuple.DefaultTenant {
			return 5
		}
		return 0
	}
	members := func(ids ...string) []tuple.Relationship {
		var out []tuple.Relationship
		for _, id := range ids {
			out = append(out, tuple.MustParse("group:g#member@user:"+id))
		}
		return out
	}
	req := Request{Tenant: tuple.DefaultTenant, Principal: "admin-key"}
	_, err := f.w.Import(ctx, req, seqOf(members("a", "b", "c", "d", "e", "f", "g")))
	var ie *ImportError
	var le *datastore.RelationshipLimitError
	if !errors.As(err, &ie) || ie.Committed != 3 || !errors.As(err, &le) || le.Stored != 3 || le.After != 6 || le.Limit != 5 {
		t.Fatalf("import of 7 under a limit of 5 in batches of 3: %v", err)
	}
	if got := f.stored(); got != 3 {
		t.Fatalf("after the refused batch the tenant stores %d relationships, want the first batch's 3", got)
	}
	if _, err := f.w.WriteRelationships(ctx, req, updates(datastore.OpCreate, "group:g#member@user:x", "group:g#member@user:y"), nil); err != nil {
		t.Fatalf("writing up to the limit: %v", err)
	}
	_, err = f.w.WriteRelationships(ctx, req, updates(datastore.OpCreate, "group:g#member@user:z"), nil)
	if !errors.As(err, &le) || !errors.Is(err, datastore.ErrResourceExhausted) || le.Stored != 5 {
		t.Fatalf("a write over the limit: %v", err)
	}
	swap := append(updates(datastore.OpDelete, "group:g#member@user:x"), updates(datastore.OpCreate, "group:g#member@user:z")...)
	if _, err := f.w.WriteRelationships(ctx, req, swap, nil); err != nil {
		t.Fatalf("replacing one relationship by another at the limit: %v", err)
	}
	if err := f.ds.CreateTenant(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if err := f.schema("other"); err != nil {
		t.Fatal(err)
	}
	other := Request{Tenant: "other", Principal: "admin-key"}
	if res, err := f.w.Import(ctx, other, seqOf(members("a", "b", "c", "d", "e", "f", "g"))); err != nil || res.Count != 7 {
		t.Fatalf("a tenant without a limit: %+v, %v", res, err)
	}
}

// stored is how many relationships the default tenant stores at its head.
func (f *fixture) stored() int {
	f.t.Helper()
	ctx := context.Background()
	rev, err := f.ds.HeadRevision(ctx, tuple.DefaultTenant)
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, err := range f.ds.SnapshotReader(tuple.DefaultTenant, rev).QueryRelationships(ctx, datastore.RelationshipFilter{ResourceType: "group"}, datastore.QueryOptions{}) {
		if err != nil {
			f.t.Fatal(err)
		}
		n++
	}
	return n
}

// schema writes the reference schema to a tenant.
func (f *fixture) schema(tenant string) error {
	text, err := f.w.eng.Schema(context.Background(), tuple.DefaultTenant, 1)
	if err != nil {
		return err
	}
	_, err = f.w.WriteSchema(context.Background(), Request{Tenant: tenant, Principal: "setup"}, text.Source, false)
	return err
}

func seqOf(rels []tuple.Relationship) func(func(tuple.Relationship, error) bool) {
	return func(yield func(tuple.Relationship, error) bool) {
		for _, r := range rels {
			if !yield(r, nil) {
				return
			}
		}
	}
}
