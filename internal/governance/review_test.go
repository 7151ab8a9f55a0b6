package governance

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
)

type fixture struct {
	ds  *memory.Store
	eng *engine.Engine
	w   *write.Writer
	r   *Reviewer
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	f.ds = memory.New(datastore.Options{Now: clock})
	f.eng = engine.New(f.ds, engine.Config{Now: clock})
	f.w = write.New(f.ds, f.eng, write.Config{Now: clock})
	f.r = New(f.ds, f.eng, clock)
	text, err := os.ReadFile("../../schema/b2b-ciam/schema.zed")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.w.WriteSchema(ctx, write.Request{Tenant: tuple.DefaultTenant}, string(text), false); err != nil {
		t.Fatal(err)
	}
	f.write(t, write.Request{Tenant: tuple.DefaultTenant, Principal: "provisioning"},
		"brand:portal#customer@user:eve",
		"brand:portal#customer@user:bob",
		"organization:acme#brand@brand:portal",
		"organization:acme-eu#parent@organization:acme",
		"organization:acme-us#parent@organization:acme",
		"organization:acme#admin@user:root",
		"organization:acme-eu#admin@user:eve",
		"project:eu-plan#owner@organization:acme-eu",
		"project:us-plan#owner@organization:acme-us",
	)
	return f
}

func (f *fixture) write(t *testing.T, req write.Request, rels ...string) datastore.Revision {
	t.Helper()
	ups := make([]datastore.Update, len(rels))
	for i, r := range rels {
		ups[i] = datastore.Update{Op: datastore.OpTouch, Relationship: tuple.MustParse(r)}
	}
	rev, err := f.w.WriteRelationships(context.Background(), req, ups, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func TestGrantsInForce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	eve := tuple.SubjectRef{Type: "user", ID: "eve"}
	req := write.Request{Tenant: tuple.DefaultTenant, Actor: &eve, Reason: "new hire", Principal: "portal"}
	f.write(t, req, "organization:acme-eu#member@user:bob")
	f.write(t, req, "organization:acme-eu#member@user:carl")
	f.write(t, req, "project:eu-plan#viewer@user:bob[expiration:2030-06-02T00:00:00Z]")
	// Carl's membership is later removed by someone else; it is no longer in force.
	if _, err := f.w.WriteRelationships(ctx, write.Request{Tenant: tuple.DefaultTenant}, []datastore.Update{{Op: datastore.OpDelete, Relationship: tuple.MustParse("organization:acme-eu#member@user:carl")}}, nil); err != nil {
		t.Fatal(err)
	}
	head, _ := f.ds.HeadRevision(ctx, tuple.DefaultTenant)
	grants, err := f.r.GrantsInForce(ctx, tuple.DefaultTenant, head, eve, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range grants {
		got = append(got, g.Relationship.String()+" via "+g.Via.String()+" by "+g.Rule)
		if g.Principal != "portal" || g.Reason != "new hire" {
			t.Errorf("grant %s: principal %q reason %q", g.Relationship, g.Principal, g.Reason)
		}
	}
	want := []string{
		"project:eu-plan#viewer@user:bob[granted:user:eve@organization:acme-eu][expiration:2030-06-02T00:00:00Z] via organization:acme-eu by grant viewer by manage expiring within 365d",
		"organization:acme-eu#member@user:bob[granted:user:eve@organization:acme-eu] via organization:acme-eu by grant member, suspended by manage",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("grants in force:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Once the viewer grant expires it is no longer in force.
	f.now = f.now.Add(24 * time.Hour)
	grants, err = f.r.GrantsInForce(ctx, tuple.DefaultTenant, head, eve, 0)
	if err != nil || len(grants) != 1 {
		t.Fatalf("after expiry: %v %v", grants, err)
	}
}

func TestAccessReviewAndProvenance(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	eve := tuple.SubjectRef{Type: "user", ID: "eve"}
	f.write(t, write.Request{Tenant: tuple.DefaultTenant, Actor: &eve, Principal: "portal", Reason: "project team"}, "project:eu-plan#editor@user:bob")
	f.write(t, write.Request{Tenant: tuple.DefaultTenant, Principal: "provisioning"}, "project:us-plan#viewer@user:bob")
	head, _ := f.ds.HeadRevision(ctx, tuple.DefaultTenant)
	org := tuple.ObjectRef{Type: "organization", ID: "acme-eu"}
	access, err := f.r.Access(ctx, AccessRequest{Tenant: tuple.DefaultTenant, Revision: head, Subject: tuple.SubjectRef{Type: "user", ID: "bob"}, Organization: &org, ResourceTypes: []string{"project"}, Permissions: []string{"edit", "view"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range access {
		got = append(got, a.Resource.String()+"#"+a.Permission)
		if len(a.Path) == 0 || a.Path[len(a.Path)-1].String() != "project:eu-plan#editor@user:bob[granted:user:eve@organization:acme-eu]" {
			t.Errorf("%s#%s path %v", a.Resource, a.Permission, a.Path)
		}
	}
	if strings.Join(got, ",") != "project:eu-plan#edit,project:eu-plan#view" {
		t.Fatalf("bob's access in acme-eu: %v", got)
	}

	res, err := f.eng.Check(ctx, engine.CheckRequest{Tenant: tuple.DefaultTenant, Revision: head,
		Resource: tuple.ObjectRef{Type: "project", ID: "eu-plan"}, Permission: "edit", Subject: tuple.SubjectRef{Type: "user", ID: "bob"}, Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	table, err := f.r.Provenance(ctx, tuple.DefaultTenant, head, res.Explanation)
	if err != nil {
		t.Fatal(err)
	}
	var prov *Provenance
	if p, ok := table[tuple.MustParse("project:eu-plan#editor@user:bob").Key()]; ok {
		prov = &p
	}
	if prov == nil || prov.Actor == nil || *prov.Actor != eve || prov.Principal != "portal" || prov.Reason != "project team" || prov.Via == nil || prov.Via.String() != "organization:acme-eu" {
		t.Fatalf("provenance of bob's editor grant: %+v", prov)
	}
}
