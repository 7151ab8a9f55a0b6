package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

const workSchema = `
definition user {}
definition group {
	relation member: user | group#member
}
definition document {
	relation viewer: user | group#member
	permission view = viewer
}`

// workFixture has 120 documents alice may view through two nested groups, and one
// document with 120 viewers.
func workFixture(t *testing.T, cfg Config) *fixture {
	rels := []string{"group:inner#member@user:alice", "group:outer#member@group:inner#member"}
	for i := range 120 {
		rels = append(rels, fmt.Sprintf("document:d%03d#viewer@group:outer#member", i), fmt.Sprintf("document:shared#viewer@user:u%03d", i))
	}
	return newFixtureConfig(t, cfg, workSchema, rels...)
}

func (f *fixture) lookupAlice(maxWork int) ([]string, error) {
	return f.lookupResources(LookupResourcesRequest{
		Tenant: tuple.DefaultTenant, Revision: f.rev, ResourceType: "document", Permission: "view",
		Subject: tuple.SubjectRef{Type: "user", ID: "alice"}, MaxWork: maxWork,
	})
}

func wantWorkError(t *testing.T, what string, err error, lookup string, limit int64) {
	t.Helper()
	var we *LookupWorkError
	if !errors.As(err, &we) || !errors.Is(err, ErrLookupWorkExceeded) || !errors.Is(err, datastore.ErrResourceExhausted) {
		t.Fatalf("%s: got %v, want a *LookupWorkError of kind ErrResourceExhausted", what, err)
	}
	if we.Lookup != lookup || we.Limit != limit {
		t.Fatalf("%s: %+v, want lookup %s and limit %d", what, *we, lookup, limit)
	}
}

// TestLookupWorkLimit finds the exact work a lookup needs and checks that one unit
// less stops it with a LookupWorkError, that the request's limit overrides the
// engine's, and that LookupSubjects is bounded the same way.
func TestLookupWorkLimit(t *testing.T) {
	f := workFixture(t, Config{CacheSize: -1})
	all, err := f.lookupAlice(0)
	if err != nil || len(all) != 120 {
		t.Fatalf("unlimited lookup: %d results, %v", len(all), err)
	}
	// The least limit under which the lookup completes.
	lo, hi := 1, 100000
	for lo < hi {
		mid := (lo + hi) / 2
		if _, err := f.lookupAlice(mid); err == nil {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	need := lo
	// It reads at least the 120 document relationships and the 2 group ones, each
	// counted, plus one per query.
	if need < 122+3 {
		t.Fatalf("the lookup completes with a limit of %d, less than the relationships it must read", need)
	}
	if got, err := f.lookupAlice(need); err != nil || len(got) != 120 {
		t.Fatalf("at its exact need of %d: %d results, %v", need, len(got), err)
	}
	got, err := f.lookupAlice(need - 1)
	wantWorkError(t, "one unit short", err, "LookupResources", int64(need-1))
	if len(got) >= 120 {
		t.Fatalf("a lookup stopped by its limit returned all %d results", len(got))
	}

	limited := workFixture(t, Config{CacheSize: -1, MaxLookupWork: 10})
	_, err = limited.lookupAlice(0)
	wantWorkError(t, "the engine's limit", err, "LookupResources", 10)
	if got, err := limited.lookupAlice(need); err != nil || len(got) != 120 {
		t.Fatalf("a request's own limit overrides the engine's: %d results, %v", len(got), err)
	}

	subjects := func(maxWork int) (int, error) {
		n := 0
		for _, err := range limited.e.LookupSubjects(context.Background(), LookupSubjectsRequest{
			Tenant: tuple.DefaultTenant, Revision: limited.rev, Resource: tuple.ObjectRef{Type: "document", ID: "shared"},
			Permission: "view", SubjectType: "user", MaxWork: maxWork,
		}) {
			if err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	}
	_, err = subjects(0)
	wantWorkError(t, "LookupSubjects under the engine's limit", err, "LookupSubjects", 10)
	if n, err := subjects(1000); err != nil || n != 120 {
		t.Fatalf("LookupSubjects with room: %d subjects, %v", n, err)
	}
}
