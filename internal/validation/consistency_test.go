package validation

// Cross-API consistency: for a loaded data set, Check, CheckBulk, LookupResources and
// LookupSubjects must give the same answer for every resource, permission and subject
// the data mentions, and Check must agree with the reference evaluator.

import (
	"context"
	"fmt"
	"iter"
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
	c := newCrossChecker(in)
	err := c.checkEveryQuestion(ctx)
	if err == nil {
		c.checkBulk(ctx)
		err = c.lookupResources(ctx)
	}
	if err == nil {
		err = c.lookupSubjects(ctx)
	}
	return c.asked, c.problems, err
}

// resRel is a relation or permission of a definition: what a question asks about.
type resRel struct {
	typ, rel string
}

// crossChecker is one cross-check under way: the questions the data set gives rise
// to (every resource relation, object id and subject it mentions), Check's answers
// to them, and the problems found.
type crossChecker struct {
	in          consistencyInput
	idList      []string
	subjectList []tuple.SubjectRef
	resRels     []resRel
	problems    []string
	answers     map[checkKey]answer
	// keys lists the questions in the order Check was asked them.
	keys  []checkKey
	asked int
	// tables caches the reference evaluator's answers by subject.
	tables map[tuple.SubjectRef]map[pairKey]tri
}

func newCrossChecker(in consistencyInput) *crossChecker {
	ids := map[string]bool{}
	subjects := map[tuple.SubjectRef]bool{}
	for _, r := range in.rels {
		ids[r.Resource.ID] = true
		if !r.Subject.IsWildcard() {
			ids[r.Subject.ID] = true
			subjects[r.Subject] = true
		}
	}
	c := &crossChecker{
		in:          in,
		idList:      slices.Sorted(maps.Keys(ids)),
		subjectList: slices.SortedFunc(maps.Keys(subjects), func(a, b tuple.SubjectRef) int { return strings.Compare(a.String(), b.String()) }),
		answers:     map[checkKey]answer{},
		tables:      map[tuple.SubjectRef]map[pairKey]tri{},
	}
	for _, name := range in.sch.DefinitionNames() {
		d := in.sch.Definition(name)
		for _, rel := range d.Order {
			if r := d.Relations[rel]; r != nil && !r.Synthetic {
				c.resRels = append(c.resRels, resRel{name, rel})
			}
		}
	}
	return c
}

// report records one inconsistency; the first 40 are kept.
func (c *crossChecker) report(format string, args ...any) {
	if len(c.problems) < 40 {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

// check asks Check one question.
func (c *crossChecker) check(ctx context.Context, k checkKey) (answer, error) {
	res, err := c.in.eng.Check(ctx, engine.CheckRequest{Tenant: tuple.DefaultTenant, Revision: c.in.rev, Resource: k.resource, Permission: k.permission, Subject: k.subject, Context: c.in.ctx})
	c.asked++
	if err != nil {
		return answer{}, fmt.Errorf("check %s: %w", k, err)
	}
	return answerOf(res.Permissionship, res.MissingContext), nil
}

// checkEveryQuestion asks Check every question and, with a reference evaluator,
// compares each answer with the reference's.
func (c *crossChecker) checkEveryQuestion(ctx context.Context) error {
	for _, rr := range c.resRels {
		for _, id := range c.idList {
			for _, s := range c.subjectList {
				k := checkKey{tuple.ObjectRef{Type: rr.typ, ID: id}, rr.rel, s}
				a, err := c.check(ctx, k)
				if err != nil {
					return err
				}
				c.answers[k] = a
				c.keys = append(c.keys, k)
				if c.in.ref == nil {
					continue
				}
				if err := c.compareWithReference(k, a); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// compareWithReference reports where Check's answer a to k differs from the
// reference evaluator's.
func (c *crossChecker) compareWithReference(k checkKey, a answer) error {
	s := k.subject
	tab, ok := c.tables[s]
	if !ok {
		var err error
		if tab, err = c.in.ref.table(s, c.in.ctx, k.resource); err != nil {
			return err
		}
		c.tables[s] = tab
	}
	want, ok := tab[pairKey{k.resource, k.permission}]
	if !ok {
		var err error
		if want, err = c.in.ref.check(k.resource, k.permission, s, c.in.ctx); err != nil {
			return err
		}
	}
	if want.state != triState(map[engine.Permissionship]triState{engine.NoPermission: triFalse, engine.HasPermission: triTrue, engine.Conditional: triCond}[a.p]) {
		c.report("Check %s = %s, reference evaluator %s", k, a, want)
	}
	return nil
}

// checkBulk asks every question again through CheckBulk, which must answer each as
// Check did, in request order.
func (c *crossChecker) checkBulk(ctx context.Context) {
	for start := 0; start < len(c.keys); start += 500 {
		batch := c.keys[start:min(start+500, len(c.keys))]
		reqs := make([]engine.CheckRequest, len(batch))
		for i, k := range batch {
			reqs[i] = engine.CheckRequest{Tenant: tuple.DefaultTenant, Revision: c.in.rev, Resource: k.resource, Permission: k.permission, Subject: k.subject, Context: c.in.ctx}
		}
		results := c.in.eng.CheckBulk(ctx, reqs)
		c.asked += len(reqs)
		if len(results) != len(reqs) {
			c.report("CheckBulk of %d checks returned %d results", len(reqs), len(results))
			continue
		}
		for i, r := range results {
			if r.Err != nil {
				c.report("CheckBulk %s: %v", batch[i], r.Err)
				continue
			}
			if got := answerOf(r.Result.Permissionship, r.Result.MissingContext); got != c.answers[batch[i]] {
				c.report("CheckBulk %s = %s, Check %s", batch[i], got, c.answers[batch[i]])
			}
		}
	}
}

// lookupResources checks that LookupResources returns exactly the resources Check
// allows, with the same answer, for every subject and resource relation, and that
// paging through it returns the same.
func (c *crossChecker) lookupResources(ctx context.Context) error {
	for _, s := range c.subjectList {
		for _, rr := range c.resRels {
			if err := c.lookupResourcesFor(ctx, s, rr); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *crossChecker) lookupResourcesFor(ctx context.Context, s tuple.SubjectRef, rr resRel) error {
	want := map[string]answer{}
	for _, id := range c.idList {
		if a := c.answers[checkKey{tuple.ObjectRef{Type: rr.typ, ID: id}, rr.rel, s}]; a.p != engine.NoPermission {
			want[id] = a
		}
	}
	got := map[string]answer{}
	var order []string
	req := engine.LookupResourcesRequest{Tenant: tuple.DefaultTenant, Revision: c.in.rev, ResourceType: rr.typ, Permission: rr.rel, Subject: s, Context: c.in.ctx}
	for res, err := range c.in.eng.LookupResources(ctx, req) {
		if err != nil {
			return fmt.Errorf("LookupResources %s#%s for %s: %w", rr.typ, rr.rel, s, err)
		}
		if _, dup := got[res.ResourceID]; dup {
			c.report("LookupResources %s#%s for %s returned %s twice", rr.typ, rr.rel, s, res.ResourceID)
		}
		got[res.ResourceID] = answerOf(res.Permissionship, res.MissingContext)
		order = append(order, res.ResourceID)
	}
	c.asked++
	if !maps.Equal(want, got) {
		c.report("LookupResources %s#%s for %s = %v, Check says %v", rr.typ, rr.rel, s, got, want)
	}
	what := fmt.Sprintf("LookupResources %s#%s for %s", rr.typ, rr.rel, s)
	return c.checkPaging(what, order, func(cursor string) ([]string, string, error) {
		req.Limit, req.Cursor = pageSize, cursor
		return collectPage(c.in.eng.LookupResources(ctx, req), func(r engine.ResourceResult) (string, string) { return r.ResourceID, r.Cursor })
	})
}

// checkPaging reads a lookup again in pages of pageSize, each from the last cursor of
// the one before, and reports a page over the limit, paging that does not end, and
// pages that do not add up to order, what one call returned. what names the lookup;
// page reads one page from a cursor ("" for the first).
func (c *crossChecker) checkPaging(what string, order []string, page func(cursor string) (ids []string, last string, err error)) error {
	var paged []string
	cursor := ""
	for n := 0; ; n++ {
		if n > len(order)+1 {
			c.report("%s: paging by %d does not end", what, pageSize)
			break
		}
		ids, last, err := page(cursor)
		if err != nil {
			return fmt.Errorf("%s, page %d: %w", what, n+1, err)
		}
		paged = append(paged, ids...)
		c.asked++
		if len(ids) > pageSize {
			c.report("%s: page of %d results with limit %d", what, len(ids), pageSize)
		}
		if len(ids) < pageSize {
			break
		}
		cursor = last
	}
	if !slices.Equal(paged, order) {
		c.report("%s by pages of %d = %v, in one call %v", what, pageSize, paged, order)
	}
	return nil
}

// collectPage reads one page of lookup results: their ids and the last one's cursor.
func collectPage[R any](results iter.Seq2[R, error], idAndCursor func(R) (string, string)) ([]string, string, error) {
	var ids []string
	last := ""
	for r, err := range results {
		if err != nil {
			return nil, "", err
		}
		id, cursor := idAndCursor(r)
		ids = append(ids, id)
		last = cursor
	}
	return ids, last, nil
}

// subjType is a subject type with its subject relation ("" for plain objects).
type subjType struct{ typ, rel string }

// lookupSubjects checks that LookupSubjects agrees with Check for every subject of
// every subject type the data uses, a wildcard result standing for every subject it
// neither excludes nor lists on its own.
func (c *crossChecker) lookupSubjects(ctx context.Context) error {
	var subjTypes []subjType
	seenTypes := map[subjType]bool{}
	for _, s := range c.subjectList {
		st := subjType{s.Type, s.Relation}
		if !seenTypes[st] {
			seenTypes[st] = true
			subjTypes = append(subjTypes, st)
		}
	}
	for _, rr := range c.resRels {
		for _, id := range c.idList {
			resource := tuple.ObjectRef{Type: rr.typ, ID: id}
			for _, st := range subjTypes {
				if err := c.lookupSubjectsFor(ctx, resource, rr, st); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// subjectsFound is what one LookupSubjects call returned: the subjects listed on
// their own, the wildcard (nil when none) with the subjects it excludes, and every
// subject id in the order returned.
type subjectsFound struct {
	explicit map[string]answer
	wildcard *answer
	excluded map[string]bool
	order    []string
}

// effective is the engine's contract: a subject listed on its own has the answer
// given there; any other subject has the wildcard's answer unless excluded.
func (f subjectsFound) effective(sid string) answer {
	if a, ok := f.explicit[sid]; ok {
		return a
	}
	if f.wildcard != nil && !f.excluded[sid] {
		return *f.wildcard
	}
	return answer{p: engine.NoPermission}
}

func (c *crossChecker) lookupSubjectsFor(ctx context.Context, resource tuple.ObjectRef, rr resRel, st subjType) error {
	lsReq := engine.LookupSubjectsRequest{Tenant: tuple.DefaultTenant, Revision: c.in.rev, Resource: resource, Permission: rr.rel, SubjectType: st.typ, SubjectRelation: st.rel, Context: c.in.ctx}
	found, err := c.findSubjects(ctx, lsReq)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("LookupSubjects %s#%s for %s", resource, rr.rel, st.typ)
	err = c.checkPaging(what, found.order, func(cursor string) ([]string, string, error) {
		lsReq.Limit, lsReq.Cursor = pageSize, cursor
		return collectPage(c.in.eng.LookupSubjects(ctx, lsReq), func(r engine.SubjectResult) (string, string) { return r.SubjectID, r.Cursor })
	})
	if err != nil {
		return err
	}
	c.asked++
	if err := c.compareSubjects(ctx, resource, rr, st, found); err != nil {
		return err
	}
	return c.compareWildcard(ctx, resource, rr, st, found.wildcard)
}

// findSubjects runs one LookupSubjects call and sorts what it returns.
func (c *crossChecker) findSubjects(ctx context.Context, lsReq engine.LookupSubjectsRequest) (subjectsFound, error) {
	found := subjectsFound{explicit: map[string]answer{}, excluded: map[string]bool{}}
	for res, err := range c.in.eng.LookupSubjects(ctx, lsReq) {
		if err != nil {
			return found, fmt.Errorf("LookupSubjects %s#%s for %s#%s: %w", lsReq.Resource, lsReq.Permission, lsReq.SubjectType, lsReq.SubjectRelation, err)
		}
		a := answerOf(res.Permissionship, res.MissingContext)
		found.order = append(found.order, res.SubjectID)
		if res.SubjectID == tuple.Wildcard {
			found.wildcard = &a
			for _, x := range res.Excluded {
				found.excluded[x] = true
			}
			continue
		}
		if _, dup := found.explicit[res.SubjectID]; dup {
			c.report("LookupSubjects %s#%s for %s returned %s twice", lsReq.Resource, lsReq.Permission, lsReq.SubjectType, res.SubjectID)
		}
		found.explicit[res.SubjectID] = a
	}
	return found, nil
}

// compareSubjects checks every subject LookupSubjects listed, and every subject of
// the type the data mentions, against Check.
func (c *crossChecker) compareSubjects(ctx context.Context, resource tuple.ObjectRef, rr resRel, st subjType, found subjectsFound) error {
	candidates := slices.Collect(maps.Keys(found.explicit))
	for _, s := range c.subjectList {
		if s.Type == st.typ && s.Relation == st.rel && !slices.Contains(candidates, s.ID) {
			candidates = append(candidates, s.ID)
		}
	}
	for _, sid := range candidates {
		s := tuple.SubjectRef{Type: st.typ, ID: sid, Relation: st.rel}
		k := checkKey{resource, rr.rel, s}
		want, ok := c.answers[k]
		if !ok {
			var err error
			if want, err = c.check(ctx, k); err != nil {
				return err
			}
		}
		if got := found.effective(sid); got.p != want.p {
			c.report("LookupSubjects %s#%s gives %s %s, Check %s", resource, rr.rel, s, got, want)
		}
	}
	return nil
}

// compareWildcard checks the wildcard LookupSubjects returned against Check's answer
// for a subject no relationship names, which only a wildcard can grant. Subject sets
// have no wildcard.
func (c *crossChecker) compareWildcard(ctx context.Context, resource tuple.ObjectRef, rr resRel, st subjType, wildcard *answer) error {
	if st.rel != "" {
		if wildcard != nil {
			c.report("LookupSubjects %s#%s returned a wildcard for subject sets %s#%s", resource, rr.rel, st.typ, st.rel)
		}
		return nil
	}
	fresh, err := c.check(ctx, checkKey{resource, rr.rel, tuple.SubjectRef{Type: st.typ, ID: freshSubjectID}})
	if err != nil {
		return err
	}
	switch {
	case fresh.p == engine.NoPermission && wildcard != nil:
		c.report("LookupSubjects %s#%s returned %s:* (%s), but Check denies a subject no relationship names", resource, rr.rel, st.typ, *wildcard)
	case fresh.p != engine.NoPermission && (wildcard == nil || wildcard.p != fresh.p):
		c.report("LookupSubjects %s#%s returned no matching %s:* (got %v), but Check gives %s to a subject no relationship names", resource, rr.rel, st.typ, wildcard, fresh)
	}
	return nil
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
