package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// partnerSchema is the partner story of docs/schema.md: a partner's admin shares a
// project with the partner's own people, each grant held while the grantee stays an
// active member of the partner and the admin keeps the right to grant.
const partnerSchema = `
use expiration

caveat flagged(flag bool) { flag }

definition user {}

definition team {
	relation member: user
}

definition organization {
	relation parent: organization
	relation admin: user
	relation member: user | user with expiration | user with flagged | team#member
	relation suspended: user
	permission active_member = (member + admin) - suspended
	permission manage = (admin - suspended) + parent->manage

	grant member by manage
}

definition project {
	relation owner: organization
	relation partner: organization
	relation viewer: user
	relation partner_viewer: user | user with expiration | team#member
	permission manage = owner->manage
	permission view = viewer + partner_viewer

	grant viewer by manage
	grant partner_viewer by partner->manage
		while grantee in organization#active_member and grantor can grant
}
`

var partnerData = []string{
	"organization:acme#admin@user:alice",
	"project:apollo#owner@organization:acme",
	"project:apollo#partner@organization:partner",
	"organization:partner#admin@user:eve",
	"organization:partner#member@user:pat",
	"organization:partner#member@user:sam",
	"project:apollo#viewer@user:sam",
}

// grant writes relationships as delegated grants by actor via the object via, as the
// write path records them.
func (f *fixture) grant(by, via string, rels ...string) datastore.Revision {
	f.t.Helper()
	var ups []datastore.Update
	for _, line := range rels {
		r := tuple.MustParse(line)
		r.Granted = &tuple.Grant{By: tuple.MustParse("xxx:x#xxx@" + by).Subject, Via: tuple.MustParse(via + "#xxx@xxx:x").Resource}
		ups = append(ups, datastore.Update{Op: datastore.OpTouch, Relationship: r})
	}
	rev, err := f.ds.ReadWriteTx(context.Background(), tuple.DefaultTenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
		return tx.WriteRelationships(ctx, ups)
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.rev = rev
	return rev
}

func (f *fixture) checkAt(rev datastore.Revision, check string) string {
	f.t.Helper()
	req := f.req(check, "")
	req.Revision = rev
	r, err := f.e.Check(context.Background(), req)
	if err != nil {
		f.t.Fatalf("check %s at %d: %v", check, rev, err)
	}
	return answer(r)
}

// lookupsAgree asserts that LookupResources and LookupSubjects agree with Check on
// project:apollo for every user of the partner story.
func (f *fixture) lookupsAgree(perm string) {
	f.t.Helper()
	var subjects []SubjectResult
	for s, err := range f.e.LookupSubjects(context.Background(), LookupSubjectsRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "project", ID: "apollo"}, Permission: perm, SubjectType: "user"}) {
		if err != nil {
			f.t.Fatal(err)
		}
		subjects = append(subjects, s)
	}
	for _, u := range []string{"alice", "eve", "pat", "sam", "tom"} {
		want := f.check("project:apollo#"+perm+"@user:"+u, "")
		if got := subjectAnswer(subjects, u); got != want {
			f.t.Errorf("LookupSubjects(project:apollo#%s) gives user:%s %s, Check %s", perm, u, got, want)
		}
		got, err := f.lookupResources(LookupResourcesRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, ResourceType: "project", Permission: perm, Subject: tuple.SubjectRef{Type: "user", ID: u}})
		if err != nil {
			f.t.Fatal(err)
		}
		if lr := slices.Contains(got, "apollo"); lr != (want == "allowed") {
			f.t.Errorf("LookupResources(project#%s@user:%s) = %v, Check %s", perm, u, got, want)
		}
	}
}

func TestDependentGrantEndsWithMembership(t *testing.T) {
	f := newFixture(t, partnerSchema, partnerData...)
	granted := f.grant("user:eve", "organization:partner", "project:apollo#partner_viewer@user:pat")
	if got := f.check("project:apollo#view@user:pat", ""); got != "allowed" {
		t.Fatalf("grant while a member: %s, want allowed", got)
	}
	f.lookupsAgree("view")
	f.lookupsAgree("partner_viewer")

	left := f.delete("organization:partner#member@user:pat")
	if got := f.checkAt(left, "project:apollo#view@user:pat"); got != "denied" {
		t.Fatalf("after the membership ended: %s, want denied", got)
	}
	if got := f.checkAt(granted, "project:apollo#view@user:pat"); got != "allowed" {
		t.Fatalf("at the grant's revision: %s, want allowed", got)
	}
	f.lookupsAgree("view")

	// Back as a member: the stored grant counts again.
	f.touch("organization:partner#member@user:pat")
	if got := f.check("project:apollo#view@user:pat", ""); got != "allowed" {
		t.Fatalf("member again: %s, want allowed", got)
	}
	f.touch("organization:partner#suspended@user:pat")
	if got := f.check("project:apollo#view@user:pat", ""); got != "denied" {
		t.Fatalf("suspended grantee: %s, want denied", got)
	}
	f.lookupsAgree("view")
}

func TestDependentGrantEndsWithGrantorsRight(t *testing.T) {
	f := newFixture(t, partnerSchema, partnerData...)
	f.grant("user:eve", "organization:partner", "project:apollo#partner_viewer@user:pat")
	// An admin-written relationship (no grantor) is not bound to anything.
	f.touch("project:apollo#partner_viewer@user:sam")
	before := f.rev

	f.delete("organization:partner#admin@user:eve")
	if got := f.check("project:apollo#partner_viewer@user:pat", ""); got != "denied" {
		t.Fatalf("grantor demoted: %s, want denied", got)
	}
	if got := f.checkAt(before, "project:apollo#partner_viewer@user:pat"); got != "allowed" {
		t.Fatalf("before the demotion: %s, want allowed", got)
	}
	if got := f.check("project:apollo#partner_viewer@user:sam", ""); got != "allowed" {
		t.Fatalf("admin-written grant: %s, want allowed", got)
	}
	f.lookupsAgree("partner_viewer")

	// The grantor's right through a parent organisation: re-parenting ends it.
	f.touch("organization:partner#parent@organization:holding", "organization:holding#admin@user:hal")
	f.grant("user:hal", "organization:partner", "project:apollo#partner_viewer@user:sam")
	f.delete("project:apollo#partner_viewer@user:sam")
	f.grant("user:hal", "organization:partner", "project:apollo#partner_viewer@user:sam")
	if got := f.check("project:apollo#partner_viewer@user:sam", ""); got != "allowed" {
		t.Fatalf("grant by the parent's admin: %s, want allowed", got)
	}
	f.delete("organization:partner#parent@organization:holding")
	if got := f.check("project:apollo#partner_viewer@user:sam", ""); got != "denied" {
		t.Fatalf("re-parented out of the grantor's scope: %s, want denied", got)
	}
	f.lookupsAgree("partner_viewer")
}

func TestDependentGrantConditionsCombine(t *testing.T) {
	f := newFixture(t, partnerSchema, partnerData...)
	// A grant made through an object of another type never satisfies `grantee in
	// organization#...`.
	f.grant("user:eve", "team:t1", "project:apollo#partner_viewer@user:sam")
	if got := f.check("project:apollo#partner_viewer@user:sam", ""); got != "denied" {
		t.Fatalf("via of another type: %s, want denied", got)
	}
	// A conditional membership makes the grant conditional.
	f.touch("organization:partner#member@user:tom[flagged]")
	f.grant("user:eve", "organization:partner", "project:apollo#partner_viewer@user:tom")
	if got := f.check("project:apollo#partner_viewer@user:tom", ""); got != "conditional[flag]" {
		t.Fatalf("conditional membership: %s, want conditional[flag]", got)
	}
	if got := f.check("project:apollo#partner_viewer@user:tom", `{"flag":false}`); got != "denied" {
		t.Fatalf("membership caveat false: %s, want denied", got)
	}
	f.lookupsAgree("partner_viewer")

	// An expiring membership ends the grant when it expires, through a warm cache.
	f.delete("organization:partner#member@user:pat")
	f.touch("organization:partner#member@user:pat[expiration:2026-01-01T12:30:00Z]")
	f.grant("user:eve", "organization:partner", "project:apollo#partner_viewer@user:pat")
	if got := f.check("project:apollo#view@user:pat", ""); got != "allowed" {
		t.Fatalf("before the membership expires: %s, want allowed", got)
	}
	f.clock.Advance(time.Hour)
	if got := f.check("project:apollo#view@user:pat", ""); got != "denied" {
		t.Fatalf("after the membership expired: %s, want denied", got)
	}

	// A subject-set grantee is checked as the set.
	f.touch("team:t2#member@user:ann")
	f.grant("user:eve", "organization:partner", "project:apollo#partner_viewer@team:t2#member")
	if got := f.check("project:apollo#partner_viewer@user:ann", ""); got != "denied" {
		t.Fatalf("team not a member: %s, want denied", got)
	}
	f.touch("organization:partner#member@team:t2#member")
	if got := f.check("project:apollo#partner_viewer@user:ann", ""); got != "allowed" {
		t.Fatalf("team a member: %s, want allowed", got)
	}
	f.lookupsAgree("partner_viewer")
}

func TestDependentGrantExplained(t *testing.T) {
	f := newFixture(t, partnerSchema, partnerData...)
	f.grant("user:eve", "organization:partner", "project:apollo#partner_viewer@user:pat")
	deps := func() map[string]Permissionship {
		out := map[string]Permissionship{}
		var walk func(n *ExplainNode)
		walk = func(n *ExplainNode) {
			if n.Kind == NodeDependency {
				out[n.Expression+" "+n.Resource.String()+"#"+n.Relation+"@"+n.Subject.String()] = n.Result
			}
			for _, c := range n.Children {
				walk(c)
			}
		}
		walk(f.explained("project:apollo#partner_viewer@user:pat", ""))
		return out
	}
	got := deps()
	want := map[string]Permissionship{
		"grantee in organization#active_member organization:partner#active_member@user:pat":                HasPermission,
		"grantor can grant project:apollo#" + f.grantPermission("project", "partner_viewer") + "@user:eve": HasPermission,
	}
	if !mapsEqual(got, want) {
		t.Fatalf("satisfied dependencies explained as %v, want %v", got, want)
	}
	f.delete("organization:partner#member@user:pat")
	got = deps()
	want = map[string]Permissionship{"grantee in organization#active_member organization:partner#active_member@user:pat": NoPermission}
	if !mapsEqual(got, want) {
		t.Fatalf("ended dependency explained as %v, want %v", got, want)
	}
}

func (f *fixture) grantPermission(typ, rel string) string {
	cs, err := f.e.schemaAt(context.Background(), tuple.DefaultTenant, f.rev)
	if err != nil {
		f.t.Fatal(err)
	}
	return cs.s.GrantRule(typ, rel).Permission
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestDependentGrantsLoopingBack: two rules whose conditions lead into each other's
// grants end at the depth limit with a clear error instead of hanging.
func TestDependentGrantsLoopingBack(t *testing.T) {
	const loop = `
definition user {}
definition aaa {
	relation admin: user
	relation member: user
	permission manage = admin
	grant member by manage while grantee in bbb#member
}
definition bbb {
	relation admin: user
	relation member: user
	permission manage = admin
	grant member by manage while grantee in aaa#member
}`
	f := newFixture(t, loop, "aaa:x#admin@user:ann", "bbb:x#admin@user:ann")
	f.grant("user:ann", "bbb:x", "aaa:x#member@user:bob")
	f.grant("user:ann", "aaa:x", "bbb:x#member@user:bob")
	_, err := f.e.Check(context.Background(), f.req("aaa:x#member@user:bob", ""))
	var de *DepthError
	if !errors.As(err, &de) {
		t.Fatalf("looping dependencies: %v, want a depth error", err)
	}
	if !strings.Contains(err.Error(), "depth") {
		t.Fatalf("error %q does not name the depth limit", err)
	}
}

// Expand shows a dependent grant while its conditions hold and leaves it out once
// they end, as Check counts it; a grant without dependencies stays.
func TestDependentGrantExpanded(t *testing.T) {
	f := newFixture(t, partnerSchema, partnerData...)
	f.grant("user:eve", "organization:partner", "project:apollo#partner_viewer@user:pat", "project:apollo#partner_viewer@user:sam")
	subjects := func() []string {
		t.Helper()
		tree, err := f.e.Expand(context.Background(), ExpandRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "project", ID: "apollo"}, Permission: "partner_viewer"})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range tree.Subjects {
			out = append(out, s.Subject.String())
		}
		slices.Sort(out)
		return out
	}
	if got := subjects(); !slices.Equal(got, []string{"user:pat", "user:sam"}) {
		t.Fatalf("while both hold: %v", got)
	}
	f.delete("organization:partner#member@user:pat")
	if got := subjects(); !slices.Equal(got, []string{"user:sam"}) {
		t.Fatalf("after pat left the partner: %v, want only user:sam", got)
	}
	if got := f.check("project:apollo#partner_viewer@user:pat", ""); got != "denied" {
		t.Fatalf("check after pat left: %s", got)
	}
	// The grantor loses the right to grant: every grant of theirs ends.
	f.delete("organization:partner#admin@user:eve")
	if got := subjects(); len(got) != 0 {
		t.Fatalf("after the grantor lost the right: %v, want none", got)
	}
}
