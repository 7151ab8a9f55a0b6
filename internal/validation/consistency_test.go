package validation

// Cross-API consistency: for a loaded data set, Check, CheckBulk, LookupResources and
// LookupSubjects must give the same answer for every resource, permission and subject
// the data mentions, and Check must agree with the reference evaluator.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// pageSize is the limit used to check that paged lookups return what one call does.
const pageSize = 2

// freshSubjectID names a subject that appears in no relationship: only a wildcard can
// grant it, so checking it tells whether a lookup must return a wildcard.
const freshSubjectID = "pemba-fresh-subject"

// consistencyInput is what crossCheck works on.
type consistencyInput struct {
	eng  *engine.Engine
	rev  datastore.Revision
	sch  *schema.Schema
	rels []tuple.Relationship
	// ctx is the caveat context sent with every request (nil for none).
	ctx map[string]any
	// ref, when set, is compared with every Check.
	ref *refEval
}

// answer is a permissionship with its missing context, comparable.
type answer struct {
	p       engine.Permissionship
	missing string
}

func answerOf(p engine.Permissionship, missing []string) answer {
	m := slices.Clone(missing)
	sort.Strings(m)
	return answer{p, strings.Join(m, ",")}
}

func (a answer) String() string {
	if a.p == engine.Conditional {
		return "conditional[" + a.missing + "]"
	}
	return a.p.String()
}

type checkKey struct {
	resource   tuple.ObjectRef
	permission string
	subject    tuple.SubjectRef
}

func (k checkKey) String() string {
	return k.resource.String() + "#" + k.permission + "@" + k.subject.String()
}

// crossCheck returns how many questions it asked and one line per inconsistency.
func crossCheck(ctx context.Context, in consistencyInput) (int, []string, error) {
	ids := map[string]bool{}
	subjects := map[tuple.SubjectRef]bool{}
	for _, r := range in.rels {
		ids[r.Resource.ID] = true
		if !r.Subject.IsWildcard() {
			ids[r.Subject.ID] = true
			subjects[r.Subject] = true
		}
	}
	idList := slices.Sorted(maps.Keys(ids))
	subjectList := slices.SortedFunc(maps.Keys(subjects), func(a, b tuple.SubjectRef) int { return strings.Compare(a.String(), b.String()) })
	type resRel struct {
		typ, rel string
	}
	var resRels []resRel
	for _, name := range in.sch.DefinitionNames() {
		d := in.sch.Definition(name)
		for _, rel := range d.Order {
			if r := d.Relations[rel]; r != nil && !r.Synthetic {
				resRels = append(resRels, resRel{name, rel})
			}
		}
	}
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < 40 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	answers := map[checkKey]answer{}
	var keys []checkKey
	asked := 0
	check := func(k checkKey) (answer, error) {
		res, err := in.eng.Check(ctx, engine.CheckRequest{Revision: in.rev, Resource: k.resource, Permission: k.permission, Subject: k.subject, Context: in.ctx})
		asked++
		if err != nil {
			return answer{}, fmt.Errorf("check %s: %w", k, err)
		}
		return answerOf(res.Permissionship, res.MissingContext), nil
	}
	tables := map[tuple.SubjectRef]map[pairKey]tri{}
	for _, rr := range resRels {
		for _, id := range idList {
			for _, s := range subjectList {
				k := checkKey{tuple.ObjectRef{Type: rr.typ, ID: id}, rr.rel, s}
				a, err := check(k)
				if err != nil {
					return asked, problems, err
				}
				answers[k] = a
				keys = append(keys, k)
				if in.ref == nil {
					continue
				}
				tab, ok := tables[s]
				if !ok {
					if tab, err = in.ref.table(s, in.ctx, k.resource); err != nil {
						return asked, problems, err
					}
					tables[s] = tab
				}
				want, ok := tab[pairKey{k.resource, k.permission}]
				if !ok {
					if want, err = in.ref.check(k.resource, k.permission, s, in.ctx); err != nil {
						return asked, problems, err
					}
				}
				if want.state != triState(map[engine.Permissionship]triState{engine.NoPermission: triFalse, engine.HasPermission: triTrue, engine.Conditional: triCond}[a.p]) {
					report("Check %s = %s, reference evaluator %s", k, a, want)
				}
			}
		}
	}

	// CheckBulk answers every question as Check did, in request order.
	for start := 0; start < len(keys); start += 500 {
		batch := keys[start:min(start+500, len(keys))]
		reqs := make([]engine.CheckRequest, len(batch))
		for i, k := range batch {
			reqs[i] = engine.CheckRequest{Revision: in.rev, Resource: k.resource, Permission: k.permission, Subject: k.subject, Context: in.ctx}
		}
		results := in.eng.CheckBulk(ctx, reqs)
		asked += len(reqs)
		if len(results) != len(reqs) {
			report("CheckBulk of %d checks returned %d results", len(reqs), len(results))
			continue
		}
		for i, r := range results {
			if r.Err != nil {
				report("CheckBulk %s: %v", batch[i], r.Err)
				continue
			}
			if got := answerOf(r.Result.Permissionship, r.Result.MissingContext); got != answers[batch[i]] {
				report("CheckBulk %s = %s, Check %s", batch[i], got, answers[batch[i]])
			}
		}
	}

	// LookupResources returns exactly the resources Check allows, with the same answer.
	for _, s := range subjectList {
		for _, rr := range resRels {
			want := map[string]answer{}
			for _, id := range idList {
				if a := answers[checkKey{tuple.ObjectRef{Type: rr.typ, ID: id}, rr.rel, s}]; a.p != engine.NoPermission {
					want[id] = a
				}
			}
			got := map[string]answer{}
			var order []string
			req := engine.LookupResourcesRequest{Revision: in.rev, ResourceType: rr.typ, Permission: rr.rel, Subject: s, Context: in.ctx}
			for res, err := range in.eng.LookupResources(ctx, req) {
				if err != nil {
					return asked, problems, fmt.Errorf("LookupResources %s#%s for %s: %w", rr.typ, rr.rel, s, err)
				}
				if _, dup := got[res.ResourceID]; dup {
					report("LookupResources %s#%s for %s returned %s twice", rr.typ, rr.rel, s, res.ResourceID)
				}
				got[res.ResourceID] = answerOf(res.Permissionship, res.MissingContext)
				order = append(order, res.ResourceID)
			}
			asked++
			if !maps.Equal(want, got) {
				report("LookupResources %s#%s for %s = %v, Check says %v", rr.typ, rr.rel, s, got, want)
			}
			// Paging with a small limit returns the same results in the same order.
			var paged []string
			for page := 0; ; page++ {
				if page > len(order)+1 {
					report("LookupResources %s#%s for %s: paging by %d does not end", rr.typ, rr.rel, s, pageSize)
					break
				}
				req.Limit = pageSize
				n, last := 0, ""
				for res, err := range in.eng.LookupResources(ctx, req) {
					if err != nil {
						return asked, problems, fmt.Errorf("LookupResources %s#%s for %s, page %d: %w", rr.typ, rr.rel, s, page+1, err)
					}
					paged = append(paged, res.ResourceID)
					n, last = n+1, res.Cursor
				}
				asked++
				if n > pageSize {
					report("LookupResources %s#%s for %s: page of %d results with limit %d", rr.typ, rr.rel, s, n, pageSize)
				}
				if n < pageSize {
					break
				}
				req.Cursor = last
			}
			if !slices.Equal(paged, order) {
				report("LookupResources %s#%s for %s by pages of %d = %v, in one call %v", rr.typ, rr.rel, s, pageSize, paged, order)
			}
		}
	}

	// LookupSubjects agrees with Check for every subject of every subject type the data
	// uses, a wildcard result standing for every subject it neither excludes nor lists
	// on its own.
	type subjType struct{ typ, rel string }
	var subjTypes []subjType
	seenTypes := map[subjType]bool{}
	for _, s := range subjectList {
		st := subjType{s.Type, s.Relation}
		if !seenTypes[st] {
			seenTypes[st] = true
			subjTypes = append(subjTypes, st)
		}
	}
	for _, rr := range resRels {
		for _, id := range idList {
			resource := tuple.ObjectRef{Type: rr.typ, ID: id}
			for _, st := range subjTypes {
				explicit := map[string]answer{}
				var wildcard *answer
				excluded := map[string]bool{}
				var order []string
				lsReq := engine.LookupSubjectsRequest{Revision: in.rev, Resource: resource, Permission: rr.rel, SubjectType: st.typ, SubjectRelation: st.rel, Context: in.ctx}
				for res, err := range in.eng.LookupSubjects(ctx, lsReq) {
					if err != nil {
						return asked, problems, fmt.Errorf("LookupSubjects %s#%s for %s#%s: %w", resource, rr.rel, st.typ, st.rel, err)
					}
					a := answerOf(res.Permissionship, res.MissingContext)
					order = append(order, res.SubjectID)
					if res.SubjectID == tuple.Wildcard {
						wildcard = &a
						for _, x := range res.Excluded {
							excluded[x] = true
						}
						continue
					}
					if _, dup := explicit[res.SubjectID]; dup {
						report("LookupSubjects %s#%s for %s returned %s twice", resource, rr.rel, st.typ, res.SubjectID)
					}
					explicit[res.SubjectID] = a
				}
				var paged []string
				for page := 0; ; page++ {
					if page > len(order)+1 {
						report("LookupSubjects %s#%s for %s: paging by %d does not end", resource, rr.rel, st.typ, pageSize)
						break
					}
					lsReq.Limit = pageSize
					n, last := 0, ""
					for res, err := range in.eng.LookupSubjects(ctx, lsReq) {
						if err != nil {
							return asked, problems, fmt.Errorf("LookupSubjects %s#%s for %s, page %d: %w", resource, rr.rel, st.typ, page+1, err)
						}
						paged = append(paged, res.SubjectID)
						n, last = n+1, res.Cursor
					}
					asked++
					if n > pageSize {
						report("LookupSubjects %s#%s for %s: page of %d results with limit %d", resource, rr.rel, st.typ, n, pageSize)
					}
					if n < pageSize {
						break
					}
					lsReq.Cursor = last
				}
				if !slices.Equal(paged, order) {
					report("LookupSubjects %s#%s for %s by pages of %d = %v, in one call %v", resource, rr.rel, st.typ, pageSize, paged, order)
				}
				asked++
				// The engine's contract: a subject listed on its own has the answer given
				// there; any other subject has the wildcard's answer unless excluded.
				effective := func(sid string) answer {
					if a, ok := explicit[sid]; ok {
						return a
					}
					if wildcard != nil && !excluded[sid] {
						return *wildcard
					}
					return answer{p: engine.NoPermission}
				}
				candidates := slices.Collect(maps.Keys(explicit))
				for _, s := range subjectList {
					if s.Type == st.typ && s.Relation == st.rel && !slices.Contains(candidates, s.ID) {
						candidates = append(candidates, s.ID)
					}
				}
				for _, sid := range candidates {
					s := tuple.SubjectRef{Type: st.typ, ID: sid, Relation: st.rel}
					k := checkKey{resource, rr.rel, s}
					want, ok := answers[k]
					if !ok {
						var err error
						if want, err = check(k); err != nil {
							return asked, problems, err
						}
					}
					if got := effective(sid); got.p != want.p {
						report("LookupSubjects %s#%s gives %s %s, Check %s", resource, rr.rel, s, got, want)
					}
				}
				if st.rel != "" {
					if wildcard != nil {
						report("LookupSubjects %s#%s returned a wildcard for subject sets %s#%s", resource, rr.rel, st.typ, st.rel)
					}
					continue
				}
				fresh, err := check(checkKey{resource, rr.rel, tuple.SubjectRef{Type: st.typ, ID: freshSubjectID}})
				if err != nil {
					return asked, problems, err
				}
				switch {
				case fresh.p == engine.NoPermission && wildcard != nil:
					report("LookupSubjects %s#%s returned %s:* (%s), but Check denies a subject no relationship names", resource, rr.rel, st.typ, *wildcard)
				case fresh.p != engine.NoPermission && (wildcard == nil || wildcard.p != fresh.p):
					report("LookupSubjects %s#%s returned no matching %s:* (got %v), but Check gives %s to a subject no relationship names", resource, rr.rel, st.typ, wildcard, fresh)
				}
			}
		}
	}
	return asked, problems, nil
}

// TestCrossCheckDetectsDisagreement makes sure the cross-check is not vacuous: a
// reference evaluator that lacks one relationship must be caught disagreeing.
func TestCrossCheckDetectsDisagreement(t *testing.T) {
	f, err := Load("testdata/passing.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Build(f)
	if err != nil {
		t.Fatal(err)
	}
	store, rev, err := ds.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ref, err := newRefEval(ds.Schema, ds.Relationships[1:], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n, problems, err := crossCheck(context.Background(), consistencyInput{eng: engine.New(store, engine.Config{}), rev: rev, sch: ds.Schema, rels: ds.Relationships, ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 || len(problems) == 0 || !strings.Contains(problems[0], "reference evaluator") {
		t.Fatalf("asked %d questions, problems %v", n, problems)
	}
}
