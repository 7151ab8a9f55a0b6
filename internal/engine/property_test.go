package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// propertySchema uses every construct: recursive subject sets, subject sets naming a
// permission, recursive arrows, .all, intersection, exclusion, wildcards, caveats
// and expiry.
const propertySchema = `
use expiration

definition user {}

caveat allowed(flag bool) { flag }

definition group {
	relation member: user | group#member | user with allowed
	relation banned: user
	permission effective = member - banned
}

definition folder {
	relation parent: folder | folder with allowed
	relation owner: user | group#member
	relation viewer: user | user:* | group#effective
	relation auditor: user
	permission view = viewer + owner + parent->view
	permission audit = auditor & parent.all(view)
}

definition document {
	relation folder: folder
	relation reader: user | group#member | user:* | user with expiration
	relation blocked: user | group#member
	permission view = (reader + folder->view) - blocked
	permission strict = reader & folder->view
	permission every = folder.all(view)
}
`

var propertyShapes = []struct {
	res, rel string
	subjects []string // subject forms; %s is replaced by an id of the subject's type
}{
	{"group", "member", []string{"user:%s", "group:%s#member", "user:%s[allowed]"}},
	{"group", "banned", []string{"user:%s"}},
	{"folder", "parent", []string{"folder:%s", "folder:%s[allowed]"}},
	{"folder", "owner", []string{"user:%s", "group:%s#member"}},
	{"folder", "viewer", []string{"user:%s", "user:*", "group:%s#effective"}},
	{"folder", "auditor", []string{"user:%s"}},
	{"document", "folder", []string{"folder:%s"}},
	{"document", "reader", []string{"user:%s", "group:%s#member", "user:*", "user:%s[expiration:2026-01-01T12:30:00Z]"}},
	{"document", "blocked", []string{"user:%s", "group:%s#member"}},
}

var propertyIDs = map[string][]string{
	"user":     {"u0", "u1", "u2", "u3"},
	"group":    {"g0", "g1", "g2"},
	"folder":   {"f0", "f1", "f2"},
	"document": {"d0", "d1", "d2", "d3"},
}

var propertyPerms = map[string][]string{
	"group":    {"member", "effective"},
	"folder":   {"view", "audit", "parent"},
	"document": {"view", "strict", "every", "reader"},
}

func randomRelationship(r *rand.Rand) string {
	sh := propertyShapes[r.IntN(len(propertyShapes))]
	form := sh.subjects[r.IntN(len(sh.subjects))]
	typ := form[:strings.IndexByte(form, ':')]
	if strings.Contains(form, "%s") {
		ids := propertyIDs[typ]
		form = fmt.Sprintf(form, ids[r.IntN(len(ids))])
	}
	resIDs := propertyIDs[sh.res]
	return fmt.Sprintf("%s:%s#%s@%s", sh.res, resIDs[r.IntN(len(resIDs))], sh.rel, form)
}

// TestPropertyEngineAgrees generates random data and checks that, at every revision
// and time: a cached concurrent engine and an uncached inline one answer every check
// alike; CheckBulk equals Check; LookupResources lists exactly what Check allows; and
// LookupSubjects gives every user the answer Check gives.
func TestPropertyEngineAgrees(t *testing.T) {
	seeds := 30
	if testing.Short() {
		seeds = 5
	}
	contexts := []string{"", `{"flag":true}`, `{"flag":false}`}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		var rels []string
		for range 10 + r.IntN(20) {
			rels = append(rels, randomRelationship(r))
		}
		f := newFixture(t, propertySchema, rels...)
		cold := New(f.ds, Config{CacheSize: -1, MaxConcurrency: 1, Now: f.clock.Now})
		rev1 := f.rev

		compare := func(phase string, rev datastore.Revision) {
			t.Helper()
			var bulk []CheckRequest
			var want []string
			for _, typ := range []string{"group", "folder", "document"} {
				for _, perm := range propertyPerms[typ] {
					for _, user := range propertyIDs["user"] {
						for _, cx := range contexts {
							subj := tuple.SubjectRef{Type: "user", ID: user}
							var allowed []string
							for _, id := range propertyIDs[typ] {
								req := CheckRequest{Tenant: tuple.DefaultTenant, Revision: rev, Resource: tuple.ObjectRef{Type: typ, ID: id}, Permission: perm, Subject: subj, Context: parseContext(t, cx)}
								hot, err1 := f.e.Check(context.Background(), req)
								ref, err2 := cold.Check(context.Background(), req)
								if err1 != nil || err2 != nil {
									t.Fatalf("seed %d %s: %s:%s#%s@%s: %v / %v", seed, phase, typ, id, perm, subj, err1, err2)
								}
								if answer(hot) != answer(ref) {
									t.Fatalf("seed %d %s: %s:%s#%s@%s %s: cached %s, uncached %s\ndata: %v", seed, phase, typ, id, perm, subj, cx, answer(hot), answer(ref), rels)
								}
								bulk = append(bulk, req)
								want = append(want, answer(ref))
								switch a := answer(ref); {
								case a == "allowed":
									allowed = append(allowed, id)
								case a != "denied":
									allowed = append(allowed, id+":"+a)
								}
							}
							got, err := f.lookupResources(LookupResourcesRequest{Tenant: tuple.DefaultTenant, Revision: rev, ResourceType: typ, Permission: perm, Subject: subj, Context: parseContext(t, cx)})
							if err != nil {
								t.Fatal(err)
							}
							if !slices.Equal(got, allowed) {
								t.Fatalf("seed %d %s: LookupResources(%s#%s@%s %s) = %v, checks say %v\ndata: %v", seed, phase, typ, perm, subj, cx, got, allowed, rels)
							}
						}
					}
					for _, id := range propertyIDs[typ] {
						for _, cx := range contexts {
							var subjects []SubjectResult
							for s, err := range f.e.LookupSubjects(context.Background(), LookupSubjectsRequest{Tenant: tuple.DefaultTenant, Revision: rev, Resource: tuple.ObjectRef{Type: typ, ID: id}, Permission: perm, SubjectType: "user", Context: parseContext(t, cx)}) {
								if err != nil {
									t.Fatal(err)
								}
								subjects = append(subjects, s)
							}
							for _, user := range propertyIDs["user"] {
								ref, err := cold.Check(context.Background(), CheckRequest{Tenant: tuple.DefaultTenant, Revision: rev, Resource: tuple.ObjectRef{Type: typ, ID: id}, Permission: perm, Subject: tuple.SubjectRef{Type: "user", ID: user}, Context: parseContext(t, cx)})
								if err != nil {
									t.Fatal(err)
								}
								if got := subjectAnswer(subjects, user); got != answer(ref) {
									t.Fatalf("seed %d %s: LookupSubjects(%s:%s#%s %s) gives %s %s, Check %s\nresults: %+v\ndata: %v", seed, phase, typ, id, perm, cx, user, got, answer(ref), subjects, rels)
								}
							}
						}
					}
				}
			}
			for i, br := range f.e.CheckBulk(context.Background(), bulk) {
				if br.Err != nil || answer(br.Result) != want[i] {
					t.Fatalf("seed %d %s: CheckBulk[%d] %+v = %s %v, want %s", seed, phase, i, bulk[i], answer(br.Result), br.Err, want[i])
				}
			}
		}

		compare("rev1", rev1)
		// Interleaved writes: a new revision with more and fewer relationships; the old
		// revision must keep its answers.
		var more []string
		for range 5 {
			more = append(more, randomRelationship(r))
		}
		f.touch(more...)
		f.delete(rels[:len(rels)/3]...)
		compare("rev3", f.rev)
		compare("rev1-again", rev1)
		// Expiry: the expiring relationships lapse; cached answers must follow.
		f.clock.Advance(time.Hour)
		compare("rev3-expired", f.rev)
		compare("rev1-expired", rev1)
	}
}
