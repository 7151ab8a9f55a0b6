package datastoretest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// The tests of this file pin what a failure leaves behind: nothing. A failing call
// leaves its transaction as it was, and a transaction whose fn fails, or whose
// context ends, writes nothing.

// testFailingCall: a WriteRelationships or DeleteRelationships call that fails changes
// nothing in its transaction, not even the updates before the failing one in the same
// call, and the transaction goes on and commits what the other calls wrote.
func testFailingCall(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	a, b, c, fresh := "document:a#viewer@user:x", "document:b#viewer@user:x", "document:c#viewer@user:x", "document:new#viewer@user:x"
	bCaveat := `document:b#viewer@user:x[only_on:{"n":1}]`
	h.mustWrite(def, datastore.OpTouch, a, b)
	r2 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.WriteRelationships(ctx, append(updates(datastore.OpTouch, bCaveat), updates(datastore.OpCreate, c)...)); err != nil {
			return err
		}
		// A Create of a live relationship in the middle of a call, after updates that
		// add a key, rewrite and delete keys the transaction wrote before.
		err := tx.WriteRelationships(ctx, concatUpdates(
			updates(datastore.OpTouch, fresh, `document:b#viewer@user:x[only_on:{"n":2}]`),
			updates(datastore.OpDelete, c),
			updates(datastore.OpCreate, a),
			updates(datastore.OpTouch, "document:after#viewer@user:x"),
		))
		var exists *datastore.RelationshipExistsError
		if !errors.As(err, &exists) {
			return fmt.Errorf("a Create of the live %s in the middle of a call returned %v, want *RelationshipExistsError", a, err)
		}
		// An unknown operation after valid updates.
		err = tx.WriteRelationships(ctx, append(updates(datastore.OpDelete, a, c),
			datastore.Update{Op: datastore.Operation(99), Relationship: tuple.MustParse(fresh)}))
		if !errors.Is(err, datastore.ErrInvalidArgument) {
			return fmt.Errorf("an unknown operation after valid updates returned %v, want ErrInvalidArgument", err)
		}
		// A delete by filter that fails because its context has ended.
		ended, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := tx.DeleteRelationships(ended, datastore.RelationshipFilter{ResourceType: "document"}, 0); err == nil {
			return errors.New("DeleteRelationships with a cancelled context succeeded")
		}
		// The failed calls left no trace: the fresh key can be created, c is still
		// written, and a delete by filter sees what the successful call wrote.
		if err := tx.WriteRelationships(ctx, updates(datastore.OpCreate, fresh)); err != nil {
			return fmt.Errorf("a Create of %s, which only failed calls wrote: %w", fresh, err)
		}
		if err := tx.WriteRelationships(ctx, updates(datastore.OpCreate, c)); err == nil {
			return fmt.Errorf("a Create of %s, which a failed call deleted, succeeded", c)
		}
		got, _, err := tx.DeleteRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"b"}}, 0)
		if err != nil {
			return err
		}
		if len(got) != 1 || tuple.Format(got[0]) != bCaveat {
			return fmt.Errorf("deleting document:b found %v, want the version the successful call wrote, %s", formatAll(got), bCaveat)
		}
		return tx.WriteRelationships(ctx, updates(datastore.OpTouch, bCaveat))
	})
	h.wantChanges(def, r2, "touched "+bCaveat, "created "+c, "created "+fresh)
	equalStrings(t, "after a transaction with failed calls", h.all(def, r2), []string{a, bCaveat, c, fresh})
}

func concatUpdates(parts ...[]datastore.Update) []datastore.Update {
	var out []datastore.Update
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func testFailingTransaction(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	r1 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.WriteSchema(ctx, "definition user {}"); err != nil {
			return err
		}
		return tx.WriteRelationships(ctx, updates(datastore.OpTouch, "document:a#viewer@user:x", "document:b#viewer@user:x"))
	})
	boom := errors.New("boom")
	_, err := h.tx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.WriteRelationships(ctx, append(
			updates(datastore.OpCreate, "document:c#viewer@user:x"),
			append(updates(datastore.OpTouch, `document:a#viewer@user:x[only_on:{"a":1}]`),
				updates(datastore.OpDelete, "document:b#viewer@user:x")...)...)); err != nil {
			return err
		}
		if _, _, err := tx.DeleteRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document"}, 0); err != nil {
			return err
		}
		if err := tx.WriteSchema(ctx, "definition other {}"); err != nil {
			return err
		}
		return fmt.Errorf("precondition failed: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("ReadWriteTx returned %v, want the error fn returned", err)
	}
	if got := h.head(def); got != r1 {
		t.Fatalf("a failed transaction moved the head from %d to %d", r1, got)
	}
	equalStrings(t, "relationships after a failed transaction", h.all(def, r1), []string{"document:a#viewer@user:x", "document:b#viewer@user:x"})
	sc, err := h.ds.SnapshotReader(def, r1).ReadSchema(h.ctx())
	if err != nil || sc.Text != "definition user {}" {
		t.Fatalf("schema after a failed transaction: %+v, %v", sc, err)
	}
	n := 0
	for _, err := range h.ds.ReadTransactions(h.ctx(), def, datastore.TransactionFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d transactions in the audit trail, want 1 (the failed one is not recorded)", n)
	}
	if r2 := h.mustWrite(def, datastore.OpTouch, "document:d#viewer@user:x"); r2 != r1+1 {
		t.Fatalf("the next transaction committed at %d, want %d", r2, r1+1)
	}
}

func testCancelledTransaction(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	ctx, cancel := context.WithCancel(h.ctx())
	cancel()
	_, err := h.ds.ReadWriteTx(ctx, def, testMeta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteRelationships(ctx, updates(datastore.OpTouch, "document:a#viewer@user:x"))
	})
	if err == nil {
		t.Fatal("a transaction with a cancelled context committed")
	}
	ctx, cancel = context.WithCancel(h.ctx())
	_, err = h.ds.ReadWriteTx(ctx, def, testMeta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		if err := tx.WriteRelationships(ctx, updates(datastore.OpTouch, "document:b#viewer@user:x")); err != nil {
			return err
		}
		cancel() // the caller gives up before the commit
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a transaction whose context was cancelled before commit returned %v, want context.Canceled", err)
	}
	if got := h.head(def); got != 0 {
		t.Fatalf("cancelled transactions moved the head to %d", got)
	}
	equalStrings(t, "relationships after cancelled transactions", h.all(def, 0), []string{})
}
