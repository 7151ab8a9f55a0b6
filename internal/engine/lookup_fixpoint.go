package engine

import (
	"context"
	"slices"
	"strings"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// fixpoint computes the candidates of every relation and permission of one cycle of
// the schema (for example group#member, or folder#view through parent->view) by
// propagating facts upward from the subject until nothing new is found. Reads are
// batched: one reverse query per rule and round, for all the objects found in the
// previous round.
func (lr *resourceLookup) fixpoint(ctx context.Context, members []relKey) error {
	f := newCycleFixpoint(lr, members)
	for _, m := range members {
		if err := f.seed(ctx, m); err != nil {
			return err
		}
	}
	if err := f.propagate(ctx); err != nil {
		return err
	}
	if err := f.confirmDoubtful(ctx); err != nil {
		return err
	}
	f.publish()
	return nil
}

// cycleFixpoint is the state of one fixpoint computation: the facts found so far for
// each member of the cycle (object id and how certain it is) and the facts found
// since the last round, which the next round propagates.
type cycleFixpoint struct {
	lr      *resourceLookup
	members []relKey
	in      map[relKey]bool
	facts   map[relKey]map[string]tag
	queue   []cycleFact
}

// cycleFact is one object found for one member of the cycle.
type cycleFact struct {
	k  relKey
	id string
}

func newCycleFixpoint(lr *resourceLookup, members []relKey) *cycleFixpoint {
	f := &cycleFixpoint{lr: lr, members: members, in: map[relKey]bool{}, facts: map[relKey]map[string]tag{}}
	for _, m := range members {
		f.in[m] = true
		f.facts[m] = map[string]tag{}
	}
	return f
}

// add records that object id is a candidate of k with certainty t, and queues it for
// propagation unless nothing is new: a certain fact is never weakened, and a doubtful
// one only replaced by a certain one.
func (f *cycleFixpoint) add(k relKey, id string, t tag) {
	cur, ok := f.facts[k][id]
	if ok && (cur == tagYes || t == tagCheck) {
		return
	}
	f.facts[k][id] = t
	f.queue = append(f.queue, cycleFact{k, id})
}

// reverse reads the relationships of resources of resType#relation whose subject is
// one of ids (of type subjType with subject relation subjRel), and adds a fact for
// each resource to target, combining the subject's certainty, the caveat and extra.
func (f *cycleFixpoint) reverse(ctx context.Context, subjType, subjRel string, ids []string, certainty func(id string) tag, resType, relation string, target relKey, extra tag) error {
	// Bounded id lists keep each query cheap to plan and match.
	for chunk := range slices.Chunk(ids, maxIDsPerQuery) {
		sf := datastore.SubjectFilter{Type: subjType, IDs: chunk, Relations: []string{subjRel}}
		for r, err := range f.lr.c.reader.ReverseQueryRelationships(ctx, sf, datastore.ReverseQueryOptions{ResourceType: resType, Relation: relation}) {
			if err != nil {
				return err
			}
			t, keep, err := f.lr.c.caveatTag(r, both(certainty(r.Subject.ID), extra))
			if err != nil {
				return err
			}
			if keep {
				f.add(target, r.Resource.ID, t)
			}
		}
	}
	return nil
}

// candidateIDs returns the ids of xs and a certainty function that tells each id's tag.
func candidateIDs(xs []cand) ([]string, func(string) tag) {
	ids := make([]string, len(xs))
	m := make(map[string]tag, len(xs))
	for i, x := range xs {
		ids[i] = x.id
		m[x.id] = x.tag
	}
	return ids, func(id string) tag { return m[id] }
}

// alwaysCertain is the certainty of the lookup's own subject and its wildcard.
func alwaysCertain(string) tag { return tagYes }

// seed adds what member m gets from the subject itself and from relations outside
// the cycle (materialised on the way).
func (f *cycleFixpoint) seed(ctx context.Context, m relKey) error {
	s := f.lr.c.subject
	def := f.lr.c.cs.s.Definitions[m.typ]
	rel := def.Relations[m.rel]
	if s.Type == m.typ && s.Relation == m.rel {
		f.add(m, s.ID, tagYes)
	}
	if rel.Kind == schema.KindRelation {
		return f.seedRelation(ctx, m, rel)
	}
	return f.seedPermission(ctx, m, def, rel)
}

// seedRelation reads the relationships of relation m that name the subject, its
// type's wildcard, or a subject set outside the cycle.
func (f *cycleFixpoint) seedRelation(ctx context.Context, m relKey, rel *schema.Relation) error {
	s := f.lr.c.subject
	direct, wildcard := f.lr.subjectShapes(rel)
	if direct {
		if err := f.reverse(ctx, s.Type, s.Relation, []string{s.ID}, alwaysCertain, m.typ, m.rel, m, tagYes); err != nil {
			return err
		}
	}
	if wildcard {
		if err := f.reverse(ctx, s.Type, "", []string{tuple.Wildcard}, alwaysCertain, m.typ, m.rel, m, tagYes); err != nil {
			return err
		}
	}
	for _, k := range f.lr.setEntries(rel) {
		if f.in[k] {
			continue
		}
		if err := f.seedThrough(ctx, k, k.rel, m.rel, m, tagYes); err != nil {
			return err
		}
	}
	return nil
}

// seedThrough materialises outside, a relation or permission outside the cycle, and
// adds to member target the objects whose relationships of relation name one of
// outside's candidates (as subject sets with subject relation subjRel), with the
// candidate's certainty combined with extra.
func (f *cycleFixpoint) seedThrough(ctx context.Context, outside relKey, subjRel, relation string, target relKey, extra tag) error {
	od := f.lr.c.cs.s.Definitions[outside.typ]
	xs, err := f.lr.materialize(ctx, od, od.Relations[outside.rel])
	if err != nil {
		return err
	}
	ids, cert := candidateIDs(xs)
	return f.reverse(ctx, outside.typ, subjRel, ids, cert, target.typ, relation, target, extra)
}

// seedPermission adds, for permission m, the candidates of the computed relations
// and arrow targets outside the cycle that can grant it.
func (f *cycleFixpoint) seedPermission(ctx context.Context, m relKey, def *schema.Definition, rel *schema.Relation) error {
	cs, s := f.lr.c.cs, f.lr.c.subject
	return positiveLeaves(rel.Expr, tagYes, func(leaf schema.Expr, t tag) error {
		switch leaf := leaf.(type) {
		case *schema.Computed:
			k := relKey{m.typ, leaf.Relation}
			target := def.Relations[leaf.Relation]
			if f.in[k] || target == nil {
				return nil
			}
			xs, err := f.lr.materialize(ctx, def, target)
			if err != nil {
				return err
			}
			for _, x := range xs {
				f.add(m, x.id, both(x.tag, t))
			}
		case *schema.Arrow:
			if leaf.Mode == schema.ArrowAll {
				t = tagCheck
			}
			for _, k := range f.lr.arrowEntries(def, leaf) {
				tk := relKey{k.typ, leaf.Computed}
				if f.in[tk] || !cs.canReach(tk, s.Type, s.Relation) {
					continue
				}
				if err := f.seedThrough(ctx, tk, k.rel, leaf.Tupleset, m, t); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// propagate spreads the queued facts inside the cycle, one round per batch of new
// facts, until a round finds nothing new.
func (f *cycleFixpoint) propagate(ctx context.Context) error {
	for len(f.queue) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		round := f.queue
		f.queue = nil
		byKey := map[relKey][]string{}
		var keys []relKey
		for _, x := range round {
			if _, ok := byKey[x.k]; !ok {
				keys = append(keys, x.k)
			}
			byKey[x.k] = append(byKey[x.k], x.id)
		}
		for _, k := range keys {
			if err := f.propagateFrom(ctx, k, byKey[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// propagateFrom passes ids, the objects newly found for cycle member k, on to every
// member that uses k: relations through their subject sets, permissions through their computed
// relations and arrows.
func (f *cycleFixpoint) propagateFrom(ctx context.Context, k relKey, ids []string) error {
	// The certainty is read when used: a fact may become certain during the round.
	cert := func(id string) tag { return f.facts[k][id] }
	for _, m := range f.members {
		def := f.lr.c.cs.s.Definitions[m.typ]
		rel := def.Relations[m.rel]
		if rel.Kind == schema.KindRelation {
			for _, sk := range f.lr.setEntries(rel) {
				if sk == k {
					if err := f.reverse(ctx, k.typ, k.rel, ids, cert, m.typ, m.rel, m, tagYes); err != nil {
						return err
					}
				}
			}
			continue
		}
		if err := f.propagateToPermission(ctx, k, ids, cert, m, def, rel); err != nil {
			return err
		}
	}
	return nil
}

// propagateToPermission passes ids, the objects newly found for k, on to permission m
// where one of its granting leaves is k itself or an arrow to k's relation.
func (f *cycleFixpoint) propagateToPermission(ctx context.Context, k relKey, ids []string, cert func(string) tag, m relKey, def *schema.Definition, rel *schema.Relation) error {
	return positiveLeaves(rel.Expr, tagYes, func(leaf schema.Expr, t tag) error {
		switch leaf := leaf.(type) {
		case *schema.Computed:
			if m.typ == k.typ && leaf.Relation == k.rel {
				for _, id := range ids {
					f.add(m, id, both(cert(id), t))
				}
			}
		case *schema.Arrow:
			if leaf.Computed != k.rel {
				return nil
			}
			if leaf.Mode == schema.ArrowAll {
				t = tagCheck
			}
			for _, ak := range f.lr.arrowEntries(def, leaf) {
				if ak.typ == k.typ {
					if err := f.reverse(ctx, k.typ, ak.rel, ids, cert, m.typ, leaf.Tupleset, m, t); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// confirmDoubtful settles the facts reached through an exclusion, an intersection, an
// .all arrow or a caveat, which are only candidates, with one batched check per
// member and chunk: the cycle's objects (organisations, folders) are far fewer than
// the resources below them, which would otherwise all inherit the doubt and be
// checked one by one.
func (f *cycleFixpoint) confirmDoubtful(ctx context.Context) error {
	for _, m := range f.members {
		def := f.lr.c.cs.s.Definitions[m.typ]
		rel := def.Relations[m.rel]
		var doubtful []string
		for id, t := range f.facts[m] {
			if t == tagCheck {
				doubtful = append(doubtful, id)
			}
		}
		slices.Sort(doubtful)
		for chunk := range slices.Chunk(doubtful, confirmBatch) {
			items := make([]item, len(chunk))
			for i, id := range chunk {
				items[i] = item{id: id}
			}
			for i, r := range f.lr.c.dispatch(ctx, def, rel, items, 1) {
				switch {
				case r.err != nil:
					return r.err
				case r.no():
					delete(f.facts[m], chunk[i])
				case r.yes():
					f.facts[m][chunk[i]] = tagYes
				}
			}
		}
	}
	return nil
}

// publish stores each member's candidates, sorted by id, where materialize finds them.
func (f *cycleFixpoint) publish() {
	for _, m := range f.members {
		cands := make([]cand, 0, len(f.facts[m]))
		for id, t := range f.facts[m] {
			cands = append(cands, cand{id: id, tag: t})
		}
		slices.SortFunc(cands, func(a, b cand) int { return strings.Compare(a.id, b.id) })
		f.lr.memo[m] = cands
	}
}

// positiveLeaves calls fn for each computed relation and arrow of an expression that
// can grant on its own or as part of a grant: every union branch (certain if the
// union itself is), the first branch of an intersection and the base of an exclusion
// (uncertain: the other branches must be checked). The subtracted side never grants.
// The first error fn returns ends the walk and is returned.
func positiveLeaves(e schema.Expr, t tag, fn func(schema.Expr, tag) error) error {
	switch e := e.(type) {
	case *schema.Computed, *schema.Arrow:
		return fn(e, t)
	case *schema.Union:
		for _, c := range e.Children {
			if err := positiveLeaves(c, t, fn); err != nil {
				return err
			}
		}
	case *schema.Intersection:
		if len(e.Children) > 0 {
			return positiveLeaves(e.Children[0], tagCheck, fn)
		}
	case *schema.Exclusion:
		return positiveLeaves(e.Base, tagCheck, fn)
	}
	return nil
}
