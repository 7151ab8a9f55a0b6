package datastoretest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// txAt returns the audit record of revision rev.
func (h *harness) txAt(tenant string, rev datastore.Revision) *datastore.Transaction {
	h.t.Helper()
	for txn, err := range h.ds.ReadTransactions(h.ctx(), tenant, datastore.TransactionFilter{Before: rev + 1, Limit: 1}) {
		if err != nil {
			h.t.Fatalf("ReadTransactions: %v", err)
		}
		if txn.Revision != rev {
			h.t.Fatalf("the newest transaction before %d is %d, want %d", rev+1, txn.Revision, rev)
		}
		return txn
	}
	h.t.Fatalf("no transaction recorded at revision %d", rev)
	return nil
}

// wantChanges checks the changes recorded at rev; kinds and relationships are given as
// "created document:a#viewer@user:x".
func (h *harness) wantChanges(tenant string, rev datastore.Revision, want ...string) {
	h.t.Helper()
	var cs []datastore.Change
	for _, w := range want {
		kind, rel, _ := strings.Cut(w, " ")
		c := datastore.Change{Relationship: tuple.MustParse(rel)}
		switch kind {
		case "created":
			c.Kind = datastore.ChangeCreated
		case "touched":
			c.Kind = datastore.ChangeTouched
		case "deleted":
			c.Kind = datastore.ChangeDeleted
		default:
			h.t.Fatalf("bad change %q", w)
		}
		cs = append(cs, c)
	}
	compareChanges(h.t, fmt.Sprintf("changes recorded at revision %d", rev), h.txAt(tenant, rev).Changes, cs)
}

func (h *harness) wantExists(err error, rel string) {
	h.t.Helper()
	var exists *datastore.RelationshipExistsError
	if !errors.As(err, &exists) {
		h.t.Fatalf("create of the existing %s returned %v, want *RelationshipExistsError", rel, err)
	}
	if want := tuple.MustParse(rel).Key(); exists.Relationship != want {
		h.t.Fatalf("RelationshipExistsError names %s, want %s", exists.Relationship, want)
	}
	if !strings.Contains(err.Error(), tuple.MustParse(rel).Key().String()) {
		h.t.Fatalf("the error %q does not name the relationship %s", err, rel)
	}
}

func testCreateTouchDelete(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	x, xc := "document:a#viewer@user:x", `document:a#viewer@user:x[only_on:{"day":"mon"}]`
	r1 := h.mustWrite(def, datastore.OpCreate, x)
	h.wantChanges(def, r1, "created "+x)

	_, err := h.write(def, datastore.OpCreate, x)
	h.wantExists(err, x)
	_, err = h.write(def, datastore.OpCreate, "document:b#viewer@user:y", xc)
	h.wantExists(err, x)
	if got := h.head(def); got != r1 {
		t.Fatalf("failed creates moved the head from %d to %d", r1, got)
	}
	equalStrings(t, "after failed creates", h.all(def, r1), []string{x})

	r2 := h.mustWrite(def, datastore.OpTouch, x)
	h.wantChanges(def, r2, "touched "+x)
	r3 := h.mustWrite(def, datastore.OpTouch, x)
	h.wantChanges(def, r3, "touched "+x)
	equalStrings(t, "after touching twice", h.all(def, r3), []string{x})

	r4 := h.mustWrite(def, datastore.OpTouch, xc, "document:a#viewer@user:y")
	h.wantChanges(def, r4, "touched "+xc, "created document:a#viewer@user:y")
	equalStrings(t, "after a touch that adds a caveat", h.all(def, r4), []string{xc, "document:a#viewer@user:y"})
	equalStrings(t, "the older revision keeps the old version", h.all(def, r3), []string{x})

	r5 := h.mustWrite(def, datastore.OpDelete, "document:zz#viewer@user:nobody")
	if r5 != r4+1 {
		t.Fatalf("a delete of a missing relationship committed at %d, want %d", r5, r4+1)
	}
	h.wantChanges(def, r5)
	r6 := h.mustWrite(def, datastore.OpDelete, x)
	h.wantChanges(def, r6, "deleted "+xc) // the deleted relationship as it was stored
	r7 := h.mustWrite(def, datastore.OpDelete, x)
	h.wantChanges(def, r7)
	r8 := h.mustWrite(def, datastore.OpCreate, x)
	h.wantChanges(def, r8, "created "+x)
	equalStrings(t, "after re-creating", h.all(def, r8), []string{x, "document:a#viewer@user:y"})

	_, err = h.tx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteRelationships(ctx, []datastore.Update{{Op: datastore.Operation(99), Relationship: tuple.MustParse("document:q#viewer@user:q")}})
	})
	if !errors.Is(err, datastore.ErrInvalidArgument) {
		t.Fatalf("an unknown operation returned %v, want ErrInvalidArgument", err)
	}
	if got := h.head(def); got != r8 {
		t.Fatalf("a rejected transaction moved the head to %d", got)
	}
}

// testSeveralUpdatesToOneKey applies sequences of updates to one key inside one
// transaction; the transaction records the net change.
func testSeveralUpdatesToOneKey(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	cases := []struct {
		name    string
		present bool     // whether the key exists before the transaction
		ops     []string // "create", "touch", "touch+caveat", "delete"
		final   string   // "", "plain" or "caveat"
		change  string   // "", or the change kind
		exists  bool     // whether the transaction fails with RelationshipExistsError
	}{
		{"touch twice", false, []string{"touch", "touch+caveat"}, "caveat", "created", false},
		{"create then delete", false, []string{"create", "delete"}, "", "", false},
		{"create twice", false, []string{"create", "create"}, "", "", true},
		{"touch then create", false, []string{"touch", "create"}, "", "", true},
		{"delete then create", true, []string{"delete", "create"}, "plain", "touched", false},
		{"delete twice", true, []string{"delete", "delete"}, "", "deleted", false},
		{"touch then delete", true, []string{"touch+caveat", "delete"}, "", "deleted", false},
		{"delete then touch", true, []string{"delete", "touch+caveat"}, "caveat", "touched", false},
		{"delete then create of a missing key", false, []string{"delete", "create"}, "plain", "created", false},
		{"create of an existing key", true, []string{"create"}, "plain", "", true},
		{"create then touch", false, []string{"create", "touch+caveat", "touch"}, "plain", "created", false},
	}
	for i, c := range cases {
		for _, oneCall := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/one call=%v", c.name, oneCall), func(t *testing.T) {
				h := &harness{t: t, ds: h.ds, clock: h.clock}
				plain := fmt.Sprintf("document:k%d%v#viewer@user:x", i, oneCall)
				withCaveat := fmt.Sprintf(`document:k%d%v#viewer@user:x[only_on:{"n":%d}]`, i, oneCall, i)
				if c.present {
					h.mustWrite(def, datastore.OpTouch, plain)
				}
				before := h.head(def)
				var ups []datastore.Update
				for _, op := range c.ops {
					switch op {
					case "create":
						ups = append(ups, updates(datastore.OpCreate, plain)...)
					case "touch":
						ups = append(ups, updates(datastore.OpTouch, plain)...)
					case "touch+caveat":
						ups = append(ups, updates(datastore.OpTouch, withCaveat)...)
					case "delete":
						ups = append(ups, updates(datastore.OpDelete, plain)...)
					}
				}
				rev, err := h.tx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
					if oneCall {
						return tx.WriteRelationships(ctx, ups)
					}
					for _, u := range ups {
						if err := tx.WriteRelationships(ctx, []datastore.Update{u}); err != nil {
							return err
						}
					}
					return nil
				})
				if c.exists {
					h.wantExists(err, plain)
					if got := h.head(def); got != before {
						t.Fatalf("the failed transaction moved the head to %d", got)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				f := datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{tuple.MustParse(plain).Resource.ID}}
				want := map[string][]string{"": {}, "plain": {plain}, "caveat": {withCaveat}}[c.final]
				equalStrings(t, "the key after the transaction", h.query(def, rev, f, datastore.QueryOptions{}), want)
				switch c.change {
				case "":
					h.wantChanges(def, rev)
				case "deleted":
					h.wantChanges(def, rev, "deleted "+plain)
				default:
					h.wantChanges(def, rev, c.change+" "+want[0])
				}
			})
		}
	}
}

func testDeleteRelationships(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	var big []string
	for i := range 10 {
		big = append(big, fmt.Sprintf("document:big#viewer@user:u%02d", i))
	}
	others := []string{"document:bigger#viewer@user:u00", "document:small#viewer@user:u03", `folder:big#viewer@user:u03[only_on:{"x":1}]`}
	r1 := h.mustWrite(def, datastore.OpTouch, append(slicesClone(big), others...)...)
	bigFilter := datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"big"}}

	var got []string
	r2 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		got = got[:0]
		for i, step := range []struct {
			limit int
			n     int
			more  bool
		}{{3, 3, true}, {3, 3, true}, {3, 3, true}, {3, 1, false}, {4, 0, false}, {0, 0, false}} {
			deleted, more, err := tx.DeleteRelationships(ctx, bigFilter, step.limit)
			if err != nil {
				return err
			}
			if len(deleted) != step.n || more != step.more {
				return fmt.Errorf("call %d: DeleteRelationships(limit %d) deleted %d with more=%v, want %d with more=%v", i, step.limit, len(deleted), more, step.n, step.more)
			}
			got = append(got, formatAll(deleted)...)
		}
		// The snapshot still shows what the transaction deleted.
		if n := len(collectRels(t, tx.Snapshot().QueryRelationships(ctx, bigFilter, datastore.QueryOptions{}))); n != 10 {
			return fmt.Errorf("the snapshot shows %d relationships of document:big during the transaction, want 10", n)
		}
		return nil
	})
	equalStrings(t, "relationships deleted in four limited calls", sortedForward(parseAll(got...)), big)
	equalStrings(t, "after deleting document:big", h.all(def, r2), sortedForward(parseAll(others...)))
	equalStrings(t, "before deleting document:big", h.all(def, r1), sortedForward(parseAll(append(slicesClone(big), others...)...)))
	var want []string
	for _, b := range big {
		want = append(want, "deleted "+b)
	}
	h.wantChanges(def, r2, want...)

	// A limit equal to the number of matches deletes them all, with more unset; the
	// deleted relationships carry their caveats; the filter can name only the subject.
	r3 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		deleted, more, err := tx.DeleteRelationships(ctx, datastore.RelationshipFilter{Subject: &datastore.SubjectFilter{Type: "user", IDs: []string{"u03"}}}, 2)
		if err != nil {
			return err
		}
		if more || len(deleted) != 2 {
			return fmt.Errorf("deleted %v with more=%v, want 2 with more=false", deleted, more)
		}
		return nil
	})
	h.wantChanges(def, r3, "deleted document:small#viewer@user:u03", `deleted folder:big#viewer@user:u03[only_on:{"x":1}]`)

	// The transaction's own writes are deleted too, and cancel out.
	r4 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.WriteRelationships(ctx, updates(datastore.OpTouch, "document:new#viewer@user:a", "document:new#viewer@user:b")); err != nil {
			return err
		}
		deleted, more, err := tx.DeleteRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"new"}}, 0)
		if err != nil {
			return err
		}
		if more || len(deleted) != 2 {
			return fmt.Errorf("deleting the transaction's own writes deleted %v with more=%v", deleted, more)
		}
		return nil
	})
	h.wantChanges(def, r4)
	equalStrings(t, "after deleting the transaction's own writes", h.all(def, r4), []string{"document:bigger#viewer@user:u00"})
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func testSnapshotInsideTransaction(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	r1 := h.mustWrite(def, datastore.OpTouch, "document:a#viewer@user:x")
	var txRev, snapRev datastore.Revision
	r2 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		txRev, snapRev = tx.Revision(), tx.Snapshot().Revision()
		if err := tx.WriteRelationships(ctx, append(updates(datastore.OpTouch, "document:b#viewer@user:x"), updates(datastore.OpDelete, "document:a#viewer@user:x")...)); err != nil {
			return err
		}
		got := formatAll(collectRels(t, tx.Snapshot().QueryRelationships(ctx, datastore.RelationshipFilter{}, datastore.QueryOptions{})))
		if len(got) != 1 || got[0] != "document:a#viewer@user:x" {
			return fmt.Errorf("the snapshot shows %v; it must show the committed state without the transaction's own writes", got)
		}
		rev := formatAll(collectRels(t, tx.Snapshot().ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: "user"}, datastore.ReverseQueryOptions{})))
		if len(rev) != 1 || rev[0] != "document:a#viewer@user:x" {
			return fmt.Errorf("the snapshot's reverse query shows %v", rev)
		}
		return nil
	})
	if txRev != r1+1 || r2 != txRev || snapRev != r1 {
		t.Fatalf("tx.Revision()=%d, tx.Snapshot().Revision()=%d, committed at %d; want %d, %d, %d", txRev, snapRev, r2, r1+1, r1, r1+1)
	}
}

// errPrecondition is what the precondition checks below return.
var errPrecondition = errors.New("precondition failed")

// mustMatch and mustNotMatch are preconditions done the way the write path does them:
// through tx.Snapshot().
func mustMatch(ctx context.Context, tx datastore.ReadWriteTx, f datastore.RelationshipFilter, want bool) error {
	found := false
	for _, err := range tx.Snapshot().QueryRelationships(ctx, f, datastore.QueryOptions{Limit: 1}) {
		if err != nil {
			return err
		}
		found = true
	}
	if found != want {
		return fmt.Errorf("%w: filter %+v", errPrecondition, f)
	}
	return nil
}

func testPreconditions(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	h.mustWrite(def, datastore.OpTouch, "organization:acme#admin@user:alice")
	isAdmin := datastore.RelationshipFilter{ResourceType: "organization", ResourceIDs: []string{"acme"}, Relation: "admin",
		Subject: &datastore.SubjectFilter{Type: "user", IDs: []string{"alice"}}}
	isBanned := datastore.RelationshipFilter{ResourceType: "organization", ResourceIDs: []string{"acme"}, Relation: "banned"}
	grant := func(must, mustNot datastore.RelationshipFilter, rel string) error {
		_, err := h.tx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			if err := mustMatch(ctx, tx, must, true); err != nil {
				return err
			}
			if err := mustMatch(ctx, tx, mustNot, false); err != nil {
				return err
			}
			return tx.WriteRelationships(ctx, updates(datastore.OpTouch, rel))
		})
		return err
	}
	if err := grant(isAdmin, isBanned, "document:a#viewer@user:bob"); err != nil {
		t.Fatalf("preconditions that hold: %v", err)
	}
	h.mustWrite(def, datastore.OpTouch, "organization:acme#banned@user:bob")
	if err := grant(isAdmin, isBanned, "document:b#viewer@user:bob"); !errors.Is(err, errPrecondition) {
		t.Fatalf("a must-not-match precondition that fails returned %v", err)
	}
	h.mustWrite(def, datastore.OpDelete, "organization:acme#banned@user:bob", "organization:acme#admin@user:alice")
	if err := grant(isAdmin, isBanned, "document:c#viewer@user:bob"); !errors.Is(err, errPrecondition) {
		t.Fatalf("a must-match precondition that fails returned %v", err)
	}
	equalStrings(t, "relationships after the preconditions", h.all(def, h.head(def)), []string{"document:a#viewer@user:bob"})
}

// testConcurrentPreconditions has many writers each read the current state through
// tx.Snapshot() and create the next slot. Because no other transaction commits while
// fn runs (or the store retries it), every slot is created exactly once.
func testConcurrentPreconditions(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	const writers, each = 6, 5
	seq := datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"seq"}}
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for range writers {
		wg.Go(func() {
			for range each {
				_, err := h.ds.ReadWriteTx(context.Background(), def, testMeta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
					n := 0
					for _, err := range tx.Snapshot().QueryRelationships(ctx, seq, datastore.QueryOptions{}) {
						if err != nil {
							return err
						}
						n++
					}
					return tx.WriteRelationships(ctx, updates(datastore.OpCreate, fmt.Sprintf("document:seq#slot@user:n%02d", n)))
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a writer failed: %v", err)
	}
	var want []string
	for i := range writers * each {
		want = append(want, fmt.Sprintf("document:seq#slot@user:n%02d", i))
	}
	equalStrings(t, "slots created by concurrent writers", h.query(def, h.head(def), seq, datastore.QueryOptions{}), want)
	if got := h.head(def); got != writers*each {
		t.Fatalf("head is %d after %d transactions", got, writers*each)
	}
}

func testSchema(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	readSchema := func(rev datastore.Revision) (datastore.StoredSchema, error) {
		return h.ds.SnapshotReader(def, rev).ReadSchema(h.ctx())
	}
	if _, err := readSchema(0); !errors.Is(err, datastore.ErrSchemaNotFound) {
		t.Fatalf("ReadSchema on a fresh store: %v, want ErrSchemaNotFound", err)
	}
	s1 := "definition user {}\n// ünïcode ✓\n"
	r1 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.WriteSchema(ctx, s1); err != nil {
			return err
		}
		return tx.WriteRelationships(ctx, updates(datastore.OpTouch, "document:a#viewer@user:x"))
	})
	r2 := h.mustWrite(def, datastore.OpTouch, "document:b#viewer@user:x")
	s2 := "definition user {}\ndefinition document {\n" + strings.Repeat("\trelation viewer: user\n", 5000) + "}\n"
	r3 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.WriteSchema(ctx, "superseded in the same transaction"); err != nil {
			return err
		}
		return tx.WriteSchema(ctx, s2)
	})
	for _, c := range []struct {
		rev  datastore.Revision
		text string
		at   datastore.Revision
	}{{r1, s1, r1}, {r2, s1, r1}, {r3, s2, r3}} {
		sc, err := readSchema(c.rev)
		if err != nil {
			t.Fatalf("ReadSchema at %d: %v", c.rev, err)
		}
		if sc.Text != c.text || sc.Revision != c.at {
			t.Fatalf("ReadSchema at %d returned %d bytes written at %d; want %d bytes written at %d", c.rev, len(sc.Text), sc.Revision, len(c.text), c.at)
		}
	}
	if _, err := readSchema(0); !errors.Is(err, datastore.ErrSchemaNotFound) {
		t.Fatalf("ReadSchema at revision 0 after writes: %v, want ErrSchemaNotFound", err)
	}
	for _, c := range []struct {
		rev  datastore.Revision
		want *string
	}{{r1, &s1}, {r2, nil}, {r3, &s2}} {
		got := h.txAt(def, c.rev).Schema
		if (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
			t.Fatalf("Transaction.Schema at %d is %v, want %v", c.rev, got != nil, c.want != nil)
		}
	}
	sc, err := h.txSchemaTextThroughSnapshot(r3)
	if err != nil || sc != s2 {
		t.Fatalf("tx.Snapshot().ReadSchema inside the transaction after %d: %q, %v", r3, sc, err)
	}
}

// txSchemaTextThroughSnapshot reads the schema through the snapshot of a transaction
// that writes a new one: the snapshot shows the committed schema.
func (h *harness) txSchemaTextThroughSnapshot(head datastore.Revision) (string, error) {
	var text string
	_, err := h.tx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.WriteSchema(ctx, "definition user {}"); err != nil {
			return err
		}
		sc, err := tx.Snapshot().ReadSchema(ctx)
		text = sc.Text
		if err != nil {
			return err
		}
		if sc.Revision != head {
			return fmt.Errorf("the snapshot's schema was written at %d, want %d", sc.Revision, head)
		}
		return nil
	})
	return text, err
}
