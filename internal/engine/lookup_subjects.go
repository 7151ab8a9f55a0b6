package engine

import (
	"context"
	"iter"
	"sort"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// LookupSubjects streams the subjects of req.SubjectType (narrowed to
// req.SubjectRelation when set) that have req.Permission on req.Resource, in
// ascending id order with a wildcard ("*") first. A wildcard result lists in Excluded
// the subjects it does not cover; a subject listed on its own has the answer given
// there. See docs/engine.md for the algorithm and its memory bounds.
func (e *Engine) LookupSubjects(ctx context.Context, req LookupSubjectsRequest) iter.Seq2[SubjectResult, error] {
	return func(yield func(SubjectResult, error) bool) {
		fail := func(err error) { yield(SubjectResult{}, err) }
		if req.Limit < 0 {
			fail(requestErr("limit", "", "must not be negative"))
			return
		}
		tenant := req.Tenant
		cs, err := e.schemaAt(ctx, tenant, req.Revision)
		if err != nil {
			fail(err)
			return
		}
		def, rel, err := cs.target(req.Resource.Type, req.Permission)
		if err != nil {
			fail(err)
			return
		}
		if err := cs.validateResource(req.Resource); err != nil {
			fail(err)
			return
		}
		// The checker carries the schema, reader and context; its subject is only a
		// placeholder of the wanted type.
		probe := tuple.SubjectRef{Type: req.SubjectType, ID: tuple.Wildcard}
		if req.SubjectRelation != "" && req.SubjectRelation != tuple.Ellipsis {
			probe = tuple.SubjectRef{Type: req.SubjectType, ID: "subject", Relation: req.SubjectRelation}
		}
		c, err := e.newChecker(ctx, query{tenant: tenant, rev: req.Revision, subject: probe, context: req.Context, contextual: req.Contextual, wildcardSubject: true})
		if err != nil {
			fail(err)
			return
		}
		c.limitWork("LookupSubjects", req.MaxWork)
		fp := lookupFingerprint("subjects", tenant, req.Resource.String(), req.Permission, probe.Type+"#"+probe.Relation, req.Context, req.Contextual)
		after, err := decodeCursor(req.Cursor, fp)
		if err != nil {
			fail(err)
			return
		}
		e.metrics.requests.Add(1)
		ls := &subjectLookup{c: c, typ: probe.Type, rel: probe.Relation, memo: map[lsKey]*subjectSet{}}
		var set *subjectSet
		if cs.reachesNonMonotone[relKey{def.Name, rel.Name}] {
			set, err = ls.confirmed(ctx, def, rel, req.Resource.ID)
		} else {
			var outs []lsOut
			outs, err = ls.dispatch(ctx, def, rel, []item{{id: req.Resource.ID}}, 1)
			if err == nil {
				set = outs[0].set
			}
		}
		if err != nil {
			fail(err)
			return
		}
		emitted := 0
		emit := func(r SubjectResult) bool {
			if after != "" && r.SubjectID <= after {
				return true
			}
			r.Cursor = encodeCursor(fp, r.SubjectID)
			if !yield(r, nil) {
				return false
			}
			emitted++
			return req.Limit == 0 || emitted < req.Limit
		}
		ids := make([]string, 0, len(set.concrete))
		for id := range set.concrete {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		if w := set.wild; w != nil && !w.no() {
			r := SubjectResult{SubjectID: tuple.Wildcard, Permissionship: w.perm, MissingContext: w.missing}
			for _, id := range ids {
				if set.concrete[id].no() {
					r.Excluded = append(r.Excluded, id)
				}
			}
			if !emit(r) {
				return
			}
		}
		for _, id := range ids {
			r := set.concrete[id]
			if r.no() {
				continue
			}
			if !emit(SubjectResult{SubjectID: id, Permissionship: r.perm, MissingContext: r.missing}) {
				return
			}
		}
	}
}

// subjectSet is a set of subjects with an answer each: explicit subjects, and
// optionally a wildcard standing for every other subject of the type. An explicit
// NoPermission entry records a subject a wildcard does not cover.
type subjectSet struct {
	concrete map[string]result
	wild     *result
}

func newSubjectSet() *subjectSet { return &subjectSet{concrete: map[string]result{}} }

// status is the answer for one subject.
func (s *subjectSet) status(id string) result {
	if r, ok := s.concrete[id]; ok {
		return r
	}
	if s.wild != nil {
		return *s.wild
	}
	return noResult()
}

// combineSets applies op (NodeUnion, NodeIntersection or NodeExclusion) to two sets.
func combineSets(a, b *subjectSet, op NodeKind) *subjectSet {
	f := func(x, y result) result {
		switch op {
		case NodeUnion:
			return or(x, y)
		case NodeIntersection:
			return and(x, y)
		}
		return and(x, not(y))
	}
	out := newSubjectSet()
	if a.wild != nil || b.wild != nil {
		wa, wb := noResult(), noResult()
		if a.wild != nil {
			wa = *a.wild
		}
		if b.wild != nil {
			wb = *b.wild
		}
		if w := f(wa, wb); !w.no() {
			out.wild = &w
		}
	}
	for _, m := range []map[string]result{a.concrete, b.concrete} {
		for id := range m {
			if _, done := out.concrete[id]; done {
				continue
			}
			r := f(a.status(id), b.status(id))
			if r.no() && out.wild == nil {
				continue
			}
			out.concrete[id] = r
		}
	}
	return out
}

// unionInto adds src to dst in place. dst must be a set this evaluation owns (never a
// memoised one); src is only read.
func unionInto(dst, src *subjectSet) {
	var srcWild result
	if src.wild != nil {
		srcWild = *src.wild
		// Explicit entries of dst that src does not list meet src's wildcard.
		for id, r := range dst.concrete {
			if _, listed := src.concrete[id]; !listed {
				dst.concrete[id] = or(r, srcWild)
			}
		}
	}
	// src's explicit entries meet dst's answer before src's wildcard joined it.
	for id, r := range src.concrete {
		dst.concrete[id] = or(dst.status(id), r)
	}
	if src.wild != nil {
		if dst.wild != nil {
			srcWild = or(*dst.wild, srcWild)
		}
		dst.wild = &srcWild
	}
}

// restrict makes every answer of s conditional on via (a relationship's caveat).
func restrict(s *subjectSet, via result) *subjectSet {
	if via.yes() {
		return s
	}
	out := newSubjectSet()
	if s.wild != nil {
		if w := and(via, *s.wild); !w.no() {
			out.wild = &w
		}
	}
	for id, r := range s.concrete {
		if r2 := and(via, r); !r2.no() || out.wild != nil {
			out.concrete[id] = r2
		}
	}
	return out
}
