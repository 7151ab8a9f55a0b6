package write

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// stored returns the live relationship with rel's key, in its text form.
func (f *fixture) storedAs(t *testing.T, rel string) string {
	t.Helper()
	ctx := context.Background()
	k := tuple.MustParse(rel).Key()
	head, err := f.ds.HeadRevision(ctx, tuple.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	flt := datastore.RelationshipFilter{ResourceType: k.ResourceType, ResourceIDs: []string{k.ResourceID}, Relation: k.Relation,
		Subject: &datastore.SubjectFilter{Type: k.SubjectType, IDs: []string{k.SubjectID}, Relations: []string{k.SubjectRel}}}
	for r, err := range f.ds.SnapshotReader(tuple.DefaultTenant, head).QueryRelationships(ctx, flt, datastore.QueryOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		return tuple.Format(r)
	}
	return ""
}

// TestDelegatedWritesRecordTheGrantor: a delegated create or touch stores who granted
// it and through which organisation the grantor held the right; an administrator's
// write stores no grant and, over a delegated relationship, replaces it; no caller may
// write a grant itself.
func TestDelegatedWritesRecordTheGrantor(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.orgTree()
	eve := Request{Tenant: tuple.DefaultTenant, Principal: "portal", Actor: actor("user:eve"), Reason: "onboarding"}
	root := Request{Tenant: tuple.DefaultTenant, Principal: "portal", Actor: actor("user:root")}

	// eve is admin of acme-eu: her right on acme-eu-sales comes through acme-eu.
	if _, err := f.w.WriteRelationships(ctx, eve, updates(datastore.OpCreate,
		"organization:acme-eu#member@user:bob", "organization:acme-eu-sales#member@user:carol"), nil); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{
		"organization:acme-eu#member@user:bob":         "organization:acme-eu#member@user:bob[granted:user:eve@organization:acme-eu]",
		"organization:acme-eu-sales#member@user:carol": "organization:acme-eu-sales#member@user:carol[granted:user:eve@organization:acme-eu]",
	} {
		if got := f.storedAs(t, rel); got != want {
			t.Errorf("stored %s, want %s", got, want)
		}
	}
	// Another delegate's touch takes the grant over: root holds it through acme.
	if _, err := f.w.WriteRelationships(ctx, root, updates(datastore.OpTouch, "organization:acme-eu#member@user:bob"), nil); err != nil {
		t.Fatal(err)
	}
	if got, want := f.storedAs(t, "organization:acme-eu#member@user:bob"), "organization:acme-eu#member@user:bob[granted:user:root@organization:acme]"; got != want {
		t.Errorf("after root's touch: %s, want %s", got, want)
	}
	// An administrator's touch (no actor) stores the relationship without a grant.
	f.admin("organization:acme-eu#member@user:bob")
	if got, want := f.storedAs(t, "organization:acme-eu#member@user:bob"), "organization:acme-eu#member@user:bob"; got != want {
		t.Errorf("after an admin touch: %s, want %s", got, want)
	}
	// Nobody writes a grant: not an administrator, not a delegate.
	forged := "organization:acme-eu#member@user:mallory[granted:user:root@organization:acme]"
	for _, req := range []Request{{Tenant: tuple.DefaultTenant}, eve} {
		_, err := f.w.WriteRelationships(ctx, req, updates(datastore.OpTouch, forged), nil)
		var gs *GrantedSetError
		if !errors.As(err, &gs) || !errors.Is(err, datastore.ErrInvalidArgument) || !strings.Contains(err.Error(), "granted") {
			t.Errorf("writing a grant (actor %v): %v, want a GrantedSetError", req.Actor, err)
		}
	}
	if got := f.storedAs(t, forged); got != "" {
		t.Errorf("the forged grant was stored: %s", got)
	}
	// An import carries grants in, so an export round-trips.
	if _, err := f.w.Import(ctx, Request{Tenant: tuple.DefaultTenant}, func(yield func(tuple.Relationship, error) bool) {
		yield(tuple.MustParse(forged), nil)
	}); err != nil {
		t.Fatal(err)
	}
	if got := f.storedAs(t, forged); got != forged {
		t.Errorf("imported %s, stored %s", forged, got)
	}
}
