package datastoretest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// sameMeta reports whether two metadata records are equal, nil and empty lists alike.
func sameMeta(a, b datastore.TxMetadata) bool {
	if a.Principal != b.Principal || a.Reason != b.Reason || a.Operation != b.Operation {
		return false
	}
	if (a.Actor == nil) != (b.Actor == nil) || (a.Actor != nil && *a.Actor != *b.Actor) {
		return false
	}
	if len(a.Organizations) != len(b.Organizations) || (len(a.Organizations) > 0 && !slices.Equal(a.Organizations, b.Organizations)) {
		return false
	}
	if len(a.Grants) != len(b.Grants) {
		return false
	}
	for i := range a.Grants {
		x, y := a.Grants[i], b.Grants[i]
		if x.Relationship != y.Relationship || x.Rule != y.Rule || (x.Via == nil) != (y.Via == nil) || (x.Via != nil && *x.Via != *y.Via) {
			return false
		}
	}
	return true
}

// sameTransaction fails the test when two records of one transaction differ.
func sameTransaction(t *testing.T, what string, got, want *datastore.Transaction) {
	t.Helper()
	if got.Revision != want.Revision || !got.Time.Equal(want.Time) {
		t.Fatalf("%s: revision %d at %v, want revision %d at %v", what, got.Revision, got.Time, want.Revision, want.Time)
	}
	if !sameMeta(got.Metadata, want.Metadata) {
		t.Fatalf("%s: metadata\n got  %+v\n want %+v", what, got.Metadata, want.Metadata)
	}
	if (got.Schema == nil) != (want.Schema == nil) || (got.Schema != nil && *got.Schema != *want.Schema) {
		t.Fatalf("%s: schema %v, want %v", what, got.Schema, want.Schema)
	}
	compareChanges(t, what+": changes", got.Changes, want.Changes)
}

func testTransactionLog(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	h.mustWrite(def, datastore.OpTouch, "document:b#viewer@user:x", `document:c#viewer@user:x[only_on:{"d":"mon"}]`)
	h.clock.Advance(5 * time.Second)
	meta := datastore.TxMetadata{
		Principal: "provisioner-key",
		Actor:     &tuple.SubjectRef{Type: "user", ID: "alice"},
		Reason:    "quarterly access review ✓ \"JIRA-12\"",
		Operation: "write",
		Organizations: []tuple.ObjectRef{
			{Type: "organization", ID: "acme"}, {Type: "organization", ID: "acme-eu"},
		},
		Grants: []datastore.GrantRecord{
			{Relationship: tuple.MustParse("document:a#viewer@user:x").Key(), Rule: "grant viewer by manage", Via: &tuple.ObjectRef{Type: "organization", ID: "acme"}},
			{Relationship: tuple.MustParse("document:b#viewer@user:x").Key(), Rule: "grant viewer by admin"},
		},
	}
	rev, err := h.ds.ReadWriteTx(h.ctx(), def, meta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteRelationships(ctx, []datastore.Update{
			{Op: datastore.OpCreate, Relationship: tuple.MustParse("document:a#viewer@user:x")},
			{Op: datastore.OpTouch, Relationship: tuple.MustParse(`document:b#viewer@user:x[only_on:{"d":"tue"}]`)},
			{Op: datastore.OpDelete, Relationship: tuple.MustParse("document:c#viewer@user:x")},
			{Op: datastore.OpDelete, Relationship: tuple.MustParse("document:d#viewer@user:x")},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &datastore.Transaction{Revision: rev, Time: Start.Add(5 * time.Second), Metadata: meta, Changes: []datastore.Change{
		{Kind: datastore.ChangeCreated, Relationship: tuple.MustParse("document:a#viewer@user:x")},
		{Kind: datastore.ChangeTouched, Relationship: tuple.MustParse(`document:b#viewer@user:x[only_on:{"d":"tue"}]`)},
		{Kind: datastore.ChangeDeleted, Relationship: tuple.MustParse(`document:c#viewer@user:x[only_on:{"d":"mon"}]`)},
	}}
	sameTransaction(t, "ReadTransactions", h.txAt(def, rev), want)
	got := h.watchN(def, rev-1, 1)
	sameTransaction(t, "Watch", got[0], want)

	// Empty metadata and a subject-set actor round-trip too.
	meta2 := datastore.TxMetadata{Actor: &tuple.SubjectRef{Type: "group", ID: "admins", Relation: "member"}}
	rev2, err := h.ds.ReadWriteTx(h.ctx(), def, meta2, func(ctx context.Context, tx datastore.ReadWriteTx) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	sameTransaction(t, "a transaction with sparse metadata", h.txAt(def, rev2), &datastore.Transaction{Revision: rev2, Time: Start.Add(5 * time.Second), Metadata: meta2})

	// SetMetadata inside the transaction replaces what it is recorded with.
	learnt := datastore.TxMetadata{Principal: "provisioner-key", Operation: "write", Organizations: []tuple.ObjectRef{{Type: "organization", ID: "globex"}},
		Grants: []datastore.GrantRecord{{Relationship: tuple.MustParse("document:e#viewer@user:x").Key(), Rule: "grant viewer by manage", Via: &tuple.ObjectRef{Type: "organization", ID: "globex"}}}}
	rev3, err := h.ds.ReadWriteTx(h.ctx(), def, datastore.TxMetadata{Principal: "provisioner-key", Operation: "write"}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.WriteRelationships(ctx, updates(datastore.OpTouch, "document:e#viewer@user:x")); err != nil {
			return err
		}
		tx.SetMetadata(learnt)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want3 := &datastore.Transaction{Revision: rev3, Time: Start.Add(5 * time.Second), Metadata: learnt,
		Changes: []datastore.Change{{Kind: datastore.ChangeCreated, Relationship: tuple.MustParse("document:e#viewer@user:x")}}}
	sameTransaction(t, "a transaction whose metadata was set inside it", h.txAt(def, rev3), want3)
	sameTransaction(t, "Watch of a transaction whose metadata was set inside it", h.watchN(def, rev3-1, 1)[0], want3)
}

// watchN returns the first n transactions Watch yields after rev.
func (h *harness) watchN(tenant string, after datastore.Revision, n int) []*datastore.Transaction {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx(), 30*time.Second)
	defer cancel()
	var out []*datastore.Transaction
	if n == 0 {
		return out
	}
	for txn, err := range h.ds.Watch(ctx, tenant, after) {
		if err != nil {
			h.t.Fatalf("Watch(%q, %d) after %d transactions: %v", tenant, after, len(out), err)
		}
		out = append(out, txn)
		if len(out) == n {
			break
		}
	}
	if len(out) != n {
		h.t.Fatalf("Watch(%q, %d) ended after %d transactions, want %d", tenant, after, len(out), n)
	}
	return out
}

// auditFixture commits five transactions a minute apart with varied metadata.
func auditFixture(h *harness) {
	h.t.Helper()
	alice, bob, carol := &tuple.SubjectRef{Type: "user", ID: "alice"}, &tuple.SubjectRef{Type: "user", ID: "bob"}, &tuple.SubjectRef{Type: "user", ID: "carol"}
	acme, globex := tuple.ObjectRef{Type: "organization", ID: "acme"}, tuple.ObjectRef{Type: "organization", ID: "globex"}
	steps := []struct {
		meta   datastore.TxMetadata
		ups    []datastore.Update
		schema string
	}{
		{datastore.TxMetadata{Principal: "key-a", Actor: alice, Organizations: []tuple.ObjectRef{acme}}, updates(datastore.OpCreate, "document:d1#viewer@user:bob"), ""},
		{datastore.TxMetadata{Principal: "key-b"}, updates(datastore.OpCreate, "organization:acme#member@user:carol"), ""},
		{datastore.TxMetadata{Principal: "key-a", Actor: bob}, append(updates(datastore.OpTouch, "folder:f1#viewer@group:eng#member"), updates(datastore.OpDelete, "document:d1#viewer@user:bob")...), ""},
		{datastore.TxMetadata{Actor: alice, Organizations: []tuple.ObjectRef{globex}, Operation: "schema"}, nil, "definition user {}"},
		{datastore.TxMetadata{Principal: "key-b", Actor: carol}, updates(datastore.OpCreate, "document:d2#viewer@user:alice"), ""},
	}
	for i, s := range steps {
		h.clock.Set(Start.Add(time.Duration(i+1) * time.Minute))
		rev, err := h.ds.ReadWriteTx(h.ctx(), def, s.meta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			if s.schema != "" {
				if err := tx.WriteSchema(ctx, s.schema); err != nil {
					return err
				}
			}
			return tx.WriteRelationships(ctx, s.ups)
		})
		if err != nil || rev != datastore.Revision(i+1) {
			h.t.Fatalf("audit fixture step %d: revision %d, %v", i, rev, err)
		}
	}
}

func (h *harness) auditRevisions(tenant string, f datastore.TransactionFilter) []datastore.Revision {
	h.t.Helper()
	out := []datastore.Revision{}
	for txn, err := range h.ds.ReadTransactions(h.ctx(), tenant, f) {
		if err != nil {
			h.t.Fatalf("ReadTransactions(%+v): %v", f, err)
		}
		out = append(out, txn.Revision)
	}
	return out
}

func testReadTransactions(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	auditFixture(h)
	at := func(m int) time.Time { return Start.Add(time.Duration(m) * time.Minute) }
	obj := func(typ, id string) *tuple.ObjectRef { return &tuple.ObjectRef{Type: typ, ID: id} }
	cases := []struct {
		name   string
		filter datastore.TransactionFilter
		want   []datastore.Revision
	}{
		{"everything, newest first", datastore.TransactionFilter{}, []datastore.Revision{5, 4, 3, 2, 1}},
		{"principal", datastore.TransactionFilter{Principal: "key-a"}, []datastore.Revision{3, 1}},
		{"unknown principal", datastore.TransactionFilter{Principal: "key-z"}, []datastore.Revision{}},
		{"actor", datastore.TransactionFilter{Actor: &tuple.SubjectRef{Type: "user", ID: "alice"}}, []datastore.Revision{4, 1}},
		{"actor with a relation is another actor", datastore.TransactionFilter{Actor: &tuple.SubjectRef{Type: "user", ID: "alice", Relation: "member"}}, []datastore.Revision{}},
		{"resource", datastore.TransactionFilter{Resource: obj("document", "d1")}, []datastore.Revision{3, 1}},
		{"resource type", datastore.TransactionFilter{Resource: obj("document", "")}, []datastore.Revision{5, 3, 1}},
		{"resource of a subject-set write", datastore.TransactionFilter{Resource: obj("folder", "f1")}, []datastore.Revision{3}},
		{"subject", datastore.TransactionFilter{Subject: obj("user", "bob")}, []datastore.Revision{3, 1}},
		{"subject type", datastore.TransactionFilter{Subject: obj("user", "")}, []datastore.Revision{5, 3, 2, 1}},
		{"subject-set subject", datastore.TransactionFilter{Subject: obj("group", "eng")}, []datastore.Revision{3}},
		{"organization in metadata or changed", datastore.TransactionFilter{Organization: obj("organization", "acme")}, []datastore.Revision{2, 1}},
		{"organization in metadata only", datastore.TransactionFilter{Organization: obj("organization", "globex")}, []datastore.Revision{4}},
		{"organization type", datastore.TransactionFilter{Organization: obj("organization", "")}, []datastore.Revision{4, 2, 1}},
		{"since", datastore.TransactionFilter{Since: at(2)}, []datastore.Revision{5, 4, 3, 2}},
		{"until", datastore.TransactionFilter{Until: at(3)}, []datastore.Revision{2, 1}},
		{"since and until", datastore.TransactionFilter{Since: at(2), Until: at(4)}, []datastore.Revision{3, 2}},
		{"before", datastore.TransactionFilter{Before: 4}, []datastore.Revision{3, 2, 1}},
		{"before the first", datastore.TransactionFilter{Before: 1}, []datastore.Revision{}},
		{"before beyond the head", datastore.TransactionFilter{Before: 99}, []datastore.Revision{5, 4, 3, 2, 1}},
		{"limit", datastore.TransactionFilter{Limit: 2}, []datastore.Revision{5, 4}},
		{"principal and limit", datastore.TransactionFilter{Principal: "key-b", Limit: 1}, []datastore.Revision{5}},
		{"principal and before", datastore.TransactionFilter{Principal: "key-b", Before: 5}, []datastore.Revision{2}},
		{"actor and organization", datastore.TransactionFilter{Actor: &tuple.SubjectRef{Type: "user", ID: "alice"}, Organization: obj("organization", "acme")}, []datastore.Revision{1}},
		{"everything at once", datastore.TransactionFilter{Principal: "key-a", Actor: &tuple.SubjectRef{Type: "user", ID: "bob"}, Resource: obj("document", "d1"),
			Subject: obj("user", "bob"), Since: at(3), Until: at(4), Before: 5, Limit: 3}, []datastore.Revision{3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &harness{t: t, ds: h.ds, clock: h.clock}
			if got := h.auditRevisions(def, c.filter); !slices.Equal(got, c.want) {
				t.Fatalf("ReadTransactions(%+v) = %v, want %v", c.filter, got, c.want)
			}
		})
	}
	// The records carry what was written.
	txn := h.txAt(def, 4)
	if txn.Schema == nil || *txn.Schema != "definition user {}" || len(txn.Changes) != 0 || txn.Metadata.Operation != "schema" || !txn.Time.Equal(at(4)) {
		t.Fatalf("transaction 4 is %+v", txn)
	}
}

func testReadTransactionsPaging(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	const n = 25
	for i := 1; i <= n; i++ {
		h.clock.Advance(time.Second)
		meta := datastore.TxMetadata{Principal: []string{"even", "odd"}[i%2]}
		if _, err := h.ds.ReadWriteTx(h.ctx(), def, meta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			return tx.WriteRelationships(ctx, updates(datastore.OpTouch, fmt.Sprintf("document:d%02d#viewer@user:x", i)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		principal string
		limit     int
		want      []datastore.Revision
	}{
		{"", 4, revRange(n, 1)},
		{"", 1, revRange(n, 1)},
		{"", n, revRange(n, 1)},
		{"odd", 3, []datastore.Revision{25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1}},
	} {
		var got []datastore.Revision
		f := datastore.TransactionFilter{Principal: c.principal, Limit: c.limit, Before: n + 1}
		for page := 0; page < 100; page++ {
			revs := h.auditRevisions(def, f)
			if len(revs) > c.limit {
				t.Fatalf("a page of %d returned %d transactions", c.limit, len(revs))
			}
			got = append(got, revs...)
			if len(revs) < c.limit {
				break
			}
			f.Before = revs[len(revs)-1]
			// Commits between pages do not disturb the pages.
			h.mustWrite(def, datastore.OpTouch, "document:later#viewer@user:x")
		}
		if !slices.Equal(got, c.want) {
			t.Fatalf("pages of %d (principal %q) = %v, want %v", c.limit, c.principal, got, c.want)
		}
	}
}

func revRange(from, to int) []datastore.Revision {
	var out []datastore.Revision
	for i := from; i >= to; i-- {
		out = append(out, datastore.Revision(i))
	}
	return out
}
