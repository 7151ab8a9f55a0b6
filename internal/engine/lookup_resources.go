package engine

import (
	"context"
	"iter"
	"slices"

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
	// maxIDsPerQuery bounds the ids one batched reverse query names.
	maxIDsPerQuery = 64
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
		c.limitWork("LookupResources", req.MaxWork)
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
		// Where the permission can meet a paradox, the streams' set algebra is not
		// its meaning (a subtracted set is missing the objects a paradox leaves
		// open), though they still hold every candidate: each one is confirmed.
		doubtful := c.cs.reachesNonMonotone[relKey{def.Name, rel.Name}]
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
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			cd, ok, err := s.next(ctx)
			if err != nil {
				fail(err)
				return
			}
			if !ok {
				break
			}
			if doubtful {
				cd.tag = tagCheck
			}
			window = append(window, cd)
			uncertain := 0
			for _, w := range window {
				if w.tag == tagCheck {
					uncertain++
				}
			}
			if uncertain == 0 || uncertain >= confirmBatch || len(window) >= 4*confirmBatch ||
				req.Limit > 0 && len(window) >= req.Limit-emitted {
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
		// Stream the first child; evaluate the others per candidate.
		base, err := lr.exprStream(ctx, def, rel, e.Children[0], after)
		if err != nil {
			return nil, err
		}
		return &filterStream{c: lr.c, base: base, def: def, rel: rel, others: e.Children[1:]}, nil
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
