package auditreport

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/governance"
	"github.com/pemba-authz/pemba/internal/tuple"
)

const testSchema = `
definition user {}
definition organization {
	relation parent: organization
	relation member: user
	permission view = member + parent->view
}
definition document {
	relation org: organization
	relation reader: user
	permission read = reader + org->view
}
`

// fixture is a memory store with an org tree: acme above eu, a document in eu, and
// a sibling org us outside eu's subtree.
func fixture(t *testing.T) Sources {
	t.Helper()
	ds := memory.New(datastore.Options{})
	ctx := context.Background()
	write := func(meta datastore.TxMetadata, schema string, rels ...string) {
		t.Helper()
		_, err := ds.ReadWriteTx(ctx, tuple.DefaultTenant, meta, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			if schema != "" {
				if err := tx.WriteSchema(ctx, schema); err != nil {
					return err
				}
			}
			var ups []datastore.Update
			for _, r := range rels {
				ups = append(ups, datastore.Update{Op: datastore.OpTouch, Relationship: tuple.MustParse(r)})
			}
			return tx.WriteRelationships(ctx, ups)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	write(datastore.TxMetadata{Operation: "schema"}, testSchema)
	write(datastore.TxMetadata{Principal: "admin", Operation: "write", Reason: "tree"},
		"", "organization:eu#parent@organization:acme", "organization:us#parent@organization:acme",
		"document:d1#org@organization:eu", "organization:us#member@user:sam")
	write(datastore.TxMetadata{Principal: "admin", Operation: "write", Reason: "hire ann"}, "", "organization:eu#member@user:ann")
	write(datastore.TxMetadata{Principal: "admin", Operation: "write", Reason: "share"}, "", "document:d1#reader@user:bea")
	eng := engine.New(ds, engine.Config{})
	return Sources{Store: ds, Engine: eng, Reviewer: governance.New(ds, eng, nil)}
}

func TestBuild(t *testing.T) {
	src := fixture(t)
	ctx := context.Background()
	head, _ := src.Store.HeadRevision(ctx, tuple.DefaultTenant)
	eu := tuple.ObjectRef{Type: "organization", ID: "eu"}
	rep, err := Build(ctx, src, Request{Tenant: tuple.DefaultTenant, Revision: head, Organization: eu})
	if err != nil {
		t.Fatal(err)
	}
	var objects []string
	for _, o := range rep.Objects {
		objects = append(objects, o.String())
	}
	if !slices.Equal(objects, []string{"organization:eu", "document:d1"}) {
		t.Fatalf("objects: %v", objects)
	}
	var grants []string
	for _, g := range rep.Grants {
		grants = append(grants, g.Relationship.String()+" "+g.Provenance.Reason)
	}
	if !slices.Equal(grants, []string{"organization:eu#member@user:ann hire ann", "organization:eu#parent@organization:acme tree",
		"document:d1#org@organization:eu tree", "document:d1#reader@user:bea share"}) {
		t.Fatalf("grants: %v", grants)
	}
	var access []string
	for _, a := range rep.Access {
		access = append(access, a.Subject.String()+" "+a.Permission+" "+a.Resource.String())
		if len(a.Path) == 0 || a.Path[len(a.Path)-1].Provenance == nil {
			t.Fatalf("access without a path and its provenance: %+v", a)
		}
	}
	// sam is in the sibling org: not a holder inside eu.
	if !slices.Equal(access, []string{"user:ann view organization:eu", "user:ann read document:d1", "user:bea read document:d1"}) {
		t.Fatalf("access: %v", access)
	}
	if len(rep.Changes) != 3 || rep.Changes[0].Metadata.Reason != "share" || rep.DecisionLog || len(rep.Truncated) != 0 {
		t.Fatalf("changes %d (newest %q), decision log %v, truncated %v", len(rep.Changes), rep.Changes[0].Metadata.Reason, rep.DecisionLog, rep.Truncated)
	}

	// The period narrows the changes.
	rep, err = Build(ctx, src, Request{Tenant: tuple.DefaultTenant, Revision: head, Organization: eu, Since: time.Now().Add(time.Hour)})
	if err != nil || len(rep.Changes) != 0 {
		t.Fatalf("future period: %v, %d changes", err, len(rep.Changes))
	}
	// Bounds cut sections and say so.
	rep, err = Build(ctx, src, Request{Tenant: tuple.DefaultTenant, Revision: head, Organization: eu, Bounds: Bounds{Objects: 1, Access: 1, Changes: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Objects) != 1 || len(rep.Access) != 1 || len(rep.Changes) != 1 || !slices.Equal(rep.Truncated, []string{SectionObjects, SectionAccess, SectionChanges}) {
		t.Fatalf("bounded: %d objects, %d access, %d changes, truncated %v", len(rep.Objects), len(rep.Access), len(rep.Changes), rep.Truncated)
	}
	// The permission filter, and mistakes named.
	rep, err = Build(ctx, src, Request{Tenant: tuple.DefaultTenant, Revision: head, Organization: eu, Permissions: []string{"read"}})
	if err != nil || len(rep.Access) != 2 {
		t.Fatalf("read only: %v, %d entries", err, len(rep.Access))
	}
	for _, req := range []Request{
		{Organization: tuple.ObjectRef{Type: "team", ID: "x"}},
		{Organization: eu, Permissions: []string{"nosuch"}},
	} {
		req.Tenant, req.Revision = tuple.DefaultTenant, head
		if _, err := Build(ctx, src, req); !errors.Is(err, datastore.ErrInvalidArgument) {
			t.Fatalf("Build(%+v) = %v, want an invalid argument", req, err)
		}
	}
}
