package engine

import (
	"context"
	"iter"
	"slices"
	"strings"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Lookup page sizes.
const (
	// reversePage is how many relationships one reverse stream reads per store call.
	reversePage = 512
	// confirmBatch is how many uncertain candidates are confirmed with one batched
	// check.
	confirmBatch = 64
)

// LookupResources streams the ids of the resources of req.ResourceType on which
// req.Subject has req.Permission, in ascending id order, each with HasPermission or
// Conditional (and the missing context). Limit bounds the results of this call;
// Cursor resumes after the result that carried it. See docs/engine.md for the
// algorithm and its memory bounds.
func (e *Engine) LookupResources(ctx context.Context, req LookupResourcesRequest) iter.Seq2[ResourceResult, error] {
	return func(yield func(ResourceResult, error) bool) {
		fail := func(err error) { yield(ResourceResult{}, err) }
		if req.Limit < 0 {
			fail(requestErr("limit", "", "must not be negative"))
			return
		}
		c, err := e.newChecker(ctx, query{tenant: req.Tenant, rev: req.Revision, subject: req.Subject, context: req.Context, contextual: req.Contextual})
		if err != nil {
			fail(err)
			return
		}
		def, rel, err := c.cs.target(req.ResourceType, req.Permission)
		if err != nil {
			fail(err)
			return
		}
		cursorFP := lookupFingerprint("resources", c.tenant, req.ResourceType, req.Permission, req.Subject.String(), req.Context, req.Contextual)
		after, err := decodeCursor(req.Cursor, cursorFP)
		if err != nil {
			fail(err)
			return
		}
		e.metrics.requests.Add(1)
		lr := &resourceLookup{c: c, memo: map[relKey][]cand{}, page: reversePage}
		if req.Limit > 0 && req.Limit < reversePage {
			lr.page = max(req.Limit+1, 16)
		}
		s, err := lr.stream(ctx, def, rel, after)
		if err != nil {
			fail(err)
			return
		}
		emitted := 0
		var window []cand
		// flush confirms the uncertain candidates of the window with one batched check
		// and yields the window in order. It returns false to stop.
		flush := func() bool {
			var items []item
			for _, w := range window {
				if w.tag == tagCheck {
					items = append(items, item{id: w.id})
				}
			}
			var checked []result
			if len(items) > 0 {
				checked = c.dispatch(ctx, def, rel, items, 1)
			}
			k := 0
			for _, w := range window {
				out := ResourceResult{ResourceID: w.id, Permissionship: HasPermission, Cursor: encodeCursor(cursorFP, w.id)}
				if w.tag == tagCheck {
					r := checked[k]
					k++
					switch {
					case r.err != nil:
						fail(r.err)
						return false
					case r.no():
						continue
					case r.cond():
						out.Permissionship, out.MissingContext = Conditional, r.missing
					}
				}
				if !yield(out, nil) {
					return false
				}
				emitted++
				if req.Limit > 0 && emitted >= req.Limit {
					return false
				}
			}
			window = window[:0]
			return true
		}
		for {
			cd, ok, err := s.next(ctx)
			if err != nil {
				fail(err)
				return
			}
			if !ok {
				break
			}
			window = append(window, cd)
			uncertain := 0
			for _, w := range window {
				if w.tag == tagCheck {
					uncertain++
				}
			}
			if uncertain == 0 || uncertain >= confirmBatch || req.Limit > 0 && len(window) >= req.Limit-emitted {
				if !flush() {
					return
				}
			}
		}
		flush()
	}
}

// resourceLookup builds the candidate stream of one LookupResources call.
type resourceLookup struct {
	c    *checker
	memo map[relKey][]cand // materialised intermediate sets
	page int
}

// stream returns the candidates for rel on objects of def, after the given id.
func (lr *resourceLookup) stream(ctx context.Context, def *schema.Definition, rel *schema.Relation, after string) (stream, error) {
	k := relKey{def.Name, rel.Name}
	if lr.c.cs.recursive[k] {
		cands, err := lr.materialize(ctx, def, rel)
		if err != nil {
			return nil, err
		}
		return newSliceStream(cands, after), nil
	}
	var inner stream
	var err error
	if rel.Kind == schema.KindRelation {
		inner, err = lr.relationStream(ctx, def, rel, after)
	} else {
		inner, err = lr.exprStream(ctx, def, rel, rel.Expr, after)
	}
	if err != nil {
		return nil, err
	}
	if s := lr.c.subject; s.Type == def.Name && s.Relation == rel.Name && s.ID > after {
		// A subject set is in its own relation or permission.
		inner = newUnion([]stream{inner, newSliceStream([]cand{{id: s.ID, tag: tagYes}}, "")})
	}
	return inner, nil
}

// materialize returns every candidate for rel on objects of def, sorted. Recursive
// relations are computed as a fixed point of their whole cycle at once.
func (lr *resourceLookup) materialize(ctx context.Context, def *schema.Definition, rel *schema.Relation) ([]cand, error) {
	k := relKey{def.Name, rel.Name}
	if cands, ok := lr.memo[k]; ok {
		return cands, nil
	}
	if lr.c.cs.recursive[k] {
		if err := lr.fixpoint(ctx, lr.c.cs.components[lr.c.cs.scc[k]]); err != nil {
			return nil, err
		}
		return lr.memo[k], nil
	}
	s, err := lr.stream(ctx, def, rel, "")
	if err != nil {
		return nil, err
	}
	var out []cand
	for {
		cd, ok, err := s.next(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		out = append(out, cd)
	}
	lr.memo[k] = out
	return out, nil
}

// subjectShapes says how a relation can name the lookup's subject directly: as
// itself and through its type's wildcard.
func (lr *resourceLookup) subjectShapes(rel *schema.Relation) (direct, wildcard bool) {
	s := lr.c.subject
	for _, a := range rel.AllowedSubjects {
		if a.Type != s.Type {
			continue
		}
		if a.Wildcard {
			wildcard = wildcard || s.Relation == ""
		} else if a.Relation == s.Relation {
			direct = true
		}
	}
	return direct, wildcard && !s.IsWildcard()
}

// setEntries lists the distinct subject-set types (type#relation) of a relation that
// can lead to the lookup's subject.
func (lr *resourceLookup) setEntries(rel *schema.Relation) []relKey {
	var out []relKey
	s := lr.c.subject
	for _, a := range rel.AllowedSubjects {
		if a.Wildcard || a.Relation == "" {
			continue
		}
		k := relKey{a.Type, a.Relation}
		if !slices.Contains(out, k) && lr.c.cs.canReach(k, s.Type, s.Relation) {
			out = append(out, k)
		}
	}
	return out
}

func (lr *resourceLookup) relationStream(ctx context.Context, def *schema.Definition, rel *schema.Relation, after string) (stream, error) {
	s := lr.c.subject
	var streams []stream
	direct, wildcard := lr.subjectShapes(rel)
	if direct {
		streams = append(streams, newReverseStream(lr.c, s, def.Name, rel.Name, tagYes, after, lr.page))
	}
	if wildcard {
		streams = append(streams, newReverseStream(lr.c, tuple.SubjectRef{Type: s.Type, ID: tuple.Wildcard}, def.Name, rel.Name, tagYes, after, lr.page))
	}
	for _, k := range lr.setEntries(rel) {
		sdef := lr.c.cs.s.Definitions[k.typ]
		srel := sdef.Relations[k.rel]
		xs, err := lr.materialize(ctx, sdef, srel)
		if err != nil {
			return nil, err
		}
		for _, x := range xs {
			subj := tuple.SubjectRef{Type: k.typ, ID: x.id, Relation: k.rel}
			streams = append(streams, newReverseStream(lr.c, subj, def.Name, rel.Name, x.tag, after, lr.page))
		}
	}
	return newUnion(streams), nil
}

// arrowEntries lists the distinct (type, subject relation) pairs an arrow's tupleset
// relation can point at whose type defines the arrow's computed relation.
func (lr *resourceLookup) arrowEntries(def *schema.Definition, a *schema.Arrow) []relKey {
	ts := def.Relations[a.Tupleset]
	if ts == nil {
		return nil
	}
	var out []relKey
	for _, as := range ts.AllowedSubjects {
		if as.Wildcard {
			continue
		}
		td := lr.c.cs.s.Definitions[as.Type]
		if td == nil || td.Relations[a.Computed] == nil {
			continue
		}
		k := relKey{as.Type, as.Relation}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func (lr *resourceLookup) exprStream(ctx context.Context, def *schema.Definition, rel *schema.Relation, e schema.Expr, after string) (stream, error) {
	children := func(es []schema.Expr) ([]stream, error) {
		out := make([]stream, 0, len(es))
		for _, ce := range es {
			s, err := lr.exprStream(ctx, def, rel, ce, after)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	switch e := e.(type) {
	case *schema.Computed:
		target := def.Relations[e.Relation]
		if target == nil {
			return emptyStream{}, nil
		}
		return lr.stream(ctx, def, target, after)
	case *schema.Union:
		ss, err := children(e.Children)
		if err != nil {
			return nil, err
		}
		return newUnion(ss), nil
	case *schema.Intersection:
		ss, err := children(e.Children)
		if err != nil {
			return nil, err
		}
		return &intersectStream{streams: ss}, nil
	case *schema.Exclusion:
		ss, err := children([]schema.Expr{e.Base, e.Subtract})
		if err != nil {
			return nil, err
		}
		return &exclusionStream{base: ss[0], sub: ss[1]}, nil
	case *schema.Arrow:
		var streams []stream
		for _, k := range lr.arrowEntries(def, e) {
			td := lr.c.cs.s.Definitions[k.typ]
			target := td.Relations[e.Computed]
			if !lr.c.cs.canReach(relKey{k.typ, e.Computed}, lr.c.subject.Type, lr.c.subject.Relation) {
				continue
			}
			xs, err := lr.materialize(ctx, td, target)
			if err != nil {
				return nil, err
			}
			for _, x := range xs {
				t := x.tag
				if e.Mode == schema.ArrowAll {
					t = tagCheck
				}
				subj := tuple.SubjectRef{Type: k.typ, ID: x.id, Relation: k.rel}
				streams = append(streams, newReverseStream(lr.c, subj, def.Name, e.Tupleset, t, after, lr.page))
			}
		}
		return newUnion(streams), nil
	}
	return emptyStream{}, nil
}

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
		if len(ids) == 0 {
			return nil
		}
		sf := datastore.SubjectFilter{Type: subjType, IDs: ids, Relations: []string{subjRel}}
		for r, err := range lr.c.reader.ReverseQueryRelationships(ctx, sf, datastore.ReverseQueryOptions{ResourceType: resType, Relation: relation}) {
			if err != nil {
				return err
			}
			t := both(certainty(r.Subject.ID), extra)
			if r.Caveat != nil {
				res := lr.c.caveatResult(r)
				switch {
				case res.err != nil:
					return res.err
				case res.no():
					continue
				case res.cond():
					t = tagCheck
				}
			}
			add(target, r.Resource.ID, t)
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
