package dataset

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/index"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/serve"
	"github.com/pemba-authz/pemba/internal/server"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// loadEngine writes the reference schema and the dataset of m into a memory store and
// returns an engine over it and the revision holding the data.
func loadEngine(t testing.TB, m *Model) (*engine.Engine, datastore.Revision) {
	t.Helper()
	ds := memory.New(datastore.Options{})
	t.Cleanup(func() { ds.Close() })
	rev := loadStore(t, ds, m)
	return engine.New(ds, engine.Config{}), rev
}

// loadIndexedEngine is loadEngine with the in-memory index in front of the store, built
// by the stack constructor the server runs: the engine's reads are answered by the
// index.
func loadIndexedEngine(t testing.TB, m *Model) (*engine.Engine, datastore.Revision, *index.Store) {
	t.Helper()
	ds := memory.New(datastore.Options{})
	rev := loadStore(t, ds, m)
	st, err := serve.NewStack(ds, serve.StackOptions{Index: true, Server: server.Config{
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.Index.Warm(ctx, tuple.DefaultTenant); err != nil {
		t.Fatal(err)
	}
	return st.Engine, rev, st.Index
}

// loadStore writes the reference schema and the dataset of m into ds and returns the
// revision holding the data.
func loadStore(t testing.TB, ds datastore.Datastore, m *Model) datastore.Revision {
	t.Helper()
	text, _ := loadSchema(t)
	ctx := context.Background()
	rev, err := ds.ReadWriteTx(ctx, tuple.DefaultTenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteSchema(ctx, text)
	})
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]datastore.Update, 0, 1000)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		rev, err = ds.ReadWriteTx(ctx, tuple.DefaultTenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			return tx.WriteRelationships(ctx, batch)
		})
		if err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}
	for r := range m.Relationships() {
		batch = append(batch, datastore.Update{Op: datastore.OpTouch, Relationship: r})
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	return rev
}

func engineCheck(t testing.TB, e *engine.Engine, rev datastore.Revision, q CheckQuery) bool {
	t.Helper()
	res, err := e.Check(context.Background(), engine.CheckRequest{Tenant: tuple.DefaultTenant,
		Revision: rev, Resource: q.Resource, Permission: q.Permission, Subject: q.Subject,
		Context: map[string]any{"client_ip": q.ClientIP.String()},
	})
	if err != nil {
		t.Fatalf("engine check %s: %v", q, err)
	}
	if res.Permissionship == engine.Conditional {
		t.Fatalf("engine answered conditional to %s although client_ip was given (missing %v)", q, res.MissingContext)
	}
	return res.Permissionship == engine.HasPermission
}

// compareChecks runs queries through the engine and reports every disagreement with
// the oracle.
func compareChecks(t *testing.T, e *engine.Engine, rev datastore.Revision, name string, qs []CheckQuery) {
	t.Helper()
	bad := 0
	for _, q := range qs {
		if got := engineCheck(t, e, rev, q); got != q.Expected {
			bad++
			if bad <= 10 {
				t.Errorf("%s: engine says %v, oracle says %v: %s", name, got, q.Expected, q)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d checks disagree", name, bad, len(qs))
	}
}

// TestOracleAgreesWithEngine is the oracle's proof: thousands of checks of every kind
// the load generator sends, answered by the real engine over the memory store.
func TestOracleAgreesWithEngine(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			m := MustModel(smallParams(seed))
			e, rev := loadEngine(t, m)
			n := 2000
			if testing.Short() {
				n = 300
			}
			compareChecks(t, e, rev, "mix", m.RandomChecks(seed, n))
			for _, level := range []int{2, 8, 16} {
				compareChecks(t, e, rev, fmt.Sprintf("depth%d", level), m.DeepChecks(seed+10, level, n/10))
			}
		})
	}
}

// TestOracleAgreesWithIndexedEngine runs the realistic mix and the deep checks through
// the engine reading from the in-memory index.
func TestOracleAgreesWithIndexedEngine(t *testing.T) {
	m := MustModel(smallParams(9))
	e, rev, ix := loadIndexedEngine(t, m)
	compareChecks(t, e, rev, "indexed mix", m.RandomChecks(9, 1500))
	compareChecks(t, e, rev, "indexed depth16", m.DeepChecks(19, 16, 200))
	if st := ix.Stats(); st.Served == 0 {
		t.Errorf("the index answered no read (%+v): the test did not exercise it", st)
	}
}

// TestOracleExhaustiveTree compares every permission of every organisation, project and
// document of one tree for a sample of users, from inside and outside their network.
func TestOracleExhaustiveTree(t *testing.T) {
	p := smallParams(4)
	p.Width = 3
	m := MustModel(p)
	e, rev := loadEngine(t, m)
	r := m.Rand(99)
	var qs []CheckQuery
	for range 3 {
		u := m.RandomUser(r)
		for _, ip := range []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.AddrFrom4([4]byte{10, byte(u.Org.T % 250), 9, 9})} {
			ev := m.Evaluator(m.Profile(u), ip)
			add := func(res tuple.ObjectRef, perms ...string) {
				for _, perm := range perms {
					ok, err := ev.Check(res, perm)
					if err != nil {
						t.Fatal(err)
					}
					qs = append(qs, CheckQuery{Resource: res, Permission: perm, Subject: userSubject(u), ClientIP: ip, Expected: ok})
				}
			}
			for _, tt := range []int{u.Org.T, m.PrevTree(u.Org.T)} {
				m.Subtree(Org{T: tt}, func(o Org) {
					add(orgRef(o), oraclePermissions[TypeOrganization]...)
					for pi := range m.ProjectCount(o) {
						pr := Project{Org: o, P: pi}
						add(projectRef(pr), oraclePermissions[TypeProject]...)
						for d := range m.DocCount(pr) {
							add(docRef(Doc{Project: pr, D: d}), oraclePermissions[TypeDocument]...)
						}
					}
				})
				for h := range m.GroupTrees(tt) {
					for x := range m.GroupTreeSize() {
						add(groupRef(Group{T: tt, H: h, X: x}), "member")
					}
				}
			}
		}
	}
	compareChecks(t, e, rev, "exhaustive", qs)
}

// TestOracleLookupsAgreeWithEngine compares LookupResources and LookupSubjects.
func TestOracleLookupsAgreeWithEngine(t *testing.T) {
	m := MustModel(smallParams(6))
	e, rev := loadEngine(t, m)
	ctx := context.Background()
	r := m.Rand(5)
	lookups := 0
	for range 40 {
		u := m.RandomUser(r)
		if r.IntN(4) == 0 { // favour admins of upper levels: large answers
			o := Org{T: u.Org.T, L: r.IntN(3)}
			u = User{Org: o}
		}
		ip := m.ClientIP(u)
		for _, rp := range [][2]string{{TypeDocument, "view"}, {TypeDocument, "edit"}, {TypeProject, "view"}, {TypeProject, "edit"}} {
			want, err := m.LookupResources(rp[0], rp[1], u, ip)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for res, err := range e.LookupResources(ctx, engine.LookupResourcesRequest{Tenant: tuple.DefaultTenant,
				Revision: rev, ResourceType: rp[0], Permission: rp[1], Subject: userSubject(u),
				Context: map[string]any{"client_ip": ip.String()},
			}) {
				if err != nil {
					t.Fatal(err)
				}
				if res.Permissionship != engine.HasPermission {
					t.Fatalf("lookup %s#%s for %s: %s is %v", rp[0], rp[1], u.ID(), res.ResourceID, res.Permissionship)
				}
				got = append(got, res.ResourceID)
			}
			lookups += len(want)
			if d := diffIDs(got, want); d != "" {
				t.Errorf("LookupResources %s#%s for %s: %s", rp[0], rp[1], u.ID(), d)
			}
		}
	}
	if lookups < 500 {
		t.Errorf("lookups found only %d resources in total: the sample is too small to prove anything", lookups)
	}
	for _, q := range m.LookupSubjectsQueries(8, 15) {
		var got []string
		for res, err := range e.LookupSubjects(ctx, engine.LookupSubjectsRequest{Tenant: tuple.DefaultTenant,
			Revision: rev, Resource: q.Resource, Permission: q.Permission, SubjectType: TypeUser,
			Context: map[string]any{"client_ip": q.ClientIP.String()},
		}) {
			if err != nil {
				t.Fatal(err)
			}
			if res.Permissionship != engine.HasPermission {
				t.Fatalf("lookup subjects %s: %s is %v", q.Resource, res.SubjectID, res.Permissionship)
			}
			got = append(got, res.SubjectID)
		}
		if d := diffIDs(got, q.Expected); d != "" {
			t.Errorf("LookupSubjects %s#%s: %s", q.Resource, q.Permission, d)
		}
	}
}

func diffIDs(got, want []string) string {
	g := map[string]bool{}
	for _, id := range got {
		if g[id] {
			return fmt.Sprintf("%s returned twice", id)
		}
		g[id] = true
	}
	var missing, extra []string
	for _, id := range want {
		if !g[id] {
			missing = append(missing, id)
		}
		delete(g, id)
	}
	for id := range g {
		extra = append(extra, id)
	}
	if len(missing)+len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("engine returned %d, oracle %d; missing %v; unexpected %v", len(got), len(want), missing, extra)
}
