package datastoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// limitedWrite applies one operation to rels in a transaction limited to limit
// stored relationships.
func (h *harness) limitedWrite(tenant string, limit int64, op datastore.Operation, rels ...string) (datastore.Revision, error) {
	ups := updates(op, rels...)
	return h.tx(tenant, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		tx.LimitRelationships(limit)
		return tx.WriteRelationships(ctx, ups)
	})
}

// wantLimitError fails the test unless err is the refusal of a transaction that
// would take the tenant from stored to after relationships over limit.
func wantLimitError(t *testing.T, what string, err error, tenant string, limit, stored, after int64) {
	t.Helper()
	var le *datastore.RelationshipLimitError
	if !errors.As(err, &le) || !errors.Is(err, datastore.ErrResourceExhausted) {
		t.Fatalf("%s: got %v, want a *RelationshipLimitError of kind ErrResourceExhausted", what, err)
	}
	want := datastore.RelationshipLimitError{Tenant: tenant, Limit: limit, Stored: stored, After: after}
	if *le != want {
		t.Fatalf("%s: refusal %+v, want %+v", what, *le, want)
	}
}

// testRelationshipLimit checks ReadWriteTx.LimitRelationships: the count is exact
// through creates, touches, deletes by key and by filter, and expiry until garbage
// collection; a refused transaction writes nothing and leaves no audit record; a
// transaction that does not grow the tenant always commits; tenants count apart.
func testRelationshipLimit(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	if err := h.ds.CreateTenant(h.ctx(), "other"); err != nil {
		t.Fatal(err)
	}
	h.mustWrite("other", datastore.OpTouch, "document:o1#viewer@user:x", "document:o2#viewer@user:x", "document:o3#viewer@user:x")
	if _, err := h.limitedWrite(def, 3, datastore.OpCreate, "document:a#viewer@user:x", "document:b#viewer@user:x", "document:c#viewer@user:x"); err != nil {
		t.Fatalf("three relationships under a limit of 3 (another tenant stores three more): %v", err)
	}
	head := h.head(def)
	_, err := h.limitedWrite(def, 3, datastore.OpTouch, "document:d#viewer@user:x")
	wantLimitError(t, "a fourth relationship", err, def, 3, 3, 4)
	if got := h.head(def); got != head {
		t.Fatalf("the refused transaction moved the head from %d to %d", head, got)
	}
	if revs := h.auditRevisions(def, datastore.TransactionFilter{}); len(revs) != 1 {
		t.Fatalf("audit records after a refused transaction: %v, want only revision %d", revs, head)
	}
	equalStrings(t, "after the refusal", h.all(def, head), []string{"document:a#viewer@user:x", "document:b#viewer@user:x", "document:c#viewer@user:x"})

	// Rewriting, replacing one by another and deleting keep within the limit.
	steps := []struct {
		what string
		fn   func(ctx context.Context, tx datastore.ReadWriteTx) error
	}{
		{"rewrite a stored relationship", func(ctx context.Context, tx datastore.ReadWriteTx) error {
			return tx.WriteRelationships(ctx, updates(datastore.OpTouch, `document:a#viewer@user:x[only_on:{"a":1}]`))
		}},
		{"replace one by another", func(ctx context.Context, tx datastore.ReadWriteTx) error {
			return tx.WriteRelationships(ctx, append(updates(datastore.OpDelete, "document:b#viewer@user:x", "document:nosuch#viewer@user:x"),
				updates(datastore.OpCreate, "document:e#viewer@user:x")...))
		}},
		{"delete by filter, then create as many", func(ctx context.Context, tx datastore.ReadWriteTx) error {
			deleted, _, err := tx.DeleteRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"c", "e"}}, 0)
			if err != nil || len(deleted) != 2 {
				return fmt.Errorf("delete by filter: %d deleted, %v", len(deleted), err)
			}
			return tx.WriteRelationships(ctx, updates(datastore.OpCreate, "document:f#viewer@user:x", "document:g#viewer@user:x"))
		}},
	}
	for _, s := range steps {
		if _, err := h.tx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			tx.LimitRelationships(3)
			return s.fn(ctx, tx)
		}); err != nil {
			t.Fatalf("%s at the limit: %v", s.what, err)
		}
	}
	// A lowered limit still lets the tenant shrink, but not grow back over it.
	if _, err := h.limitedWrite(def, 1, datastore.OpDelete, "document:f#viewer@user:x"); err != nil {
		t.Fatalf("shrinking from 3 to 2 under a limit of 1: %v", err)
	}
	_, err = h.tx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		tx.LimitRelationships(1)
		return tx.WriteRelationships(ctx, append(updates(datastore.OpDelete, "document:g#viewer@user:x"),
			updates(datastore.OpCreate, "document:h#viewer@user:x", "document:i#viewer@user:x")...))
	})
	wantLimitError(t, "growing from 2 to 3 under a limit of 1", err, def, 1, 2, 3)
	if _, err := h.limitedWrite(def, 0, datastore.OpTouch, "document:h#viewer@user:x", "document:i#viewer@user:x"); err != nil {
		t.Fatalf("limit 0 means none: %v", err)
	}
	testLimitWithExpiry(t, h)
}

// testLimitWithExpiry checks that an expired relationship counts until garbage
// collection removes it, and that writing over it does not count it twice. The
// tenant stores a, g, h and i when it starts.
func testLimitWithExpiry(t *testing.T, h *harness) {
	exp := h.clock.Now().Add(time.Minute)
	if _, err := h.limitedWrite(def, 6, datastore.OpTouch, expiring("document:x#viewer@user:x", exp), expiring("document:y#viewer@user:x", exp)); err != nil {
		t.Fatal(err)
	}
	h.clock.Set(exp)
	_, err := h.limitedWrite(def, 6, datastore.OpCreate, "document:z#viewer@user:x")
	wantLimitError(t, "expired relationships before garbage collection", err, def, 6, 6, 7)
	if _, err := h.limitedWrite(def, 6, datastore.OpTouch, "document:x#viewer@user:x"); err != nil {
		t.Fatalf("writing over an expired relationship: %v", err)
	}
	if _, err := h.ds.GarbageCollect(h.ctx()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.limitedWrite(def, 6, datastore.OpCreate, "document:z#viewer@user:x"); err != nil {
		t.Fatalf("after garbage collection removed the expired relationship: %v", err)
	}
	_, err = h.limitedWrite(def, 6, datastore.OpCreate, "document:w#viewer@user:x")
	wantLimitError(t, "after garbage collection, at the limit again", err, def, 6, 6, 7)
}

// testConcurrentRelationshipLimit runs writers that each add one relationship under
// a limit: exactly as many as the limit leaves room for commit.
func testConcurrentRelationshipLimit(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	h.mustWrite(def, datastore.OpTouch, "document:seed#viewer@user:x")
	const writers, limit = 12, 7
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			_, err := h.ds.ReadWriteTx(ctx, def, testMeta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
				tx.LimitRelationships(limit)
				return tx.WriteRelationships(ctx, updates(datastore.OpCreate, fmt.Sprintf("document:w%02d#viewer@user:x", w)))
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	committed := 0
	for err := range errs {
		var le *datastore.RelationshipLimitError
		switch {
		case err == nil:
			committed++
		case errors.As(err, &le):
			if le.Stored != limit || le.After != limit+1 {
				t.Errorf("refusal %+v, want stored %d, after %d", *le, limit, limit+1)
			}
		default:
			t.Errorf("writer: %v", err)
		}
	}
	if committed != limit-1 {
		t.Fatalf("%d writers committed under a limit of %d with one relationship stored, want %d", committed, limit, limit-1)
	}
	if n := len(h.all(def, h.head(def))); n != limit {
		t.Fatalf("the tenant stores %d relationships, want the limit %d", n, limit)
	}
}
