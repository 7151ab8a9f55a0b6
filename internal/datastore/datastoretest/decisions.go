package datastoretest

import (
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// RunDecisionConformance runs the decision log's part of the suite against a store
// that implements datastore.DecisionStore beside Datastore.
func RunDecisionConformance(t *testing.T, newStore NewStoreFunc) {
	t.Run("Decisions", func(t *testing.T) { testDecisions(t, newStore) })
	t.Run("DecisionPaging", func(t *testing.T) { testDecisionPaging(t, newStore) })
	t.Run("DecisionRetentionAndTenants", func(t *testing.T) { testDecisionRetention(t, newStore) })
	t.Run("EraseSubject", func(t *testing.T) { testEraseSubject(t, newStore) })
	t.Run("RetentionPerKind", func(t *testing.T) { testRetentionPerKind(t, newStore) })
}

func decisionStore(h *harness) datastore.DecisionStore {
	ds, ok := h.ds.(datastore.DecisionStore)
	if !ok {
		h.t.Fatalf("%T does not implement datastore.DecisionStore", h.ds)
	}
	return ds
}

func decision(tenant string, at time.Time, resource, permission, subject, result string) datastore.Decision {
	return datastore.Decision{
		Time: at, Principal: "portal", Tenant: tenant, Operation: "check",
		Resource: mustObject(resource), Permission: permission, Subject: mustSubject(subject),
		Result: result, Revision: 7, Path: []string{"document:d1#viewer@user:ann"},
	}
}

func readDecisions(h *harness, f datastore.DecisionFilter) []datastore.Decision {
	h.t.Helper()
	var out []datastore.Decision
	for d, err := range decisionStore(h).ReadDecisions(h.ctx(), f) {
		if err != nil {
			h.t.Fatalf("ReadDecisions(%+v): %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

func testDecisions(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	if err := h.ds.CreateTenant(h.ctx(), "other"); err != nil {
		t.Fatal(err)
	}
	t0 := Start.UTC().Truncate(time.Microsecond)
	batch := []datastore.Decision{
		decision(def, t0, "document:d1", "view", "user:ann", "allowed"),
		decision(def, t0.Add(time.Second), "document:d2", "view", "user:bob", "denied"),
		decision("other", t0.Add(time.Second), "document:d1", "edit", "user:ann", "allowed"),
		decision(def, t0.Add(2*time.Second), "folder:f1", "view", "group:eng#member", "conditional"),
	}
	if err := decisionStore(h).WriteDecisions(h.ctx(), batch); err != nil {
		t.Fatal(err)
	}
	both := []string{def, "other"}
	got := readDecisions(h, datastore.DecisionFilter{Tenants: both})
	if len(got) != 4 {
		t.Fatalf("read %d decisions, want 4", len(got))
	}
	// Newest first; at the same instant, tenant name order.
	if got[0].Resource.Type != "folder" || got[1].Tenant != def || got[2].Tenant != "other" || got[3].Resource.ID != "d1" {
		t.Fatalf("order: %+v", got)
	}
	d := got[3]
	if !d.Time.Equal(t0) || d.Principal != "portal" || d.Operation != "check" || d.Permission != "view" || d.Subject.ID != "ann" ||
		d.Result != "allowed" || d.Revision != 7 || len(d.Path) != 1 || d.Path[0] != "document:d1#viewer@user:ann" {
		t.Fatalf("stored decision differs: %+v", d)
	}
	if got[0].Subject.Relation != "member" {
		t.Fatalf("subject relation lost: %+v", got[0].Subject)
	}
	ann := tuple.ObjectRef{Type: "user", ID: "ann"}
	doc := tuple.ObjectRef{Type: "document"}
	cases := []struct {
		name string
		f    datastore.DecisionFilter
		want int
	}{
		{"one tenant", datastore.DecisionFilter{Tenants: []string{"other"}}, 1},
		{"subject", datastore.DecisionFilter{Tenants: both, Subject: &ann}, 2},
		{"resource type", datastore.DecisionFilter{Tenants: both, Resource: &doc}, 3},
		{"permission", datastore.DecisionFilter{Tenants: both, Permission: "edit"}, 1},
		{"result", datastore.DecisionFilter{Tenants: both, Result: "denied"}, 1},
		{"since", datastore.DecisionFilter{Tenants: both, Since: t0.Add(time.Second)}, 3},
		{"until", datastore.DecisionFilter{Tenants: both, Until: t0.Add(time.Second)}, 1},
		{"limit", datastore.DecisionFilter{Tenants: both, Limit: 2}, 2},
	}
	for _, c := range cases {
		if n := len(readDecisions(h, c.f)); n != c.want {
			t.Errorf("%s: %d decisions, want %d", c.name, n, c.want)
		}
	}
}

func testDecisionPaging(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	if err := h.ds.CreateTenant(h.ctx(), "other"); err != nil {
		t.Fatal(err)
	}
	t0 := Start.UTC().Truncate(time.Microsecond)
	var batch []datastore.Decision
	for i := range 30 {
		tenant := def
		if i%3 == 0 {
			tenant = "other"
		}
		// Several decisions share each instant, across and within tenants.
		batch = append(batch, decision(tenant, t0.Add(time.Duration(i/4)*time.Millisecond), "document:d1", "view", "user:ann", "allowed"))
	}
	if err := decisionStore(h).WriteDecisions(h.ctx(), batch); err != nil {
		t.Fatal(err)
	}
	f := datastore.DecisionFilter{Tenants: []string{def, "other"}}
	all := readDecisions(h, f)
	var paged []datastore.Decision
	f.Limit = 4
	for pages := 0; pages < 20; pages++ {
		page := readDecisions(h, f)
		paged = append(paged, page...)
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.Before = &datastore.DecisionCursor{Time: last.Time, Tenant: last.Tenant, Seq: last.Seq}
	}
	if len(all) != 30 || len(paged) != 30 {
		t.Fatalf("read %d at once and %d in pages, want 30", len(all), len(paged))
	}
	for i := range all {
		if all[i].Tenant != paged[i].Tenant || all[i].Seq != paged[i].Seq || !all[i].Time.Equal(paged[i].Time) {
			t.Fatalf("page order differs at %d: %+v vs %+v", i, all[i], paged[i])
		}
	}
}

func testDecisionRetention(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	if err := h.ds.CreateTenant(h.ctx(), "other"); err != nil {
		t.Fatal(err)
	}
	t0 := Start.UTC().Truncate(time.Microsecond)
	batch := []datastore.Decision{
		decision(def, t0, "document:d1", "view", "user:ann", "allowed"),
		decision("other", t0, "document:d1", "view", "user:ann", "allowed"),
		decision(def, t0.Add(time.Hour), "document:d2", "view", "user:ann", "allowed"),
		decision("other", t0.Add(time.Hour), "document:d2", "view", "user:ann", "allowed"),
	}
	if err := decisionStore(h).WriteDecisions(h.ctx(), batch); err != nil {
		t.Fatal(err)
	}
	n, err := decisionStore(h).DeleteDecisionsBefore(h.ctx(), t0.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("DeleteDecisionsBefore = %d, %v; want 2", n, err)
	}
	both := []string{def, "other"}
	for _, d := range readDecisions(h, datastore.DecisionFilter{Tenants: both}) {
		if d.Resource.ID != "d2" {
			t.Fatalf("an expired decision is still there: %+v", d)
		}
	}
	// A deleted tenant's decisions go with it; a tenant made again with its name has none.
	if err := h.ds.DeleteTenant(h.ctx(), "other"); err != nil {
		t.Fatal(err)
	}
	if err := h.ds.CreateTenant(h.ctx(), "other"); err != nil {
		t.Fatal(err)
	}
	if got := readDecisions(h, datastore.DecisionFilter{Tenants: []string{"other"}}); len(got) != 0 {
		t.Fatalf("the recreated tenant sees %d old decisions", len(got))
	}
	if got := readDecisions(h, datastore.DecisionFilter{Tenants: []string{def}}); len(got) != 1 {
		t.Fatalf("the default tenant has %d decisions, want 1", len(got))
	}
}

func mustObject(s string) tuple.ObjectRef {
	o, err := tuple.ParseObject(s)
	if err != nil {
		panic(err)
	}
	return o
}

func mustSubject(s string) tuple.SubjectRef {
	sub, err := tuple.ParseSubject(s)
	if err != nil {
		panic(err)
	}
	return sub
}
