package datastoretest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func expiring(rel string, at time.Time) string {
	return rel + "[expiration:" + at.UTC().Format(time.RFC3339Nano) + "]"
}

// testExpiry checks that an expired relationship is absent from the instant of its
// expiry at every revision, and that writing over it behaves as writing a new one.
func testExpiry(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	exp := Start.Add(10 * time.Second)
	x := expiring("document:a#viewer@user:x", exp)
	gx := expiring("group:g#member@user:x", exp)
	zx := expiring("group:z#member@user:x", exp)
	r1 := h.mustWrite(def, datastore.OpTouch, x, "document:a#viewer@user:y", gx, zx)
	h.wantChanges(def, r1, "created "+x, "created document:a#viewer@user:y", "created "+gx, "created "+zx)
	userX := datastore.SubjectFilter{Type: "user", IDs: []string{"x"}}
	exact := datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"a"}, Relation: "viewer",
		Subject: &datastore.SubjectFilter{Type: "user", IDs: []string{"x"}, Relations: []string{""}}}

	h.clock.Set(exp.Add(-time.Millisecond))
	equalStrings(t, "just before the expiry", h.all(def, r1), []string{x, "document:a#viewer@user:y", gx, zx})
	equalStrings(t, "reverse, just before the expiry", h.reverse(def, r1, userX, datastore.ReverseQueryOptions{}), []string{x, gx, zx})

	h.clock.Set(exp)
	equalStrings(t, "at the expiry instant", h.all(def, r1), []string{"document:a#viewer@user:y"})
	equalStrings(t, "reverse, at the expiry instant", h.reverse(def, r1, userX, datastore.ReverseQueryOptions{}), []string{})
	equalStrings(t, "exact key, at the expiry instant", h.query(def, r1, exact, datastore.QueryOptions{}), []string{})

	// Writes over expired relationships: create succeeds and is recorded as created,
	// touch too, delete is a no-op, and delete-by-filter does not see them.
	r2 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		deleted, more, err := tx.DeleteRelationships(ctx, datastore.RelationshipFilter{Subject: &datastore.SubjectFilter{Type: "user", IDs: []string{"x"}}}, 0)
		if err != nil {
			return err
		}
		if len(deleted) != 0 || more {
			return fmt.Errorf("DeleteRelationships found expired relationships: %v", deleted)
		}
		return nil
	})
	h.wantChanges(def, r2)
	r3 := h.mustWrite(def, datastore.OpCreate, "document:a#viewer@user:x")
	h.wantChanges(def, r3, "created document:a#viewer@user:x")
	r4 := h.mustWrite(def, datastore.OpTouch, "group:g#member@user:x")
	h.wantChanges(def, r4, "created group:g#member@user:x")
	r5 := h.mustWrite(def, datastore.OpDelete, "group:z#member@user:x")
	h.wantChanges(def, r5)
	equalStrings(t, "the old revision after re-creating", h.all(def, r1), []string{"document:a#viewer@user:y"})
	equalStrings(t, "the new revision after re-creating", h.all(def, r4), []string{"document:a#viewer@user:x", "document:a#viewer@user:y", "group:g#member@user:x"})
	equalStrings(t, "reverse at the new revision", h.reverse(def, r5, userX, datastore.ReverseQueryOptions{}), []string{"document:a#viewer@user:x", "group:g#member@user:x"})

	// A relationship written with an expiry in the past is never visible.
	past := expiring("document:old#viewer@user:x", h.clock.Now().Add(-time.Hour))
	r6 := h.mustWrite(def, datastore.OpTouch, past)
	equalStrings(t, "a relationship that expired before it was written", h.query(def, r6, datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"old"}}, datastore.QueryOptions{}), []string{})

	// Extending an expiry: the old version still expires at its own instant.
	exp2 := h.clock.Now().Add(time.Minute)
	exp3 := h.clock.Now().Add(time.Hour)
	r7 := h.mustWrite(def, datastore.OpTouch, expiring("document:ext#viewer@user:x", exp2))
	r8 := h.mustWrite(def, datastore.OpTouch, expiring("document:ext#viewer@user:x", exp3))
	h.wantChanges(def, r8, "touched "+expiring("document:ext#viewer@user:x", exp3))
	h.clock.Set(exp2)
	ext := datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{"ext"}}
	equalStrings(t, "the version that expired", h.query(def, r7, ext, datastore.QueryOptions{}), []string{})
	equalStrings(t, "the extended version", h.query(def, r8, ext, datastore.QueryOptions{}), []string{expiring("document:ext#viewer@user:x", exp3)})
	// Create is refused while the extended version lives.
	_, err := h.write(def, datastore.OpCreate, "document:ext#viewer@user:x")
	h.wantExists(err, "document:ext#viewer@user:x")
	h.clock.Set(exp3)
	r9 := h.mustWrite(def, datastore.OpCreate, "document:ext#viewer@user:x")
	h.wantChanges(def, r9, "created document:ext#viewer@user:x")
}

func testCaveats(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	exp := Start.Add(48 * time.Hour).Add(123456 * time.Microsecond)
	rich := tuple.Relationship{
		Resource: tuple.ObjectRef{Type: "document", ID: "a"}, Relation: "viewer",
		Subject: tuple.SubjectRef{Type: "group", ID: "eng", Relation: "member"},
		Caveat: &tuple.Caveat{Name: "acme/ip_allowed", Context: map[string]any{
			"s": "ünïcode \"quoted\" ✓", "n": json.Number("42"), "big": json.Number("9007199254740993"),
			"f": 1.5, "b": true, "nul": nil, "l": []any{json.Number("1"), "a", false},
			"m": map[string]any{"k": "v", "deep": map[string]any{"x": []any{}}},
		}},
		Expiration: exp,
	}
	nameOnly := tuple.MustParse("document:b#viewer@user:x[only_on]")
	plain := tuple.MustParse("document:c#viewer@user:x")
	want := []tuple.Relationship{rich, nameOnly, plain}
	r1 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteRelationships(ctx, []datastore.Update{
			{Op: datastore.OpTouch, Relationship: rich}, {Op: datastore.OpCreate, Relationship: nameOnly}, {Op: datastore.OpTouch, Relationship: plain}})
	})
	same := func(what string, got []tuple.Relationship) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d relationships, want %d", what, len(got), len(want))
		}
		for i := range want {
			if !got[i].Equal(want[i]) {
				t.Fatalf("%s: got %s\nwant %s", what, got[i], want[i])
			}
		}
		if got[1].Caveat == nil || got[1].Caveat.Name != "only_on" || len(got[1].Caveat.Context) != 0 {
			t.Fatalf("%s: a caveat without context came back as %+v", what, got[1].Caveat)
		}
		if got[2].Caveat != nil || got[2].HasExpiration() {
			t.Fatalf("%s: a plain relationship came back with a caveat or expiry: %s", what, got[2])
		}
	}
	same("forward query", collectRels(t, h.ds.SnapshotReader(def, r1).QueryRelationships(h.ctx(), datastore.RelationshipFilter{}, datastore.QueryOptions{})))
	var revd []tuple.Relationship
	for _, sf := range []datastore.SubjectFilter{{Type: "group"}, {Type: "user", IDs: []string{"x"}}} {
		revd = append(revd, collectRels(t, h.ds.SnapshotReader(def, r1).ReverseQueryRelationships(h.ctx(), sf, datastore.ReverseQueryOptions{}))...)
	}
	same("reverse queries", revd)
	var changes []tuple.Relationship
	for _, c := range h.txAt(def, r1).Changes {
		changes = append(changes, c.Relationship)
	}
	tuple.Sort(changes)
	same("recorded changes", changes)
	var deleted []tuple.Relationship
	r2 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		d, _, err := tx.DeleteRelationships(ctx, datastore.RelationshipFilter{ResourceType: "document"}, 0)
		deleted = d
		return err
	})
	tuple.Sort(deleted)
	same("DeleteRelationships results", deleted)
	changes = changes[:0]
	for _, c := range h.txAt(def, r2).Changes {
		if c.Kind != datastore.ChangeDeleted {
			t.Fatalf("change %s at %d, want deleted", c.Kind, r2)
		}
		changes = append(changes, c.Relationship)
	}
	tuple.Sort(changes)
	same("recorded deletions", changes)
}
