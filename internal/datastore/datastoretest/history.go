package datastoretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// testSnapshots checks that a reader at revision R gives the same answer before and
// after later commits.
func testSnapshots(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	if got := h.all(def, 0); len(got) != 0 {
		t.Fatalf("a fresh store has relationships at revision 0: %v", got)
	}
	r1 := h.mustWrite(def, datastore.OpCreate,
		"document:a#viewer@user:alice", "document:a#viewer@user:bob", "document:b#viewer@user:alice")
	r2 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteRelationships(ctx, append(append(
			updates(datastore.OpDelete, "document:a#viewer@user:bob"),
			updates(datastore.OpTouch, `document:b#viewer@user:alice[only_on:{"day":"mon"}]`)...),
			updates(datastore.OpCreate, "document:c#viewer@user:alice")...))
	})
	r3 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		_, _, err := tx.DeleteRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"a"}}, 0)
		return err
	})
	want := map[datastore.Revision][]string{
		0:  {},
		r1: {"document:a#viewer@user:alice", "document:a#viewer@user:bob", "document:b#viewer@user:alice"},
		r2: {"document:a#viewer@user:alice", `document:b#viewer@user:alice[only_on:{"day":"mon"}]`, "document:c#viewer@user:alice"},
		r3: {`document:b#viewer@user:alice[only_on:{"day":"mon"}]`, "document:c#viewer@user:alice"},
	}
	wantRev := map[datastore.Revision][]string{
		0:  {},
		r1: {"document:a#viewer@user:alice", "document:b#viewer@user:alice"},
		r2: {"document:a#viewer@user:alice", `document:b#viewer@user:alice[only_on:{"day":"mon"}]`, "document:c#viewer@user:alice"},
		r3: {`document:b#viewer@user:alice[only_on:{"day":"mon"}]`, "document:c#viewer@user:alice"},
	}
	alice := datastore.SubjectFilter{Type: "user", IDs: []string{"alice"}}
	check := func(when string) {
		t.Helper()
		for rev, w := range want {
			equalStrings(t, fmt.Sprintf("%s: all relationships at revision %d", when, rev), h.all(def, rev), w)
			equalStrings(t, fmt.Sprintf("%s: reverse query for user:alice at revision %d", when, rev),
				h.reverse(def, rev, alice, datastore.ReverseQueryOptions{}), wantRev[rev])
		}
	}
	check("right after the writes")
	// Later commits rewrite, delete and re-create the same keys.
	h.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:bob", "document:b#viewer@user:alice", "document:d#viewer@user:alice")
	h.mustWrite(def, datastore.OpDelete, "document:c#viewer@user:alice", "document:b#viewer@user:alice")
	h.mustWrite(def, datastore.OpCreate, "document:a#viewer@user:alice", "document:c#viewer@user:alice")
	check("after later commits")
	if r := h.ds.SnapshotReader(def, r2).Revision(); r != r2 {
		t.Fatalf("SnapshotReader(%d).Revision() = %d", r2, r)
	}
}

// Small key space for randomised histories: collisions are frequent, so creates,
// touches and deletes of existing keys all happen.
var (
	randResourceTypes = []string{"document", "folder"}
	randResourceIDs   = []string{"a", "ab", "b", "c"}
	randRelations     = []string{"editor", "viewer"}
	randSubjects      = []tuple.SubjectRef{
		{Type: "user", ID: "alice"}, {Type: "user", ID: "bob"}, {Type: "user", ID: tuple.Wildcard},
		{Type: "group", ID: "eng"}, {Type: "group", ID: "eng", Relation: "member"}, {Type: "group", ID: "ops", Relation: "member"},
	}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// randomRel returns a relationship from the small key space; some carry a caveat,
// some an expiry up to 90 minutes after now.
func randomRel(rng *rand.Rand, now time.Time) tuple.Relationship {
	r := tuple.Relationship{
		Resource: tuple.ObjectRef{Type: pick(rng, randResourceTypes), ID: pick(rng, randResourceIDs)},
		Relation: pick(rng, randRelations),
		Subject:  pick(rng, randSubjects),
	}
	switch rng.IntN(5) {
	case 0:
		r.Caveat = &tuple.Caveat{Name: "in_region", Context: map[string]any{"n": json.Number(strconv.Itoa(rng.IntN(3)))}}
	case 1:
		r.Expiration = now.Add(time.Duration(1+rng.IntN(90)) * time.Minute)
	}
	return r
}

// randomFilter returns a forward filter over the small key space.
func randomFilter(rng *rand.Rand) datastore.RelationshipFilter {
	var f datastore.RelationshipFilter
	if rng.IntN(4) > 0 {
		f.ResourceType = pick(rng, randResourceTypes)
	}
	switch rng.IntN(4) {
	case 0:
		f.ResourceIDs = []string{pick(rng, randResourceIDs)}
	case 1:
		f.ResourceIDs = []string{pick(rng, randResourceIDs), pick(rng, randResourceIDs), pick(rng, randResourceIDs)}
	case 2:
		f.ResourceIDPrefix = pick(rng, []string{"a", "b", "ab", "c"})
	}
	if rng.IntN(2) == 0 {
		f.Relation = pick(rng, randRelations)
	}
	if rng.IntN(2) == 0 {
		f.Subject = randomSubjectFilter(rng)
	}
	return f
}

func randomSubjectFilter(rng *rand.Rand) *datastore.SubjectFilter {
	sf := &datastore.SubjectFilter{Type: pick(rng, []string{"user", "group"})}
	if rng.IntN(2) == 0 {
		sf.IDs = []string{pick(rng, []string{"alice", "bob", "eng", "ops", tuple.Wildcard})}
		if rng.IntN(2) == 0 {
			sf.IDs = append(sf.IDs, pick(rng, []string{"alice", "eng", tuple.Wildcard}))
		}
	}
	if rng.IntN(2) == 0 {
		sf.Relations = []string{pick(rng, []string{"", "member"})}
	}
	return sf
}

// history is a randomised sequence of committed transactions with the model of what
// every revision holds and what every transaction changed.
type history struct {
	h       *harness
	rng     *rand.Rand
	m       *model
	changes map[datastore.Revision][]datastore.Change
	times   map[datastore.Revision]time.Time
}

// newHistory starts a randomised history on h's default tenant; run commits random
// transactions and checks each against the model as it goes. Some transactions try to create an existing relationship and must fail
// without writing anything.
func newHistory(h *harness, seed uint64) *history {
	return &history{h: h, rng: rand.New(rand.NewPCG(seed, seed*7919)), m: newModel(),
		changes: map[datastore.Revision][]datastore.Change{}, times: map[datastore.Revision]time.Time{}}
}

// run commits n more random transactions.
func (hist *history) run(t *testing.T, n int) {
	t.Helper()
	h, rng := hist.h, hist.rng
	for i := 0; i < n; i++ {
		h.clock.Advance(time.Duration(rng.IntN(180)) * time.Second)
		now := h.clock.Now()
		gen := hist.m.begin(now) // approximate view, only to bias the choice of steps
		type step struct {
			u      *datastore.Update
			filter datastore.RelationshipFilter
			limit  int
		}
		var steps []step
		for j := 1 + rng.IntN(6); j > 0; j-- {
			switch rng.IntN(10) {
			case 0, 1, 2:
				r := randomRel(rng, now)
				if _, live := gen.cur[r.Key()]; live && rng.IntN(8) != 0 {
					continue // mostly create absent keys; sometimes provoke a conflict
				}
				u := datastore.Update{Op: datastore.OpCreate, Relationship: r}
				gen.apply(u)
				steps = append(steps, step{u: &u})
			case 3, 4, 5, 6:
				u := datastore.Update{Op: datastore.OpTouch, Relationship: randomRel(rng, now)}
				gen.apply(u)
				steps = append(steps, step{u: &u})
			case 7, 8:
				u := datastore.Update{Op: datastore.OpDelete, Relationship: randomRel(rng, now)}
				gen.apply(u)
				steps = append(steps, step{u: &u})
			default:
				steps = append(steps, step{filter: randomFilter(rng), limit: rng.IntN(4)})
			}
		}
		// The store's transaction, followed step by step in the model: a create the
		// model says conflicts must fail with *RelationshipExistsError naming the
		// relationship, and delete-by-filter results are checked against the
		// transaction's own view.
		check := newModelTxCheck(hist.m, now)
		conflict := false
		rev, err := h.tx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			check.reset()
			conflict = false
			for _, s := range steps {
				if s.u != nil {
					c := check.mtx.apply(*s.u)
					err := tx.WriteRelationships(ctx, []datastore.Update{*s.u})
					if c {
						var exists *datastore.RelationshipExistsError
						if !errors.As(err, &exists) {
							return fmt.Errorf("create of the live relationship %s returned %v, want *RelationshipExistsError", s.u.Relationship, err)
						}
						if exists.Relationship != s.u.Relationship.Key() {
							return fmt.Errorf("create of %s failed naming %s", s.u.Relationship, exists.Relationship)
						}
						conflict = true
						return err
					}
					if err != nil {
						return err
					}
					continue
				}
				deleted, more, err := tx.DeleteRelationships(ctx, s.filter, s.limit)
				if err != nil {
					return err
				}
				if err := check.deleted(s.filter, s.limit, deleted, more); err != nil {
					return err
				}
			}
			return nil
		})
		if conflict {
			if !errors.As(err, new(*datastore.RelationshipExistsError)) {
				t.Fatalf("step %d: ReadWriteTx returned %v, want the *RelationshipExistsError fn returned", i, err)
			}
			if got := h.head(def); got != hist.m.head() {
				t.Fatalf("step %d: the failed transaction moved the head to %d (want %d)", i, got, hist.m.head())
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if rev != hist.m.head()+1 {
			t.Fatalf("step %d: committed at revision %d, want %d", i, rev, hist.m.head()+1)
		}
		hist.changes[rev] = check.mtx.changes()
		hist.times[rev] = now
		hist.m.commit(check.mtx)
		equalStrings(t, fmt.Sprintf("step %d: relationships at the new revision %d", i, rev),
			h.all(def, rev), formatAll(hist.m.visible(rev, now, nil)))
		old := datastore.Revision(rng.IntN(int(rev) + 1))
		if h.ds.CheckRevision(h.ctx(), def, old) != nil {
			continue // collected by an earlier GC
		}
		equalStrings(t, fmt.Sprintf("step %d: relationships at the older revision %d", i, old),
			h.all(def, old), formatAll(hist.m.visible(old, now, nil)))
	}
}

// modelTxCheck follows a store transaction in the model so DeleteRelationships can be
// checked against the transaction's own view. reset restarts it when a store retries.
type modelTxCheck struct {
	m   *model
	now time.Time
	mtx *modelTx
}

func newModelTxCheck(m *model, now time.Time) *modelTxCheck {
	return &modelTxCheck{m: m, now: now, mtx: m.begin(now)}
}

func (c *modelTxCheck) reset() { c.mtx = c.m.begin(c.now) }

func (c *modelTxCheck) deleted(f datastore.RelationshipFilter, limit int, deleted []tuple.Relationship, more bool) error {
	matching := c.mtx.matching(f)
	want := len(matching)
	if limit > 0 && want > limit {
		want = limit
	}
	if len(deleted) != want {
		return fmt.Errorf("DeleteRelationships(%+v, limit %d) deleted %d relationships, want %d (%d match)", f, limit, len(deleted), want, len(matching))
	}
	if wantMore := limit > 0 && len(matching) > limit; more != wantMore {
		return fmt.Errorf("DeleteRelationships(%+v, limit %d) returned more=%v, want %v (%d match)", f, limit, more, wantMore, len(matching))
	}
	seen := map[tuple.Key]bool{}
	for _, d := range deleted {
		m, ok := matching[d.Key()]
		if !ok || seen[d.Key()] {
			return fmt.Errorf("DeleteRelationships(%+v) returned %s, which does not match or is repeated", f, d)
		}
		if !m.Equal(d) {
			return fmt.Errorf("DeleteRelationships returned %s, but the stored relationship is %s", d, m)
		}
		seen[d.Key()] = true
		c.mtx.remove(d.Key())
	}
	return nil
}

func testRandomHistory(t *testing.T, newStore NewStoreFunc) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			h := setup(t, newStore, datastore.Options{})
			hist := newHistory(h, seed)
			hist.run(t, 40)
			hist.verify(t)
		})
	}
}

// verify re-reads every revision and the whole transaction log and compares them with
// the model.
func (hist *history) verify(t *testing.T) {
	t.Helper()
	h := hist.h
	now := h.clock.Now()
	for rev := datastore.Revision(0); rev <= hist.m.head(); rev++ {
		equalStrings(t, fmt.Sprintf("relationships at revision %d after the history", rev),
			h.all(def, rev), formatAll(hist.m.visible(rev, now, nil)))
	}
	n := 0
	for txn, err := range h.ds.ReadTransactions(h.ctx(), def, datastore.TransactionFilter{}) {
		if err != nil {
			t.Fatalf("ReadTransactions: %v", err)
		}
		n++
		want, ok := hist.changes[txn.Revision]
		if !ok {
			t.Fatalf("ReadTransactions returned revision %d, which was never committed", txn.Revision)
		}
		if !txn.Time.Equal(hist.times[txn.Revision]) {
			t.Fatalf("transaction %d has time %v, want the clock at commit %v", txn.Revision, txn.Time, hist.times[txn.Revision])
		}
		compareChanges(t, fmt.Sprintf("changes of revision %d", txn.Revision), txn.Changes, want)
	}
	if n != len(hist.changes) {
		t.Fatalf("ReadTransactions returned %d transactions, want %d", n, len(hist.changes))
	}
}

// compareChanges compares two change lists regardless of order.
func compareChanges(t *testing.T, what string, got, want []datastore.Change) {
	t.Helper()
	g := append([]datastore.Change(nil), got...)
	w := append([]datastore.Change(nil), want...)
	sortChanges(g)
	sortChanges(w)
	ok := len(g) == len(w)
	for i := 0; ok && i < len(g); i++ {
		ok = g[i].Kind == w[i].Kind && g[i].Relationship.Equal(w[i].Relationship)
	}
	if !ok {
		t.Fatalf("%s:\n got  %s\n want %s", what, formatChanges(g), formatChanges(w))
	}
}

func formatChanges(cs []datastore.Change) string {
	s := ""
	for _, c := range cs {
		s += c.Kind.String() + " " + c.Relationship.String() + "; "
	}
	if s == "" {
		return "(none)"
	}
	return s
}
