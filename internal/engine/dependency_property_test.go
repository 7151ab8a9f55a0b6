package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// depWorld is the state of a random dependency property run: relationships by key,
// each possibly a delegated grant.
type depWorld struct {
	rels map[tuple.Key]tuple.Relationship
	// deps is the rule's "while" clause as generated: grantee in
	// organization#<granteeRel> (when granteeRel is set) and grantor can grant (when
	// grantor is set).
	granteeRel string
	grantor    bool
}

var (
	depOrgs     = []string{"o0", "o1", "o2", "o3"}
	depUsers    = []string{"u0", "u1", "u2", "u3"}
	depProjects = []string{"p0", "p1"}
)

func (w *depWorld) has(res, rel, user string) bool {
	_, ok := w.rels[tuple.MustParse(res+"#"+rel+"@user:"+user).Key()]
	return ok
}

// manage is organization#manage evaluated from scratch: an unsuspended admin of the
// organisation or of any organisation above it. A cycle of parents adds nothing.
func (w *depWorld) manage(org, user string, seen map[string]bool) bool {
	if seen[org] {
		return false
	}
	seen[org] = true
	o := "organization:" + org
	if w.has(o, "admin", user) && !w.has(o, "suspended", user) {
		return true
	}
	for _, r := range w.rels {
		if r.Resource.Type == "organization" && r.Resource.ID == org && r.Relation == "parent" && w.manage(r.Subject.ID, user, seen) {
			return true
		}
	}
	return false
}

func (w *depWorld) orgRelation(org, rel, user string) bool {
	o := "organization:" + org
	switch rel {
	case "member":
		return w.has(o, "member", user)
	case "active_member":
		return (w.has(o, "member", user) || w.has(o, "admin", user)) && !w.has(o, "suspended", user)
	}
	return w.manage(org, user, map[string]bool{})
}

// canGrant is the rule's expression, partner->manage, on a project for a grantor.
func (w *depWorld) canGrant(project, user string) bool {
	for _, r := range w.rels {
		if r.Resource.Type == "project" && r.Resource.ID == project && r.Relation == "partner" && w.manage(r.Subject.ID, user, map[string]bool{}) {
			return true
		}
	}
	return false
}

// view is project#view for user, from scratch: a shared relationship that is not a
// delegated grant, or one whose every condition holds.
func (w *depWorld) view(project, user string) bool {
	r, ok := w.rels[tuple.MustParse("project:"+project+"#shared@user:"+user).Key()]
	if !ok {
		return false
	}
	if r.Granted == nil {
		return true
	}
	if w.granteeRel != "" && (r.Granted.Via.Type != "organization" || !w.orgRelation(r.Granted.Via.ID, w.granteeRel, user)) {
		return false
	}
	return !w.grantor || w.canGrant(project, r.Granted.By.ID)
}

func (w *depWorld) schema() string {
	var while []string
	if w.granteeRel != "" {
		while = append(while, "grantee in organization#"+w.granteeRel)
	}
	if w.grantor {
		while = append(while, "grantor can grant")
	}
	clause := ""
	for i, c := range while {
		if i == 0 {
			clause += " while " + c
		} else {
			clause += " and " + c
		}
	}
	return `
definition user {}
definition organization {
	relation parent: organization
	relation admin: user
	relation member: user
	relation suspended: user
	permission active_member = (member + admin) - suspended
	permission manage = (admin - suspended) + parent->manage
	grant member, admin, suspended by manage
}
definition project {
	relation partner: organization
	relation shared: user
	permission view = shared
	grant shared by partner->manage` + clause + `
}`
}

// randomChange is one membership, role, tree or grant change: a touch or a delete.
func (w *depWorld) randomChange(r *rand.Rand) (tuple.Relationship, datastore.Operation) {
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	var rel tuple.Relationship
	switch r.IntN(6) {
	case 0, 1:
		rel = tuple.MustParse(fmt.Sprintf("organization:%s#%s@user:%s", pick(depOrgs), pick([]string{"admin", "member", "member", "suspended"}), pick(depUsers)))
	case 2:
		rel = tuple.MustParse(fmt.Sprintf("organization:%s#parent@organization:%s", pick(depOrgs), pick(depOrgs)))
	case 3:
		rel = tuple.MustParse(fmt.Sprintf("project:%s#partner@organization:%s", pick(depProjects), pick(depOrgs)))
	default:
		rel = tuple.MustParse(fmt.Sprintf("project:%s#shared@user:%s", pick(depProjects), pick(depUsers)))
		if r.IntN(5) > 0 {
			via := tuple.ObjectRef{Type: "organization", ID: pick(depOrgs)}
			if r.IntN(8) == 0 {
				via = tuple.ObjectRef{Type: "project", ID: pick(depProjects)}
			}
			rel.Granted = &tuple.Grant{By: tuple.SubjectRef{Type: "user", ID: pick(depUsers)}, Via: via}
		}
	}
	if _, ok := w.rels[rel.Key()]; ok && r.IntN(2) == 0 {
		return w.rels[rel.Key()], datastore.OpDelete
	}
	return rel, datastore.OpTouch
}

// TestPropertyDependentGrants: for random organisation trees, grants and dependency
// rules, whether a grant counts equals the rule evaluated from scratch after every
// membership, role, tree and grant change, through a cached engine (whose answers at
// earlier revisions stay cached) and an uncached one, and LookupResources and
// LookupSubjects agree.
func TestPropertyDependentGrants(t *testing.T) {
	seeds, steps := 24, 40
	if testing.Short() {
		seeds, steps = 6, 25
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 12))
		w := &depWorld{rels: map[tuple.Key]tuple.Relationship{}, grantor: r.IntN(2) == 0}
		if v := r.IntN(3); v > 0 {
			w.granteeRel = []string{"", "active_member", "member"}[v]
		}
		f := newFixture(t, w.schema())
		cold := New(f.ds, Config{CacheSize: -1, MaxConcurrency: 1, Now: f.clock.Now})
		var history []string
		for step := range steps {
			rel, op := w.randomChange(r)
			if _, err := f.ds.ReadWriteTx(context.Background(), tuple.DefaultTenant, datastore.TxMetadata{}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
				return tx.WriteRelationships(ctx, []datastore.Update{{Op: op, Relationship: rel}})
			}); err != nil {
				t.Fatal(err)
			}
			rev, err := f.ds.HeadRevision(context.Background(), tuple.DefaultTenant)
			if err != nil {
				t.Fatal(err)
			}
			f.rev = rev
			if op == datastore.OpDelete {
				delete(w.rels, rel.Key())
			} else {
				w.rels[rel.Key()] = rel
			}
			history = append(history, fmt.Sprintf("%v %s", op, tuple.Format(rel)))
			for _, p := range depProjects {
				var want []string
				for _, u := range depUsers {
					req := f.req("project:"+p+"#view@user:"+u, "")
					exp := "denied"
					if w.view(p, u) {
						exp = "allowed"
						want = append(want, u)
					}
					for name, e := range map[string]*Engine{"cached": f.e, "uncached": cold} {
						got, err := e.Check(context.Background(), req)
						if err != nil {
							t.Fatalf("seed %d step %d: %s check: %v", seed, step, name, err)
						}
						if answer(got) != exp {
							t.Fatalf("seed %d step %d (%s): %s project:%s#view@user:%s = %s, from scratch %s\nchanges:\n%s", seed, step, w.schema(), name, p, u, answer(got), exp, joinLines(history))
						}
					}
					lr, err := f.lookupResources(LookupResourcesRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, ResourceType: "project", Permission: "view", Subject: req.Subject})
					if err != nil {
						t.Fatal(err)
					}
					if slices.Contains(lr, p) != (exp == "allowed") {
						t.Fatalf("seed %d step %d: LookupResources(project#view@user:%s) = %v, from scratch %s on %s\nchanges:\n%s", seed, step, u, lr, exp, p, joinLines(history))
					}
				}
				var got []string
				for s, err := range f.e.LookupSubjects(context.Background(), LookupSubjectsRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "project", ID: p}, Permission: "view", SubjectType: "user"}) {
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, s.SubjectID)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d step %d: LookupSubjects(project:%s#view) = %v, from scratch %v\nchanges:\n%s", seed, step, p, got, want, joinLines(history))
				}
			}
		}
	}
}

func joinLines(xs []string) string {
	out := ""
	for _, x := range xs {
		out += "  " + x + "\n"
	}
	return out
}
