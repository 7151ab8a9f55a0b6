package write

import (
	"context"
	"errors"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// The rules a delegate is held to beyond the grant rules themselves. The adversarial
// suite (internal/server, testdata/adversarial) runs them through the real server;
// these tests pin their edges with a fixed clock.

func TestActorMustBeOneSubject(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.orgTree()
	for _, a := range []string{"organization:acme#admin", "organization:acme#manage", "user:*", "user:eve#member"} {
		req := Request{Tenant: tuple.DefaultTenant, Principal: "portal", Actor: actor(a)}
		_, err := f.w.WriteRelationships(ctx, req, updates(datastore.OpCreate, "organization:acme#member@user:bob"), nil)
		var ae *ActorError
		if !errors.As(err, &ae) || !errors.Is(err, datastore.ErrPermissionDenied) {
			t.Errorf("acting as %s: %v, want an ActorError", a, err)
		}
		// A delete that matches nothing, and an offboarding that removes nothing, are
		// refused too: the actor is refused before anything is read.
		filter := datastore.RelationshipFilter{ResourceType: "organization", ResourceIDs: []string{"nowhere"}}
		if _, err := f.w.DeleteRelationships(ctx, req, filter, 0, nil); !errors.As(err, &ae) {
			t.Errorf("deleting nothing as %s: %v, want an ActorError", a, err)
		}
		if _, err := f.w.Offboard(ctx, req, tuple.SubjectRef{Type: "user", ID: "nobody"}, nil); !errors.As(err, &ae) {
			t.Errorf("offboarding nobody as %s: %v, want an ActorError", a, err)
		}
	}
	if f.check("organization:acme", "active_member", "user:bob") != engine.NoPermission {
		t.Fatal("a write acting as a subject set went through")
	}
	// Each refusal is in the audit trail under the actor as given.
	set := actor("organization:acme#admin")
	n := 0
	for tx, err := range f.ds.ReadTransactions(ctx, tuple.DefaultTenant, datastore.TransactionFilter{Actor: set}) {
		if err != nil {
			t.Fatal(err)
		}
		if tx.Metadata.Denied == nil || len(tx.Changes) != 0 {
			t.Errorf("record %+v is not a denial", tx)
		}
		n++
	}
	if n != 3 {
		t.Errorf("%d denial records acting as %s, want 3", n, set)
	}
	// "user:eve#..." is eve herself, recorded as user:eve.
	eve := Request{Tenant: tuple.DefaultTenant, Actor: actor("user:eve#...")}
	if _, err := f.w.WriteRelationships(ctx, eve, updates(datastore.OpCreate, "organization:acme-eu#member@user:bob"), nil); err != nil {
		t.Fatalf("acting as user:eve#...: %v", err)
	}
	for tx, err := range f.ds.ReadTransactions(ctx, tuple.DefaultTenant, datastore.TransactionFilter{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		if got := tx.Metadata.Actor; got == nil || *got != (tuple.SubjectRef{Type: "user", ID: "eve"}) {
			t.Errorf("recorded actor %v, want user:eve", got)
		}
	}
}

func TestEveryRefusalOfADelegateIsRecorded(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.orgTree()
	f.admin("organization:acme-eu#member@user:bob")
	eve := Request{Tenant: tuple.DefaultTenant, Actor: actor("user:eve"), Reason: "r"}
	attempts := []struct {
		updates []datastore.Update
		kind    error
	}{
		{updates(datastore.OpCreate, "organization:acme-eu#member@user:bob"), datastore.ErrAlreadyExists},
		{updates(datastore.OpCreate, "organization:acme-eu#member@brand:portal"), datastore.ErrInvalidArgument},
		{append(updates(datastore.OpCreate, "organization:acme-eu#member@user:x"), updates(datastore.OpDelete, "organization:acme-eu#member@user:x")...), datastore.ErrInvalidArgument},
	}
	for _, a := range attempts {
		if _, err := f.w.WriteRelationships(ctx, eve, a.updates, nil); !errors.Is(err, a.kind) {
			t.Errorf("%v: got %v, want %v", a.updates, err, a.kind)
		}
	}
	pre := []Precondition{{MustMatch: true, Filter: datastore.RelationshipFilter{ResourceType: "organization", ResourceIDs: []string{"nowhere"}}}}
	if _, err := f.w.WriteRelationships(ctx, eve, updates(datastore.OpCreate, "organization:acme-eu#member@user:y"), pre); !errors.Is(err, datastore.ErrFailedPrecondition) {
		t.Errorf("failed precondition: %v", err)
	}
	n := 0
	for tx, err := range f.ds.ReadTransactions(ctx, tuple.DefaultTenant, datastore.TransactionFilter{Actor: actor("user:eve")}) {
		if err != nil {
			t.Fatal(err)
		}
		if tx.Metadata.Denied == nil || len(tx.Metadata.Denied.Updates) == 0 || tx.Metadata.Reason != "r" {
			t.Errorf("record %+v is not a denial with its updates and reason", tx.Metadata)
		}
		n++
	}
	if n != 4 {
		t.Errorf("%d denial records of eve, want 4", n)
	}
	// Without an actor nothing is recorded; nor when the caller has gone away.
	head, err := f.ds.HeadRevision(ctx, tuple.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.w.WriteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, updates(datastore.OpCreate, "organization:acme-eu#member@user:bob"), nil); !errors.Is(err, datastore.ErrAlreadyExists) {
		t.Errorf("admin create of an existing relationship: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.w.WriteRelationships(cancelled, eve, updates(datastore.OpCreate, "organization:acme#member@user:z"), nil); err == nil {
		t.Error("a write with a cancelled context succeeded")
	}
	if after, err := f.ds.HeadRevision(ctx, tuple.DefaultTenant); err != nil || after != head {
		t.Errorf("head moved from %d to %d (%v): something was recorded", head, after, err)
	}
}
