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
	cs := lr.c.cs
	s := lr.c.subject
	in := map[relKey]bool{}
	for _, m := range members {
		in[m] = true
	}
	facts := map[relKey]map[string]tag{}
	for _, m := range members {
		facts[m] = map[string]tag{}
	}
	type fact struct {
		k  relKey
		id string
	}
	var queue []fact
	add := func(k relKey, id string, t tag) {
		cur, ok := facts[k][id]
		if ok && (cur == tagYes || t == tagCheck) {
			return
		}
		facts[k][id] = t
		queue = append(queue, fact{k, id})
	}
	// reverse reads the relationships of resources of resType#relation whose subject is
	// one of ids (of type subjType with subject relation subjRel), and adds a fact for
	// each resource to target, combining the subject's certainty, the caveat and extra.
	reverse := func(subjType string, subjRel string, ids []string, certainty func(id string) tag, resType, relation string, target relKey, extra tag) error {
		// Bounded id lists keep each query cheap to plan and match.
		for chunk := range slices.Chunk(ids, maxIDsPerQuery) {
			sf := datastore.SubjectFilter{Type: subjType, IDs: chunk, Relations: []string{subjRel}}
			for r, err := range lr.c.reader.ReverseQueryRelationships(ctx, sf, datastore.ReverseQueryOptions{ResourceType: resType, Relation: relation}) {
				if err != nil {
					return err
				}
				t, keep, err := lr.c.caveatTag(r, both(certainty(r.Subject.ID), extra))
				if err != nil {
					return err
				}
				if keep {
					add(target, r.Resource.ID, t)
				}
			}
		}
		return nil
	}
	fromSet := func(xs []cand) ([]string, func(string) tag) {
		ids := make([]string, len(xs))
		m := make(map[string]tag, len(xs))
		for i, x := range xs {
			ids[i] = x.id
			m[x.id] = x.tag
		}
		return ids, func(id string) tag { return m[id] }
	}
	yes := func(string) tag { return tagYes }

	// Seeds: what the members get from the subject itself and from relations outside
	// the cycle.
	for _, m := range members {
		def := cs.s.Definitions[m.typ]
		rel := def.Relations[m.rel]
		if s.Type == m.typ && s.Relation == m.rel {
			add(m, s.ID, tagYes)
		}
		if rel.Kind == schema.KindRelation {
			direct, wildcard := lr.subjectShapes(rel)
			if direct {
				if err := reverse(s.Type, s.Relation, []string{s.ID}, yes, m.typ, m.rel, m, tagYes); err != nil {
					return err
				}
			}
			if wildcard {
				if err := reverse(s.Type, "", []string{tuple.Wildcard}, yes, m.typ, m.rel, m, tagYes); err != nil {
					return err
				}
			}
			for _, k := range lr.setEntries(rel) {
				if in[k] {
					continue
				}
				xs, err := lr.materialize(ctx, cs.s.Definitions[k.typ], cs.s.Definitions[k.typ].Relations[k.rel])
				if err != nil {
					return err
				}
				ids, cert := fromSet(xs)
				if err := reverse(k.typ, k.rel, ids, cert, m.typ, m.rel, m, tagYes); err != nil {
					return err
				}
			}
			continue
		}
		var err error
		positiveLeaves(rel.Expr, tagYes, func(leaf schema.Expr, t tag) {
			if err != nil {
				return
			}
			switch leaf := leaf.(type) {
			case *schema.Computed:
				k := relKey{m.typ, leaf.Relation}
				target := def.Relations[leaf.Relation]
				if in[k] || target == nil {
					return
				}
				var xs []cand
				if xs, err = lr.materialize(ctx, def, target); err == nil {
					for _, x := range xs {
						add(m, x.id, both(x.tag, t))
					}
				}
			case *schema.Arrow:
				if leaf.Mode == schema.ArrowAll {
					t = tagCheck
				}
				for _, k := range lr.arrowEntries(def, leaf) {
					tk := relKey{k.typ, leaf.Computed}
					if in[tk] || !cs.canReach(tk, s.Type, s.Relation) {
						continue
					}
					td := cs.s.Definitions[k.typ]
					var xs []cand
					if xs, err = lr.materialize(ctx, td, td.Relations[leaf.Computed]); err != nil {
						return
					}
					ids, cert := fromSet(xs)
					if err = reverse(k.typ, k.rel, ids, cert, m.typ, leaf.Tupleset, m, t); err != nil {
						return
					}
				}
			}
		})
		if err != nil {
			return err
		}
	}

	// Propagate inside the cycle, one round per batch of new facts.
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		round := queue
		queue = nil
		byKey := map[relKey][]string{}
		var keys []relKey
		for _, f := range round {
			if _, ok := byKey[f.k]; !ok {
				keys = append(keys, f.k)
			}
			byKey[f.k] = append(byKey[f.k], f.id)
		}
		for _, k := range keys {
			ids := byKey[k]
			cert := func(id string) tag { return facts[k][id] }
			for _, m := range members {
				def := cs.s.Definitions[m.typ]
				rel := def.Relations[m.rel]
				if rel.Kind == schema.KindRelation {
					for _, sk := range lr.setEntries(rel) {
						if sk == k {
							if err := reverse(k.typ, k.rel, ids, cert, m.typ, m.rel, m, tagYes); err != nil {
								return err
							}
						}
					}
					continue
				}
				var err error
				positiveLeaves(rel.Expr, tagYes, func(leaf schema.Expr, t tag) {
					if err != nil {
						return
					}
					switch leaf := leaf.(type) {
					case *schema.Computed:
						if m.typ == k.typ && leaf.Relation == k.rel {
							for _, id := range ids {
								add(m, id, both(cert(id), t))
							}
						}
					case *schema.Arrow:
						if leaf.Computed != k.rel {
							return
						}
						if leaf.Mode == schema.ArrowAll {
							t = tagCheck
						}
						for _, ak := range lr.arrowEntries(def, leaf) {
							if ak.typ == k.typ {
								if err = reverse(k.typ, ak.rel, ids, cert, m.typ, leaf.Tupleset, m, t); err != nil {
									return
								}
							}
						}
					}
				})
				if err != nil {
					return err
				}
			}
		}
	}
	// Facts reached through an exclusion, an intersection, an .all arrow or a caveat are
	// only candidates. Confirm them here with one batched check per member and chunk:
	// the cycle's objects (organisations, folders) are far fewer than the resources
	// below them, which would otherwise all inherit the doubt and be checked one by one.
	for _, m := range members {
		def := cs.s.Definitions[m.typ]
		rel := def.Relations[m.rel]
		var doubtful []string
		for id, t := range facts[m] {
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
			for i, r := range lr.c.dispatch(ctx, def, rel, items, 1) {
				switch {
				case r.err != nil:
					return r.err
				case r.no():
					delete(facts[m], chunk[i])
				case r.yes():
					facts[m][chunk[i]] = tagYes
				}
			}
		}
	}
	for _, m := range members {
		cands := make([]cand, 0, len(facts[m]))
		for id, t := range facts[m] {
			cands = append(cands, cand{id: id, tag: t})
		}
		slices.SortFunc(cands, func(a, b cand) int { return strings.Compare(a.id, b.id) })
		lr.memo[m] = cands
	}
	return nil
}

// positiveLeaves calls fn for each computed relation and arrow of an expression that
// can grant on its own or as part of a grant: every union branch (certain if the
// union itself is), the first branch of an intersection and the base of an exclusion
// (uncertain: the other branches must be checked). The subtracted side never grants.
func positiveLeaves(e schema.Expr, t tag, fn func(schema.Expr, tag)) {
	switch e := e.(type) {
	case *schema.Computed, *schema.Arrow:
		fn(e, t)
	case *schema.Union:
		for _, c := range e.Children {
			positiveLeaves(c, t, fn)
		}
	case *schema.Intersection:
		if len(e.Children) > 0 {
			positiveLeaves(e.Children[0], tagCheck, fn)
		}
	case *schema.Exclusion:
		positiveLeaves(e.Base, tagCheck, fn)
	}
}
