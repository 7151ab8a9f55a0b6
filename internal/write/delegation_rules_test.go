package write

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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

func TestDelegateMayNotChangeItsOwnAccess(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.orgTree()
	f.admin("organization:acme-eu-sales#suspended@user:eve", "project:eu-plan#owner@organization:acme-eu-sales", "project:eu-plan#blocked@user:eve")
	eve := Request{Tenant: tuple.DefaultTenant, Actor: actor("user:eve")}
	for _, u := range [][]datastore.Update{
		updates(datastore.OpDelete, "organization:acme-eu-sales#suspended@user:eve"),
		updates(datastore.OpDelete, "project:eu-plan#blocked@user:eve"),
		updates(datastore.OpTouch, "organization:acme-eu#billing_manager@user:eve"),
		updates(datastore.OpCreate, "organization:acme-eu-sales#member@user:eve#..."),
	} {
		_, err := f.w.WriteRelationships(ctx, eve, u, nil)
		var pd *PermissionDeniedError
		if !errors.As(err, &pd) || !strings.Contains(err.Error(), "may not change its own access") {
			t.Errorf("eve: %v %s: %v, want a refusal of a self-write", u[0].Op, u[0].Relationship, err)
		}
	}
	// Her own grant to a group she belongs to is not a self-write: the rule decides.
	f.admin("group:eu-team#owner@organization:acme-eu", "group:eu-team#member@user:eve")
	if _, err := f.w.WriteRelationships(ctx, eve, updates(datastore.OpCreate, "organization:acme-eu-sales#member@group:eu-team#member"), nil); err != nil {
		t.Errorf("eve adding a group she is in: %v", err)
	}
}

func TestDelegatedGrantDoesNotOutliveItsGrantor(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.orgTree()
	ends := f.now.Add(30 * 24 * time.Hour)
	f.admin("organization:acme-eu-sales#admin@user:dan[expiration:" + ends.Format(time.RFC3339) + "]")
	dan := Request{Tenant: tuple.DefaultTenant, Actor: actor("user:dan")}
	grant := func(rel string, until time.Time) error {
		if !until.IsZero() {
			rel += "[expiration:" + until.Format(time.RFC3339) + "]"
		}
		_, err := f.w.WriteRelationships(ctx, dan, updates(datastore.OpTouch, rel), nil)
		return err
	}
	// Up to the end of dan's own authority, and not a second beyond.
	if err := grant("organization:acme-eu-sales#admin@user:carol", ends); err != nil {
		t.Fatalf("dan appointing carol until his own end: %v", err)
	}
	err := grant("organization:acme-eu-sales#admin@user:carol", ends.Add(time.Second))
	if !errors.Is(err, datastore.ErrPermissionDenied) || !strings.Contains(err.Error(), "own authority on organization:acme-eu-sales ends at "+ends.Format(time.RFC3339)) {
		t.Fatalf("dan appointing carol past his own end: %v", err)
	}
	// A rule without a time bound is not held to it: dan's members may stay.
	if err := grant("organization:acme-eu-sales#member@user:zoe", time.Time{}); err != nil {
		t.Errorf("dan adding a permanent member: %v", err)
	}
	// Authority that does not expire bounds nothing: eve appoints for the rule's 90 days.
	eve := Request{Tenant: tuple.DefaultTenant, Actor: actor("user:eve")}
	in89d := f.now.Add(89 * 24 * time.Hour).Format(time.RFC3339)
	if _, err := f.w.WriteRelationships(ctx, eve, updates(datastore.OpTouch, "organization:acme-eu-sales#admin@user:gus[expiration:"+in89d+"]"), nil); err != nil {
		t.Errorf("eve appointing gus for 89 days: %v", err)
	}
}

func TestAuthorityEnds(t *testing.T) {
	at := func(days int) time.Time { return time.Date(2030, 1, 1+days, 0, 0, 0, 0, time.UTC) }
	rel := func(text string, days int, children ...*engine.ExplainNode) *engine.ExplainNode {
		r := tuple.MustParse(text)
		if days > 0 {
			r.Expiration = at(days)
		}
		return &engine.ExplainNode{Kind: engine.NodeRelationship, Relationship: &r, Result: engine.HasPermission, Children: children}
	}
	node := func(kind engine.NodeKind, expr string, children ...*engine.ExplainNode) *engine.ExplainNode {
		return &engine.ExplainNode{Kind: kind, Expression: expr, Result: engine.HasPermission, Children: children}
	}
	denied := &engine.ExplainNode{Kind: engine.NodeRelation, Result: engine.NoPermission}
	caveat := &engine.ExplainNode{Kind: engine.NodeCaveat, Result: engine.HasPermission}
	a, b := rel("organization:o#admin@user:u", 5), rel("organization:o#admin@group:g#member", 9, rel("group:g#member@user:u", 3))
	forever := rel("organization:o#owner@user:u", 0, caveat)
	cases := []struct {
		name string
		n    *engine.ExplainNode
		want time.Time
	}{
		{"one relationship", node(engine.NodeRelation, "", a), at(5)},
		{"a subject set ends with its membership", node(engine.NodeRelation, "", b), at(3)},
		{"a union lasts as long as its longest branch", node(engine.NodeUnion, "", node(engine.NodeRelation, "", a), denied, node(engine.NodeRelation, "", b)), at(5)},
		{"a union with a branch that never ends", node(engine.NodeUnion, "", node(engine.NodeRelation, "", a), node(engine.NodeRelation, "", forever)), time.Time{}},
		{"an intersection ends with its first branch", node(engine.NodeIntersection, "", node(engine.NodeRelation, "", forever), node(engine.NodeRelation, "", b)), at(3)},
		{"an exclusion lasts as long as its base", node(engine.NodeExclusion, "", node(engine.NodeRelation, "", a), denied), at(5)},
		{"an any-arrow lasts as long as its longest target", node(engine.NodeArrow, "parent->manage", rel("organization:c#parent@organization:p", 0, node(engine.NodePermission, "", a)), rel("organization:c#parent@organization:q", 8)), at(8)},
		{"an all-arrow ends with its first target", node(engine.NodeArrow, "parent.all(manage)", rel("organization:c#parent@organization:p", 0, node(engine.NodePermission, "", a)), rel("organization:c#parent@organization:q", 8)), at(5)},
		{"an allowed node that shows no granting branch", node(engine.NodePermission, ""), time.Unix(0, 0)},
	}
	for _, c := range cases {
		if got := authorityEnds(c.n).At; !got.Equal(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
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
