package datastoretest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// testDenials: a refused delegated write is recorded as a transaction that changes
// nothing; its refusal and attempted updates survive the store and audit queries by
// resource and subject find it through the attempted updates.
func testDenials(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	actor := &tuple.SubjectRef{Type: "user", ID: "eve"}
	attempted := []datastore.Update{
		{Op: datastore.OpCreate, Relationship: tuple.MustParse("organization:acme#member@user:bob[expiration:2031-01-01T00:00:00Z]")},
		{Op: datastore.OpDelete, Relationship: tuple.MustParse(`document:d1#viewer@group:eng#member[cav_x:{"n":1}]`)},
	}
	meta := datastore.TxMetadata{Principal: "delegate-key", Actor: actor, Reason: "ticket 7", Operation: "write",
		Denied: &datastore.Denial{Message: "user:eve may not create organization:acme#member@user:bob", Updates: attempted}}
	h.mustWrite(def, datastore.OpTouch, "document:d9#viewer@user:carl")
	h.clock.Advance(time.Second)
	rev, err := h.ds.ReadWriteTx(h.ctx(), def, meta, func(context.Context, datastore.ReadWriteTx) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	check := func(where string, tx *datastore.Transaction) {
		t.Helper()
		if tx.Revision != rev || len(tx.Changes) != 0 {
			t.Errorf("%s: revision %d with %d changes, want revision %d with none", where, tx.Revision, len(tx.Changes), rev)
		}
		if diff := cmp.Diff(meta, tx.Metadata, cmp.Comparer(func(a, b tuple.Relationship) bool { return a.Equal(b) })); diff != "" {
			t.Errorf("%s: metadata (-written +read):\n%s", where, diff)
		}
	}
	for tx, err := range h.ds.ReadTransactions(h.ctx(), def, datastore.TransactionFilter{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		check("ReadTransactions", tx)
	}
	ctx, cancel := context.WithCancel(h.ctx())
	defer cancel()
	for tx, err := range h.ds.Watch(ctx, def, rev-1) {
		if err != nil {
			t.Fatal(err)
		}
		check("Watch", tx)
		break
	}
	obj := func(typ, id string) *tuple.ObjectRef { return &tuple.ObjectRef{Type: typ, ID: id} }
	for _, f := range []datastore.TransactionFilter{
		{Resource: obj("organization", "acme")},
		{Resource: obj("document", "d1")},
		{Subject: obj("user", "bob")},
		{Subject: obj("group", "eng")},
		{Actor: actor},
	} {
		if got := h.auditRevisions(def, f); !slices.Equal(got, []datastore.Revision{rev}) {
			t.Errorf("audit %+v = %v, want the refused attempt at %d", f, got, rev)
		}
	}
}
