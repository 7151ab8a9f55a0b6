package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// lookupResources collects a LookupResources stream as "id" or "id:conditional[...]".
func (f *fixture) lookupResources(req LookupResourcesRequest) ([]string, error) {
	var out []string
	for r, err := range f.e.LookupResources(context.Background(), req) {
		if err != nil {
			return out, err
		}
		s := r.ResourceID
		if r.Permissionship == Conditional {
			s += fmt.Sprintf(":conditional%v", r.MissingContext)
		}
		out = append(out, s)
	}
	return out, nil
}

// subjectAnswer reads a subject's answer out of LookupSubjects results.
func subjectAnswer(rs []SubjectResult, id string) string {
	for _, r := range rs {
		if r.SubjectID == id {
			return answer(CheckResult{Permissionship: r.Permissionship, MissingContext: r.MissingContext})
		}
	}
	for _, r := range rs {
		if r.SubjectID == tuple.Wildcard && !slices.Contains(r.Excluded, id) {
			return answer(CheckResult{Permissionship: r.Permissionship, MissingContext: r.MissingContext})
		}
	}
	return "denied"
}

// TestLookupsAgreeWithCheck runs every semantics and paradox case through
// LookupResources and LookupSubjects: for each check of the case, LookupResources
// over the resource type must list exactly the objects Check allows (or
// conditionally allows, with the same missing context), and LookupSubjects must give
// the subject the same answer.
func TestLookupsAgreeWithCheck(t *testing.T) {
	for _, tc := range slices.Concat(semanticsCases, paradoxCases) {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.schema, tc.rels...)
			universe := map[string][]string{} // type → ids
			addID := func(typ, id string) {
				if id != tuple.Wildcard && !slices.Contains(universe[typ], id) {
					universe[typ] = append(universe[typ], id)
				}
			}
			for _, line := range tc.rels {
				r := tuple.MustParse(line)
				addID(r.Resource.Type, r.Resource.ID)
				addID(r.Subject.Type, r.Subject.ID)
			}
			for _, c := range tc.checks {
				res, perm, subj := parseCheck(t, c.check)
				addID(res.Type, res.ID)
				ctx := parseContext(t, c.context)

				// LookupResources versus Check over every object of the type.
				got, err := f.lookupResources(LookupResourcesRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, ResourceType: res.Type, Permission: perm, Subject: subj, Context: ctx})
				if err != nil {
					t.Fatalf("lookup resources for %s: %v", c.check, err)
				}
				var want []string
				ids := slices.Clone(universe[res.Type])
				sort.Strings(ids)
				for _, id := range ids {
					a := f.check(fmt.Sprintf("%s:%s#%s@%s", res.Type, id, perm, subj), c.context)
					switch {
					case a == "allowed":
						want = append(want, id)
					case strings.HasPrefix(a, "conditional"):
						want = append(want, id+":"+a)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("LookupResources(%s#%s@%s, %s) = %v, Check says %v", res.Type, perm, subj, c.context, got, want)
				}

				// LookupSubjects versus Check for this subject.
				var subjects []SubjectResult
				for r, err := range f.e.LookupSubjects(context.Background(), LookupSubjectsRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: res, Permission: perm, SubjectType: subj.Type, SubjectRelation: subj.Relation, Context: ctx}) {
					if err != nil {
						t.Fatalf("lookup subjects for %s: %v", c.check, err)
					}
					subjects = append(subjects, r)
				}
				if got := subjectAnswer(subjects, subj.ID); got != c.want {
					t.Errorf("LookupSubjects(%s#%s, %s) gives %s %s, want %s (results %+v)", res, perm, c.context, subj, got, c.want, subjects)
				}
			}
		})
	}
}

func TestLookupResourcesPagination(t *testing.T) {
	var rels []string
	for i := range 120 {
		// Some direct, some through a group, some through a folder, some banned.
		id := fmt.Sprintf("doc%03d", i)
		switch i % 4 {
		case 0:
			rels = append(rels, "document:"+id+"#viewer@user:alice")
		case 1:
			rels = append(rels, "document:"+id+"#viewer@group:eng#member")
		case 2:
			rels = append(rels, "document:"+id+"#folder@folder:f1")
		case 3:
			rels = append(rels, "document:"+id+"#viewer@user:alice", "document:"+id+"#banned@user:alice")
		}
	}
	rels = append(rels, "group:eng#member@user:alice", "folder:f1#viewer@user:alice")
	f := newFixture(t, docSchema, rels...)
	base := LookupResourcesRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, ResourceType: "document", Permission: "view", Subject: tuple.SubjectRef{Type: "user", ID: "alice"}}
	all, err := f.lookupResources(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 90 || !sort.StringsAreSorted(all) {
		t.Fatalf("got %d results (sorted %v), want 90", len(all), sort.StringsAreSorted(all))
	}
	for _, limit := range []int{1, 7, 50, 89, 90, 200} {
		var paged []string
		req := base
		req.Limit = limit
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("limit %d: too many pages", limit)
			}
			n := 0
			var last string
			for r, err := range f.e.LookupResources(context.Background(), req) {
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, r.ResourceID)
				last = r.Cursor
				n++
			}
			if n > limit {
				t.Fatalf("limit %d: page of %d", limit, n)
			}
			if n < limit {
				break
			}
			req.Cursor = last
		}
		if !slices.Equal(paged, all) {
			t.Errorf("limit %d: paged results differ from the full lookup:\n%v\n%v", limit, paged, all)
		}
	}

	// A cursor from another lookup is refused.
	var cursor string
	for r, err := range f.e.LookupResources(context.Background(), base) {
		if err != nil {
			t.Fatal(err)
		}
		cursor = r.Cursor
		break
	}
	other := base
	other.Subject = tuple.SubjectRef{Type: "user", ID: "bob"}
	other.Cursor = cursor
	if _, err := f.lookupResources(other); !errors.Is(err, ErrInvalidCursor) || !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("cursor of another subject: %v", err)
	}
	other = base
	other.Cursor = "garbage"
	if _, err := f.lookupResources(other); !errors.Is(err, ErrInvalidCursor) {
		t.Errorf("garbage cursor: %v", err)
	}
}

func TestLookupSubjectsPaginationAndWildcards(t *testing.T) {
	f := newFixture(t, docSchema,
		"document:d#viewer@user:*",
		"document:d#banned@user:mallory",
		"document:d#viewer@user:bob",
		"document:d#viewer@group:eng#member",
		"group:eng#member@user:carol",
		"group:eng#member@group:ops#member",
		"group:ops#member@user:dave",
	)
	collect := func(req LookupSubjectsRequest) []string {
		var out []string
		for r, err := range f.e.LookupSubjects(context.Background(), req) {
			if err != nil {
				t.Fatal(err)
			}
			s := r.SubjectID
			if len(r.Excluded) > 0 {
				s += fmt.Sprintf("-%v", r.Excluded)
			}
			out = append(out, s)
		}
		return out
	}
	req := LookupSubjectsRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "document", ID: "d"}, Permission: "view", SubjectType: "user"}
	all := collect(req)
	want := []string{"*-[mallory]", "bob", "carol", "dave"}
	if !slices.Equal(all, want) {
		t.Fatalf("subjects = %v, want %v", all, want)
	}
	var paged []string
	req.Limit = 1
	for range 10 {
		var last string
		n := 0
		for r, err := range f.e.LookupSubjects(context.Background(), req) {
			if err != nil {
				t.Fatal(err)
			}
			s := r.SubjectID
			if len(r.Excluded) > 0 {
				s += fmt.Sprintf("-%v", r.Excluded)
			}
			paged = append(paged, s)
			last = r.Cursor
			n++
		}
		if n == 0 {
			break
		}
		req.Cursor = last
	}
	if !slices.Equal(paged, want) {
		t.Errorf("paged = %v, want %v", paged, want)
	}
	// Subject sets as subjects.
	groups := collect(LookupSubjectsRequest{Tenant: tuple.DefaultTenant, Revision: f.rev, Resource: tuple.ObjectRef{Type: "document", ID: "d"}, Permission: "view", SubjectType: "group", SubjectRelation: "member"})
	if !slices.Equal(groups, []string{"eng", "ops"}) {
		t.Errorf("group subjects = %v", groups)
	}
}
