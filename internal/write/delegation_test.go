package write

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func TestDelegatedAdministration(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.orgTree()
	eve := Request{Tenant: tuple.DefaultTenant, Principal: "portal", Actor: actor("user:eve"), Reason: "onboarding"}
	in30d := f.now.Add(30 * 24 * time.Hour).Format(time.RFC3339)
	in200d := f.now.Add(200 * 24 * time.Hour).Format(time.RFC3339)

	allowed := []string{
		"organization:acme-eu#member@user:bob",
		"organization:acme-eu-sales#member@user:carol", // a child of her organisation
		"organization:acme-eu-sales#admin@user:dan[expiration:" + in30d + "]",
		"organization:acme-eu#billing_manager@user:fay", // a role she holds
	}
	for _, rel := range allowed {
		if _, err := f.w.WriteRelationships(ctx, eve, updates(datastore.OpCreate, rel), nil); err != nil {
			t.Errorf("eve should be allowed to create %s: %v", rel, err)
		}
	}
	denied := map[string]string{
		"organization:acme#member@user:bob":                              "does not satisfy the rule on organization:acme",    // the parent
		"organization:acme-us#member@user:bob":                           "does not satisfy the rule on organization:acme-us", // a sibling
		"organization:acme-eu#app_manager@user:bob":                      "does not satisfy the rule",                         // a role she lacks
		"organization:acme-eu#admin@user:bob":                            "expire within 90d",                                 // no expiry
		"organization:acme-eu#admin@user:bob[expiration:" + in200d + "]": "expire within 90d",                                 // past the bound
		"organization:acme-eu-sales#parent@organization:acme-us":         "has no grant rule",                                 // re-parenting
		"brand:portal#customer@user:bob":                                 "has no grant rule",
	}
	for rel, want := range denied {
		_, err := f.w.WriteRelationships(ctx, eve, updates(datastore.OpCreate, rel), nil)
		var pd *PermissionDeniedError
		var le *LifetimeError
		if !errors.As(err, &pd) && !errors.As(err, &le) {
			t.Errorf("eve creating %s: got %v, want permission denied", rel, err)
			continue
		}
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "user:eve") || !strings.Contains(err.Error(), rel[:strings.IndexByte(rel, '@')]) {
			t.Errorf("eve creating %s: error %q should name the actor, the update and %q", rel, err, want)
		}
	}
	// A write with one denied update applies none of them.
	_, err := f.w.WriteRelationships(ctx, eve, updates(datastore.OpCreate, "organization:acme-eu#member@user:gus", "organization:acme#member@user:gus"), nil)
	if err == nil || f.check("organization:acme-eu", "member", "user:gus") != engine.NoPermission {
		t.Fatalf("half-applied delegated write: %v", err)
	}
	// Deletes are authorised too.
	if _, err := f.w.WriteRelationships(ctx, eve, updates(datastore.OpDelete, "organization:acme#admin@user:root"), nil); err == nil {
		t.Fatal("eve removed the parent's admin")
	}
	if _, err := f.w.DeleteRelationships(ctx, eve, datastore.RelationshipFilter{ResourceType: "organization", ResourceIDs: []string{"acme-eu"}, Relation: "member"}, 0, nil); err != nil {
		t.Fatalf("eve removing her own members: %v", err)
	}

	// The audit trail names the actor, the rule and the organisation that granted.
	var found bool
	for tx, err := range f.ds.ReadTransactions(ctx, tuple.DefaultTenant, datastore.TransactionFilter{Actor: actor("user:eve")}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range tx.Metadata.Grants {
			if g.Relationship.String() == "organization:acme-eu-sales#member@user:carol" {
				found = true
				if g.Rule != "grant member, suspended by manage" || g.Via == nil || g.Via.String() != "organization:acme-eu" {
					t.Errorf("grant record %+v", g)
				}
				if tx.Metadata.Reason != "onboarding" || tx.Metadata.Principal != "portal" {
					t.Errorf("metadata %+v", tx.Metadata)
				}
			}
		}
	}
	if !found {
		t.Fatal("no audit record of eve's grant to carol")
	}

	// Refused attempts are in the audit trail too, findable by actor and by resource.
	parent := tuple.ObjectRef{Type: "organization", ID: "acme"}
	var denials []string
	for tx, err := range f.ds.ReadTransactions(ctx, tuple.DefaultTenant, datastore.TransactionFilter{Actor: actor("user:eve"), Resource: &parent}) {
		if err != nil {
			t.Fatal(err)
		}
		if tx.Metadata.Denied == nil || len(tx.Changes) != 0 {
			t.Errorf("eve's writes on acme were all refused, but revision %d records %+v", tx.Revision, tx)
			continue
		}
		denials = append(denials, tx.Metadata.Denied.Message)
		if len(tx.Metadata.Denied.Updates) == 0 || tx.Metadata.Reason != "onboarding" {
			t.Errorf("denial record without the attempt or the reason: %+v", tx.Metadata)
		}
	}
	// Creating acme#member@bob, the two-update write including acme#member@gus, and
	// deleting acme#admin@root.
	if len(denials) != 3 {
		t.Fatalf("denied attempts on acme in the audit trail: %q", denials)
	}
}

func TestRevocationEndsDelegationImmediately(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.orgTree()
	eve := Request{Tenant: tuple.DefaultTenant, Actor: actor("user:eve")}
	if _, err := f.w.WriteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, updates(datastore.OpDelete, "organization:acme-eu#admin@user:eve"), nil); err != nil {
		t.Fatal(err)
	}
	_, err := f.w.WriteRelationships(ctx, eve, updates(datastore.OpCreate, "organization:acme-eu#member@user:bob"), nil)
	var pd *PermissionDeniedError
	if !errors.As(err, &pd) {
		t.Fatalf("revoked admin still granted: %v", err)
	}
}

// TestGrantRacingRevocation runs delegated grants concurrently with the revocation
// of the delegate's own admin right and checks the invariant the write path promises:
// every grant that committed was authorised by the state just before it, so none
// commits after the revocation.
func TestGrantRacingRevocation(t *testing.T) {
	ctx := context.Background()
	granted8, rounds := 0, 0
	// Race at least 20 rounds, and until both outcomes have been seen (bounded): on a
	// busy machine the revocation can win every race of a short run.
	for round := 0; round < 20 || (granted8 == 0 || granted8 == rounds*8) && round < 400; round++ {
		rounds++
		f := newFixture(t)
		f.orgTree()
		eve := Request{Tenant: tuple.DefaultTenant, Actor: actor("user:eve")}
		var wg sync.WaitGroup
		var revokedAt datastore.Revision
		granted := make(chan datastore.Revision, 64)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rel := "organization:acme-eu#member@user:m" + string(rune('a'+i))
				rev, err := f.w.WriteRelationships(ctx, eve, updates(datastore.OpCreate, rel), nil)
				if err == nil {
					granted <- rev
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rev, err := f.w.WriteRelationships(ctx, Request{Tenant: tuple.DefaultTenant}, updates(datastore.OpDelete, "organization:acme-eu#admin@user:eve"), nil)
			if err != nil {
				t.Error(err)
			}
			revokedAt = rev
		}()
		wg.Wait()
		close(granted)
		n := 0
		for rev := range granted {
			n++
			if rev > revokedAt {
				t.Fatalf("round %d: a grant committed at revision %d after the revocation at %d", round, rev, revokedAt)
			}
		}
		granted8 += n
	}
	// Both outcomes must occur, or the race was not exercised.
	if granted8 == 0 || granted8 == rounds*8 {
		t.Fatalf("%d of %d grants committed in %d rounds: the revocation never raced the grants", granted8, rounds*8, rounds)
	}
}

func TestOffboarding(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.orgTree()
	f.admin(
		"brand:portal#customer@user:ann",
		"organization:acme-eu#member@user:ann",
		"organization:acme-eu-sales#billing_manager@user:ann",
		"group:eu-team#owner@organization:acme-eu",
		"group:eu-team#member@user:ann",
		"project:eu-plan#owner@organization:acme-eu-sales",
		"project:eu-plan#editor@user:ann",
		"project:us-plan#owner@organization:acme-us",
		"project:us-plan#viewer@user:ann",
		"organization:acme-us#member@user:ann",
	)
	if f.check("project:eu-plan", "edit", "user:ann") != engine.HasPermission {
		t.Fatal("setup: ann cannot edit eu-plan")
	}
	org := tuple.ObjectRef{Type: "organization", ID: "acme-eu"}
	res, err := f.w.Offboard(ctx, Request{Tenant: tuple.DefaultTenant, Principal: "hr", Reason: "left acme-eu"}, tuple.SubjectRef{Type: "user", ID: "ann"}, &org)
	if err != nil {
		t.Fatal(err)
	}
	var removed []string
	for _, r := range res.Removed {
		removed = append(removed, r.String())
	}
	want := []string{
		"group:eu-team#member@user:ann",
		"organization:acme-eu#member@user:ann",
		"organization:acme-eu-sales#billing_manager@user:ann",
		"project:eu-plan#editor@user:ann",
	}
	tuple.Sort(res.Removed)
	if strings.Join(removed, "\n") != strings.Join(want, "\n") {
		t.Fatalf("removed:\n%s\nwant:\n%s", strings.Join(removed, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range [][3]string{
		{"project:eu-plan", "view", "user:ann"},
		{"organization:acme-eu", "active_member", "user:ann"},
		{"organization:acme-eu-sales", "billing", "user:ann"},
		{"group:eu-team", "member", "user:ann"},
	} {
		if got := f.check(c[0], c[1], c[2]); got != engine.NoPermission {
			t.Errorf("after offboarding %s#%s@%s = %v", c[0], c[1], c[2], got)
		}
	}
	if f.check("project:us-plan", "view", "user:ann") != engine.HasPermission {
		t.Error("offboarding from acme-eu removed access in acme-us")
	}
	// A delegated offboarding names the organisation once in its audit record.
	f.admin("organization:acme-eu-sales#member@user:ann", "organization:acme-eu#member@user:ann")
	if _, err := f.w.Offboard(ctx, Request{Tenant: tuple.DefaultTenant, Actor: actor("user:eve"), Reason: "left"}, tuple.SubjectRef{Type: "user", ID: "ann"}, &org); err != nil {
		t.Fatal(err)
	}
	for tx, err := range f.ds.ReadTransactions(ctx, tuple.DefaultTenant, datastore.TransactionFilter{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		if len(tx.Metadata.Organizations) != 1 || tx.Metadata.Organizations[0] != org || len(tx.Metadata.Grants) != 2 {
			t.Errorf("delegated offboarding metadata: %+v", tx.Metadata)
		}
	}
	// Everywhere.
	res, err = f.w.Offboard(ctx, Request{Tenant: tuple.DefaultTenant}, tuple.SubjectRef{Type: "user", ID: "ann"}, nil)
	if err != nil || len(res.Removed) != 3 {
		t.Fatalf("offboarding everywhere: %v %v", res.Removed, err)
	}
}
