package governance

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
)

// partnerFixture adds a partner, globex, to the fixture: gina administers it, pat and
// sam are its members, and gina shared eu-plan with both through while-bound grants.
func partnerFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.write(t, write.Request{Tenant: tuple.DefaultTenant, Principal: "provisioning"},
		"organization:globex#brand@brand:portal",
		"organization:globex#admin@user:gina",
		"organization:globex#member@user:pat",
		"organization:globex#member@user:sam",
		"brand:portal#customer@user:pat",
		"brand:portal#customer@user:sam",
		"project:eu-plan#partner@organization:globex",
	)
	gina := tuple.SubjectRef{Type: "user", ID: "gina"}
	f.write(t, write.Request{Tenant: tuple.DefaultTenant, Actor: &gina, Reason: "joint launch"},
		"project:eu-plan#partner_viewer@user:pat[expiration:2030-07-01T00:00:00Z]",
		"project:eu-plan#partner_viewer@user:sam[expiration:2030-07-01T00:00:00Z]",
	)
	return f
}

// counting lists the partner_viewer grants on eu-plan that count at rev.
func (f *fixture) counting(t *testing.T, rev datastore.Revision) []string {
	t.Helper()
	var out []string
	for _, who := range []string{"pat", "sam"} {
		res, err := f.eng.Check(context.Background(), engine.CheckRequest{Tenant: tuple.DefaultTenant, Revision: rev,
			Resource: tuple.ObjectRef{Type: "project", ID: "eu-plan"}, Permission: "partner_viewer", Subject: tuple.SubjectRef{Type: "user", ID: who}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Permissionship != engine.NoPermission {
			out = append(out, who)
		}
	}
	return out
}

// TestWhatIfMatchesTheRemoval asks what would end for several removals, checks that
// asking wrote nothing, then performs each removal and checks that exactly the grants
// the preview named stopped counting.
func TestWhatIfMatchesTheRemoval(t *testing.T) {
	for _, tc := range []struct {
		name      string
		remove    []string
		ending    []string // grantees
		condition string
		ends      string
	}{
		{"pat leaves globex", []string{"organization:globex#member@user:pat"}, []string{"pat"},
			"grantee in organization#active_member", "organization:globex#member@user:pat"},
		{"gina loses her role", []string{"organization:globex#admin@user:gina"}, []string{"pat", "sam"},
			"grantor can grant", "organization:globex#admin@user:gina"},
		{"the partner contract ends", []string{"project:eu-plan#partner@organization:globex"}, []string{"pat", "sam"},
			"grantor can grant", "project:eu-plan#partner@organization:globex"},
		{"an unrelated admin leaves", []string{"organization:acme-us#parent@organization:acme"}, nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := partnerFixture(t)
			head, _ := f.ds.HeadRevision(ctx, tuple.DefaultTenant)
			var remove []tuple.Relationship
			for _, r := range tc.remove {
				remove = append(remove, tuple.MustParse(r))
			}
			res, err := f.r.WhatIf(ctx, WhatIfRequest{Tenant: tuple.DefaultTenant, Revision: head, Remove: remove})
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := f.ds.HeadRevision(ctx, tuple.DefaultTenant); after != head {
				t.Fatalf("what-if wrote: head moved from %d to %d", head, after)
			}
			var got []string
			for _, e := range res.Ending {
				got = append(got, e.Relationship.Subject.ID)
				if e.Rule != "grant partner_viewer by partner->manage expiring within 365d while grantee in organization#active_member and grantor can grant" {
					t.Errorf("rule %q", e.Rule)
				}
				if len(e.Broken) != 1 || e.Broken[0].Condition != tc.condition {
					t.Fatalf("%s: broken %+v, want one %q", e.Relationship, e.Broken, tc.condition)
				}
				b := e.Broken[0]
				if len(b.Path) == 0 || len(b.Ends) != 1 || b.Ends[0].String() != tc.ends {
					t.Errorf("%s: path %v ends %v, want the path to run through %s", e.Relationship, b.Path, b.Ends, tc.ends)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.ending) {
				t.Fatalf("ending %v, want %v", got, tc.ending)
			}

			// Perform it: what stops counting is what the preview said.
			before := f.counting(t, head)
			ups := make([]datastore.Update, len(remove))
			for i, r := range remove {
				ups[i] = datastore.Update{Op: datastore.OpDelete, Relationship: r}
			}
			rev, err := f.w.WriteRelationships(ctx, write.Request{Tenant: tuple.DefaultTenant}, ups, nil)
			if err != nil {
				t.Fatal(err)
			}
			after := f.counting(t, rev)
			var stopped []string
			for _, who := range before {
				if !slices.Contains(after, who) {
					stopped = append(stopped, who)
				}
			}
			if !slices.Equal(stopped, tc.ending) {
				t.Fatalf("performing it stopped %v; the preview said %v", stopped, tc.ending)
			}
		})
	}
}

func TestWhatIfRefusesBadQuestions(t *testing.T) {
	ctx := context.Background()
	f := partnerFixture(t)
	head, _ := f.ds.HeadRevision(ctx, tuple.DefaultTenant)
	for _, tc := range []struct {
		remove []tuple.Relationship
		want   string
	}{
		{nil, "at least one"},
		{[]tuple.Relationship{tuple.MustParse("organization:globex#member@user:nobody")}, "is not stored at revision"},
		{[]tuple.Relationship{{Resource: tuple.ObjectRef{Type: "organization", ID: "a b"}, Relation: "member", Subject: tuple.SubjectRef{Type: "user", ID: "x"}}}, "remove 0"},
	} {
		_, err := f.r.WhatIf(ctx, WhatIfRequest{Tenant: tuple.DefaultTenant, Revision: head, Remove: tc.remove})
		if err == nil || !errors.Is(err, datastore.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("remove %v: error %v, want invalid argument containing %q", tc.remove, err, tc.want)
		}
	}
}
