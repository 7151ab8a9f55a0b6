package datastoretest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Relationships with grants, in key order, as testGrants writes them first.
const (
	grantedByEve   = "organization:acme-eu#member@user:bob[granted:user:eve@organization:acme-eu]"
	grantedRich    = `organization:acme-eu#member@user:carol[only_on:{"ip":"10.0.0.0/8"}][granted:service:provisioner@organization:acme][expiration:2031-01-01T00:00:00Z]`
	grantedNone    = "organization:acme-eu#member@user:dave"
	grantedByMallo = "organization:acme-eu#member@user:bob[granted:user:mallory@organization:acme]"
	grantedBobKey  = "organization:acme-eu#member@user:bob"
)

// testGrants: a relationship's grant (who granted it, through which object) is stored
// with it and comes back from every read, the change log and Watch; touching it with
// another grant, or none, replaces it, and older revisions keep the older grant.
func testGrants(t *testing.T, newStore NewStoreFunc) {
	h := setup(t, newStore, datastore.Options{})
	ch, _ := h.startWatch(def, h.head(def))
	first := []string{grantedByEve, grantedRich, grantedNone}
	r1 := h.mustWrite(def, datastore.OpCreate, first...)
	if got := h.all(def, r1); !slices.Equal(got, first) {
		t.Fatalf("forward query after the first write:\n got  %q\n want %q", got, first)
	}
	var rev []string
	for _, id := range []string{"bob", "carol", "dave"} {
		rev = append(rev, h.reverse(def, r1, datastore.SubjectFilter{Type: "user", IDs: []string{id}}, datastore.ReverseQueryOptions{})...)
	}
	if !slices.Equal(rev, first) {
		t.Fatalf("reverse queries after the first write:\n got  %q\n want %q", rev, first)
	}
	h.wantChanges(def, r1, "created "+grantedByEve, "created "+grantedRich, "created "+grantedNone)
	w := next(t, ch)
	if w.err != nil || w.txn.Revision != r1 {
		t.Fatalf("Watch yielded %+v, want revision %d", w, r1)
	}
	compareChanges(t, "changes watched at the first write", w.txn.Changes, changesOf(datastore.ChangeCreated, first...))

	// Another grantor replaces the grant; the older revision still has the older one.
	r2 := h.mustWrite(def, datastore.OpTouch, grantedByMallo)
	h.wantChanges(def, r2, "touched "+grantedByMallo)
	if got := h.query(def, r2, bobFilter(), datastore.QueryOptions{}); !slices.Equal(got, []string{grantedByMallo}) {
		t.Fatalf("after a touch with another grant: %q", got)
	}
	if got := h.query(def, r1, bobFilter(), datastore.QueryOptions{}); !slices.Equal(got, []string{grantedByEve}) {
		t.Fatalf("at the revision before the touch: %q, want the first grant", got)
	}
	// A touch without a grant (a plain admin write) removes it.
	r3 := h.mustWrite(def, datastore.OpTouch, grantedBobKey)
	h.wantChanges(def, r3, "touched "+grantedBobKey)
	if got := h.query(def, r3, bobFilter(), datastore.QueryOptions{}); !slices.Equal(got, []string{grantedBobKey}) {
		t.Fatalf("after a touch without a grant: %q", got)
	}
	for _, want := range []struct {
		rev datastore.Revision
		rel string
	}{{r2, grantedByMallo}, {r3, grantedBobKey}} {
		w := next(t, ch)
		if w.err != nil || w.txn.Revision != want.rev {
			t.Fatalf("Watch yielded %+v, want revision %d", w, want.rev)
		}
		compareChanges(t, fmt.Sprintf("changes watched at %d", want.rev), w.txn.Changes, changesOf(datastore.ChangeTouched, want.rel))
	}

	// A deletion by filter returns the grant, and the change log keeps it.
	var deleted []tuple.Relationship
	r4 := h.mustTx(def, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		d, _, err := tx.DeleteRelationships(ctx, datastore.RelationshipFilter{ResourceType: "organization",
			Subject: &datastore.SubjectFilter{Type: "user", IDs: []string{"carol"}}}, 0)
		deleted = d
		return err
	})
	if len(deleted) != 1 || tuple.Format(deleted[0]) != grantedRich {
		t.Fatalf("DeleteRelationships returned %v, want %s", deleted, grantedRich)
	}
	h.wantChanges(def, r4, "deleted "+grantedRich)
	w = next(t, ch)
	if w.err != nil || w.txn.Revision != r4 {
		t.Fatalf("Watch yielded %+v, want revision %d", w, r4)
	}
	compareChanges(t, "changes watched at the deletion", w.txn.Changes, changesOf(datastore.ChangeDeleted, grantedRich))
}

func bobFilter() datastore.RelationshipFilter {
	return datastore.RelationshipFilter{ResourceType: "organization", ResourceIDs: []string{"acme-eu"}, Relation: "member",
		Subject: &datastore.SubjectFilter{Type: "user", IDs: []string{"bob"}}}
}

func changesOf(kind datastore.ChangeKind, rels ...string) []datastore.Change {
	out := make([]datastore.Change, len(rels))
	for i, r := range rels {
		out[i] = datastore.Change{Kind: kind, Relationship: tuple.MustParse(r)}
	}
	return out
}
