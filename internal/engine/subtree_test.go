package engine

import (
	"context"
	"testing"

	"github.com/pemba-authz/pemba/internal/tuple"
)

const orgSchema = `
definition user {}

definition organization {
	relation parent: organization
	relation admin: user
	permission manage = admin + parent->manage
}

definition project {
	relation owner_org: organization
	relation viewer: user
	permission view = viewer + owner_org->manage
}
`

func TestSubtree(t *testing.T) {
	f := newFixture(t, orgSchema,
		"organization:eu#parent@organization:acme",
		"organization:fr#parent@organization:eu",
		"organization:other#parent@organization:loop",
		"organization:loop#parent@organization:other",
		"project:paris#owner_org@organization:fr",
		"project:elsewhere#owner_org@organization:other",
		"project:orphan#viewer@user:ann",
	)
	ctx := context.Background()
	sch, err := f.e.Schema(ctx, tuple.DefaultTenant, f.rev)
	if err != nil {
		t.Fatal(err)
	}
	snap := f.ds.SnapshotReader(tuple.DefaultTenant, f.rev)
	eu := tuple.ObjectRef{Type: "organization", ID: "eu"}
	in := NewSubtree(snap, sch, &eu)
	all := NewSubtree(snap, sch, nil)
	for obj, want := range map[string]bool{
		"organization:eu":    true,
		"organization:fr":    true,
		"project:paris":      true,
		"organization:acme":  false,
		"project:elsewhere":  false, // its hierarchy loops without reaching eu
		"project:orphan":     false,
		"organization:other": false,
	} {
		o, err := tuple.ParseObject(obj)
		if err != nil {
			t.Fatal(err)
		}
		// Twice: the second answer comes from the memo and must agree.
		for range 2 {
			if got, err := in.Contains(ctx, o); err != nil || got != want {
				t.Errorf("%s inside organization:eu = %v, %v; want %v", obj, got, err, want)
			}
		}
		if got, err := all.Contains(ctx, o); err != nil || !got {
			t.Errorf("%s inside no organisation = %v, %v; want true", obj, got, err)
		}
	}
}
