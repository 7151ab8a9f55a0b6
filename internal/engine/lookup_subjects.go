package engine

import (
	"context"
	"iter"
	"sort"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
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
		tenant := tenantName(req.Tenant)
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
		fp := lookupFingerprint("subjects", tenant, req.Resource.String(), req.Permission, probe.Type+"#"+probe.Relation, req.Context, req.Contextual)
		after, err := decodeCursor(req.Cursor, fp)
		if err != nil {
			fail(err)
			return
		}
		e.metrics.requests.Add(1)
		ls := &subjectLookup{c: c, typ: probe.Type, rel: probe.Relation, memo: map[lsKey]*subjectSet{}}
		set, _, err := ls.node(ctx, def, rel, req.Resource.ID, nil, 1)
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

// combineSets applies op ("union", "intersection", "exclusion") to two sets.
func combineSets(a, b *subjectSet, op string) *subjectSet {
	f := func(x, y result) result {
		switch op {
		case "union":
			return or(x, y)
		case "intersection":
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

type lsKey struct{ typ, id, rel string }

// subjectLookup walks a permission top-down, collecting subjects of one type.
type subjectLookup struct {
	c        *checker
	typ, rel string // the wanted subject type and relation
	memo     map[lsKey]*subjectSet
}

// node returns the subjects of rel on typ:id. The int is the shallowest depth of a
// cycle cut the answer relied on (noCut if none); such answers are not memoised.
func (ls *subjectLookup) node(ctx context.Context, def *schema.Definition, rel *schema.Relation, id string, path *pathNode, depth int) (*subjectSet, int, error) {
	key := lsKey{def.Name, id, rel.Name}
	if s, ok := ls.memo[key]; ok {
		return s, noCut, nil
	}
	if d := path.find(def.Name, id, rel.Name); d > 0 {
		ls.c.e.metrics.cuts.Add(1)
		return newSubjectSet(), d, nil
	}
	if depth > ls.c.e.cfg.MaxDepth {
		return nil, noCut, &DepthError{Limit: ls.c.e.cfg.MaxDepth, At: describe(def.Name, id, rel.Name)}
	}
	if err := ctx.Err(); err != nil {
		return nil, noCut, err
	}
	ls.c.dispatches.Add(1)
	p := &pathNode{parent: path, typ: def.Name, id: id, rel: rel.Name, depth: depth}
	var set *subjectSet
	cut := noCut
	var err error
	if rel.Kind == schema.KindRelation {
		set, cut, err = ls.relation(ctx, def, rel, id, p, depth)
	} else {
		set, cut, err = ls.expr(ctx, def, rel, id, rel.Expr, p, depth)
	}
	if err != nil {
		return nil, noCut, err
	}
	if def.Name == ls.typ && rel.Name == ls.rel && ls.rel != "" {
		// A subject set is in its own relation.
		set = combineSets(set, &subjectSet{concrete: map[string]result{id: yesResult()}}, "union")
	}
	if cut >= depth {
		cut = noCut
	}
	if cut == noCut {
		ls.memo[key] = set
	}
	return set, cut, nil
}

func (ls *subjectLookup) relation(ctx context.Context, def *schema.Definition, rel *schema.Relation, id string, p *pathNode, depth int) (*subjectSet, int, error) {
	set := newSubjectSet()
	cut := noCut
	f := datastore.RelationshipFilter{ResourceType: def.Name, ResourceIDs: []string{id}, Relation: rel.Name}
	var rels []tuple.Relationship
	for r, err := range ls.c.reader.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
		if err != nil {
			return nil, noCut, err
		}
		rels = append(rels, r)
	}
	for _, r := range rels {
		via := ls.c.caveatResult(r)
		if via.err != nil {
			return nil, noCut, via.err
		}
		if via.no() {
			continue
		}
		if r.Subject.Type == ls.typ && r.Subject.Relation == ls.rel {
			one := &subjectSet{concrete: map[string]result{}}
			if r.Subject.IsWildcard() {
				w := via
				one.wild = &w
			} else {
				one.concrete[r.Subject.ID] = via
			}
			unionInto(set, one)
		}
		if r.Subject.Relation == "" || r.Subject.IsWildcard() {
			continue
		}
		sk := relKey{r.Subject.Type, r.Subject.Relation}
		if !ls.c.cs.canReach(sk, ls.typ, ls.rel) {
			continue
		}
		sdef := ls.c.cs.s.Definitions[sk.typ]
		if sdef == nil || sdef.Relations[sk.rel] == nil {
			continue
		}
		child, ccut, err := ls.node(ctx, sdef, sdef.Relations[sk.rel], r.Subject.ID, p, depth+1)
		if err != nil {
			return nil, noCut, err
		}
		cut = min(cut, ccut)
		unionInto(set, restrict(child, via))
	}
	return set, cut, nil
}

func (ls *subjectLookup) expr(ctx context.Context, def *schema.Definition, rel *schema.Relation, id string, e schema.Expr, p *pathNode, depth int) (*subjectSet, int, error) {
	fold := func(children []schema.Expr, op string) (*subjectSet, int, error) {
		var acc *subjectSet
		cut := noCut
		for i, ce := range children {
			s, ccut, err := ls.expr(ctx, def, rel, id, ce, p, depth)
			if err != nil {
				return nil, noCut, err
			}
			cut = min(cut, ccut)
			if i == 0 {
				acc = s
			} else {
				acc = combineSets(acc, s, op)
			}
		}
		if acc == nil {
			acc = newSubjectSet()
		}
		return acc, cut, nil
	}
	switch e := e.(type) {
	case *schema.Computed:
		target := def.Relations[e.Relation]
		if target == nil {
			return newSubjectSet(), noCut, nil
		}
		return ls.node(ctx, def, target, id, p, depth+1)
	case *schema.Union:
		return fold(e.Children, "union")
	case *schema.Intersection:
		return fold(e.Children, "intersection")
	case *schema.Exclusion:
		return fold([]schema.Expr{e.Base, e.Subtract}, "exclusion")
	case *schema.Arrow:
		f := datastore.RelationshipFilter{ResourceType: def.Name, ResourceIDs: []string{id}, Relation: e.Tupleset}
		var rels []tuple.Relationship
		for r, err := range ls.c.reader.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
			if err != nil {
				return nil, noCut, err
			}
			if !r.Subject.IsWildcard() {
				rels = append(rels, r)
			}
		}
		var acc *subjectSet
		cut := noCut
		for _, r := range rels {
			via := ls.c.caveatResult(r)
			if via.err != nil {
				return nil, noCut, via.err
			}
			td := ls.c.cs.s.Definitions[r.Subject.Type]
			var child *subjectSet
			if td == nil || td.Relations[e.Computed] == nil || via.no() {
				child = newSubjectSet()
			} else {
				s, ccut, err := ls.node(ctx, td, td.Relations[e.Computed], r.Subject.ID, p, depth+1)
				if err != nil {
					return nil, noCut, err
				}
				cut = min(cut, ccut)
				child = restrict(s, via)
			}
			switch {
			case e.Mode == schema.ArrowAll && acc == nil:
				acc = child
			case e.Mode == schema.ArrowAll:
				acc = combineSets(acc, child, "intersection")
			default:
				if acc == nil {
					acc = newSubjectSet()
				}
				unionInto(acc, child)
			}
		}
		if acc == nil {
			acc = newSubjectSet()
		}
		return acc, cut, nil
	}
	return newSubjectSet(), noCut, nil
}
