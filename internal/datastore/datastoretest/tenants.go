package datastoretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func tenantNames(t *testing.T, h *harness) []string {
	t.Helper()
	ts, err := h.ds.ListTenants(h.ctx())
	if err != nil {
		t.Fatalf("ListTenants: %v", err)
	}
	var out []string
	for _, ti := range ts {
		out = append(out, ti.Name)
	}
	return out
}

func testTenants(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	if got := tenantNames(t, h); !slices.Equal(got, []string{def}) {
		t.Fatalf("a fresh store lists tenants %v, want only %q", got, def)
	}
	h.clock.Advance(time.Minute)
	for _, name := range []string{"zeta", "acme-eu", "b2b_1"} {
		if err := h.ds.CreateTenant(h.ctx(), name); err != nil {
			t.Fatalf("CreateTenant(%q): %v", name, err)
		}
	}
	ts, err := h.ds.ListTenants(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range ts {
		names = append(names, ti.Name)
		if ti.Name != def && !ti.CreatedAt.Equal(Start.Add(time.Minute)) {
			t.Fatalf("tenant %q created at %v, want the clock's %v", ti.Name, ti.CreatedAt, Start.Add(time.Minute))
		}
	}
	if want := []string{"acme-eu", "b2b_1", def, "zeta"}; !slices.Equal(names, want) {
		t.Fatalf("ListTenants = %v, want %v", names, want)
	}
	for _, name := range []string{"zeta", def} {
		if err := h.ds.CreateTenant(h.ctx(), name); !errors.Is(err, datastore.ErrTenantExists) {
			t.Fatalf("CreateTenant(%q) of an existing tenant: %v, want ErrTenantExists", name, err)
		}
	}
	for _, name := range []string{"", "Upper", "-lead", "has space", "x/y", string(make([]byte, 64))} {
		if err := h.ds.CreateTenant(h.ctx(), name); !errors.Is(err, datastore.ErrInvalidArgument) {
			t.Fatalf("CreateTenant(%q): %v, want ErrInvalidArgument", name, err)
		}
	}
	if err := h.ds.DeleteTenant(h.ctx(), def); !errors.Is(err, datastore.ErrInvalidArgument) {
		t.Fatalf("DeleteTenant(default): %v, want ErrInvalidArgument", err)
	}
	if err := h.ds.DeleteTenant(h.ctx(), "nosuch"); !errors.Is(err, datastore.ErrTenantNotFound) {
		t.Fatalf("DeleteTenant of an unknown tenant: %v, want ErrTenantNotFound", err)
	}
	if err := h.ds.DeleteTenant(h.ctx(), "zeta"); err != nil {
		t.Fatal(err)
	}
	if err := h.ds.DeleteTenant(h.ctx(), "zeta"); !errors.Is(err, datastore.ErrTenantNotFound) {
		t.Fatalf("deleting a tenant twice: %v, want ErrTenantNotFound", err)
	}
	if got := tenantNames(t, h); !slices.Equal(got, []string{"acme-eu", "b2b_1", def}) {
		t.Fatalf("tenants after a deletion: %v", got)
	}
	if h.head(def) != 0 {
		t.Fatal("tenant operations moved the default tenant's head")
	}
}

// isolationFixture writes the same object ids with different subjects into tenants.
func isolationFixture(h *harness, tenant, who string, extra int) {
	h.t.Helper()
	h.mustTx(tenant, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.WriteSchema(ctx, "schema of "+tenant); err != nil {
			return err
		}
		return tx.WriteRelationships(ctx, updates(datastore.OpTouch,
			"document:shared#viewer@user:"+who, "document:shared#viewer@user:both", "group:eng#member@user:"+who))
	})
	for i := range extra {
		h.mustWrite(tenant, datastore.OpTouch, fmt.Sprintf("document:%s%d#viewer@user:both", who, i))
	}
}

// testTenantIsolation has two tenants hold the same object ids and checks that no read,
// watch, audit query, revision or statistic of one shows anything of the other.
func testTenantIsolation(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	for _, name := range []string{"alpha", "beta"} {
		if err := h.ds.CreateTenant(h.ctx(), name); err != nil {
			t.Fatal(err)
		}
	}
	isolationFixture(h, "alpha", "alice", 3)
	isolationFixture(h, "beta", "bob", 0)
	heads := map[string]datastore.Revision{"alpha": 4, "beta": 1, def: 0}
	for tenant, want := range heads {
		if got := h.head(tenant); got != want {
			t.Fatalf("head of %q is %d, want %d", tenant, got, want)
		}
	}
	wantRels := map[string][]string{
		"alpha": {"document:alice0#viewer@user:both", "document:alice1#viewer@user:both", "document:alice2#viewer@user:both",
			"document:shared#viewer@user:alice", "document:shared#viewer@user:both", "group:eng#member@user:alice"},
		"beta": {"document:shared#viewer@user:bob", "document:shared#viewer@user:both", "group:eng#member@user:bob"},
		def:    {},
	}
	shared := datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"shared"}}
	for tenant, want := range wantRels {
		head := heads[tenant]
		equalStrings(t, tenant+": everything", h.all(tenant, head), want)
		// Readers at a revision that exists only in the other tenant see nothing more.
		equalStrings(t, tenant+": everything at the other tenant's head", h.all(tenant, 4), want)
		var sharedWant []string
		for _, r := range want {
			if tuple.MustParse(r).Resource.ID == "shared" {
				sharedWant = append(sharedWant, r)
			}
		}
		if sharedWant == nil {
			sharedWant = []string{}
		}
		equalStrings(t, tenant+": document:shared", h.query(tenant, head, shared, datastore.QueryOptions{}), sharedWant)
		equalStrings(t, tenant+": reverse for user:both", h.reverse(tenant, head, datastore.SubjectFilter{Type: "user", IDs: []string{"both"}}, datastore.ReverseQueryOptions{}),
			sortedReverse(filterRels(want, func(r tuple.Relationship) bool { return r.Subject.ID == "both" })))
		sc, err := h.ds.SnapshotReader(tenant, 4).ReadSchema(h.ctx())
		if tenant == def {
			if !errors.Is(err, datastore.ErrSchemaNotFound) {
				t.Fatalf("default tenant schema: %+v, %v", sc, err)
			}
		} else if err != nil || sc.Text != "schema of "+tenant || sc.Revision != 1 {
			t.Fatalf("%s: schema %+v, %v", tenant, sc, err)
		}
		revs := h.auditRevisions(tenant, datastore.TransactionFilter{})
		if len(revs) != int(head) {
			t.Fatalf("%s: %d audit records, want %d", tenant, len(revs), head)
		}
		if got := h.auditRevisions(tenant, datastore.TransactionFilter{Resource: &tuple.ObjectRef{Type: "document", ID: "shared"}}); len(got) != min(1, int(head)) {
			t.Fatalf("%s: audit records for document:shared: %v", tenant, got)
		}
		for rev := datastore.Revision(1); rev <= head; rev++ {
			for _, c := range h.txAt(tenant, rev).Changes {
				if !slices.Contains(want, c.Relationship.String()) {
					t.Fatalf("%s: audit record %d carries %s", tenant, rev, c.Relationship)
				}
			}
		}
		if head > 0 {
			for _, txn := range h.watchN(tenant, 0, int(head)) {
				for _, c := range txn.Changes {
					if !slices.Contains(want, c.Relationship.String()) {
						t.Fatalf("%s: Watch revision %d carries %s", tenant, txn.Revision, c.Relationship)
					}
				}
			}
		}
		st, err := h.ds.Statistics(h.ctx(), tenant)
		if err != nil || st.Relationships != int64(len(want)) || st.Revision != head || st.Transactions != int64(head) {
			t.Fatalf("%s: statistics %+v, %v; want %d relationships at %d", tenant, st, err, len(want), head)
		}
		if err := h.ds.CheckRevision(h.ctx(), tenant, head+1); err == nil {
			t.Fatalf("%s: CheckRevision(%d) beyond its own head succeeded", tenant, head+1)
		}
		opt, err := h.ds.OptimizedRevision(h.ctx(), tenant)
		if err != nil || opt > head {
			t.Fatalf("%s: OptimizedRevision %d, %v (head %d)", tenant, opt, err, head)
		}
	}
	// A transaction in one tenant sees only its own tenant, and deleting by filter
	// there leaves the other untouched.
	h.mustTx("beta", func(ctx context.Context, tx datastore.ReadWriteTx) error {
		n := len(collectRels(t, tx.Snapshot().QueryRelationships(ctx, datastore.RelationshipFilter{}, datastore.QueryOptions{})))
		if n != 3 {
			return fmt.Errorf("beta's snapshot shows %d relationships", n)
		}
		_, _, err := tx.DeleteRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document"}, 0)
		return err
	})
	equalStrings(t, "alpha after beta deleted its documents", h.all("alpha", h.head("alpha")), wantRels["alpha"])
	// Creating in one tenant what exists in the other is not a conflict.
	h.mustWrite("beta", datastore.OpCreate, "document:shared#viewer@user:alice")
}

func filterRels(rels []string, keep func(tuple.Relationship) bool) []tuple.Relationship {
	var out []tuple.Relationship
	for _, r := range parseAll(rels...) {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func testDeleteTenant(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	for _, name := range []string{"gone", "kept"} {
		if err := h.ds.CreateTenant(h.ctx(), name); err != nil {
			t.Fatal(err)
		}
		isolationFixture(h, name, "alice", 2)
	}
	h.mustWrite("gone", datastore.OpDelete, "document:alice0#viewer@user:both") // a deleted version too
	if err := h.ds.DeleteTenant(h.ctx(), "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ds.HeadRevision(h.ctx(), "gone"); !errors.Is(err, datastore.ErrTenantNotFound) {
		t.Fatalf("HeadRevision of a deleted tenant: %v", err)
	}
	if err := seqErr(h.ds.SnapshotReader("gone", 1).QueryRelationships(h.ctx(), datastore.RelationshipFilter{}, datastore.QueryOptions{})); !errors.Is(err, datastore.ErrTenantNotFound) {
		t.Fatalf("a reader of a deleted tenant: %v, want ErrTenantNotFound", err)
	}
	// Re-created under the same name, the tenant starts empty.
	if err := h.ds.CreateTenant(h.ctx(), "gone"); err != nil {
		t.Fatal(err)
	}
	head := h.head("gone")
	for rev := datastore.Revision(0); rev <= max(head, 4); rev++ {
		equalStrings(t, fmt.Sprintf("the re-created tenant at revision %d", rev), h.all("gone", rev), []string{})
		if _, err := h.ds.SnapshotReader("gone", rev).ReadSchema(h.ctx()); !errors.Is(err, datastore.ErrSchemaNotFound) {
			t.Fatalf("the re-created tenant has a schema at %d: %v", rev, err)
		}
	}
	if revs := h.auditRevisions("gone", datastore.TransactionFilter{}); len(revs) != 0 {
		t.Fatalf("the re-created tenant has audit records %v", revs)
	}
	st, err := h.ds.Statistics(h.ctx(), "gone")
	if err != nil || st.Relationships != 0 || st.Transactions != 0 || len(st.ByResourceType) != 0 {
		t.Fatalf("statistics of the re-created tenant: %+v, %v", st, err)
	}
	rev := h.mustWrite("gone", datastore.OpCreate, "document:shared#viewer@user:alice")
	equalStrings(t, "a write to the re-created tenant", h.all("gone", rev), []string{"document:shared#viewer@user:alice"})
	equalStrings(t, "the other tenant", h.all("kept", h.head("kept")), []string{
		"document:alice0#viewer@user:both", "document:alice1#viewer@user:both",
		"document:shared#viewer@user:alice", "document:shared#viewer@user:both", "group:eng#member@user:alice"})
	// Garbage collection after a deletion does not disturb the survivors.
	h.clock.Advance(48 * time.Hour)
	if _, err := h.ds.GarbageCollect(h.ctx()); err != nil {
		t.Fatal(err)
	}
	equalStrings(t, "the other tenant after GC", h.all("kept", h.head("kept")), []string{
		"document:alice0#viewer@user:both", "document:alice1#viewer@user:both",
		"document:shared#viewer@user:alice", "document:shared#viewer@user:both", "group:eng#member@user:alice"})
}

func testUnknownTenant(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	ctx := h.ctx()
	const name = "nosuch"
	checks := map[string]error{}
	_, checks["HeadRevision"] = h.ds.HeadRevision(ctx, name)
	_, checks["OptimizedRevision"] = h.ds.OptimizedRevision(ctx, name)
	checks["CheckRevision"] = h.ds.CheckRevision(ctx, name, 0)
	_, checks["ReadWriteTx"] = h.ds.ReadWriteTx(ctx, name, testMeta, func(context.Context, datastore.ReadWriteTx) error { return nil })
	checks["ReadTransactions"] = seqErr(h.ds.ReadTransactions(ctx, name, datastore.TransactionFilter{}))
	_, checks["Statistics"] = h.ds.Statistics(ctx, name)
	r := h.ds.SnapshotReader(name, 0)
	checks["QueryRelationships"] = seqErr(r.QueryRelationships(ctx, datastore.RelationshipFilter{}, datastore.QueryOptions{}))
	checks["ReverseQueryRelationships"] = seqErr(r.ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: "user"}, datastore.ReverseQueryOptions{}))
	_, checks["ReadSchema"] = r.ReadSchema(ctx)
	checks["DeleteTenant"] = h.ds.DeleteTenant(ctx, name)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	checks["Watch"] = seqErr(h.ds.Watch(wctx, name, 0))
	for op, err := range checks {
		if !errors.Is(err, datastore.ErrTenantNotFound) {
			t.Errorf("%s on an unknown tenant: %v, want ErrTenantNotFound", op, err)
		}
	}
}
