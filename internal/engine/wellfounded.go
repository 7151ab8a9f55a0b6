package engine

import (
	"context"
	"errors"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Relations of a non-monotone component (one whose cycle passes through the
// subtracted side of an exclusion, such as member = direct - blocked where blocked
// holds group#member) can be defined by their own negation in the data: a paradox.
// The walk with cycle cuts cannot evaluate them: it answers a cut "no", and negating
// that "no" grants. So a batch of such a relation is grounded instead: the rules of
// the component are instantiated with the relationships of the part of the data the
// batch reaches, one rule per object relation, with everything outside the component
// answered by ordinary dispatch; then the rules are solved for their well-founded
// model by the alternating fixpoint. The model gives each object relation a lower
// bound (what certainly holds) and an upper bound (what possibly holds); they differ
// exactly where an answer depends on its own negation. The lower bound is the answer,
// so a paradox is denied, and the upper bound travels with it so that negating it
// cannot grant either. The answers depend on no path, so they are cached like any
// other. See docs/engine.md, "Paradoxes".

// wfOp is what one node of a ground rule computes.
type wfOp uint8

const (
	wfConst wfOp = iota // a known answer: a relationship's caveat, or a relation outside the component
	wfRef               // the answer of another object relation of the component
	wfAny               // any child: a union, a relation's relationships, an arrow's targets
	wfAll               // every child, and at least one: an intersection, an .all arrow
	wfExcl              // the first child and not the second
	wfVia               // a relationship followed: its caveat (val) and where it leads (kids[0])
)

// wfRule is one node of the ground rule of an object relation.
type wfRule struct {
	op   wfOp
	val  result // wfConst, and the caveat of wfVia
	ref  int    // wfRef: the pair's index
	kids []*wfRule
	// For explanations only: the node an operator or arrow shows as (an empty node for
	// the list of a relation's relationships), the relationship a wfVia followed, and
	// the subtracted expression of a wfExcl.
	shape *ExplainNode
	rel   *tuple.Relationship
	sub   schema.Expr
}

// wfPair is one object relation of the component.
type wfPair struct {
	def   *schema.Definition
	rel   *schema.Relation
	id    string
	level int // distance from the batch asked
	rule  *wfRule
}

// wfLower is the relation outside the component that some rules need the answers of,
// for a set of objects; the holes are the rule nodes waiting for each answer.
type wfLower struct {
	def   *schema.Definition
	rel   *schema.Relation
	ids   []string
	index map[string]int
	holes [][]*wfRule
	out   []result
}

// wfSolver grounds and solves one batch of a non-monotone relation.
type wfSolver struct {
	c     *checker
	comp  int
	depth int
	pairs []*wfPair
	index map[lsKey]int
	lower []*wfLower // needed by the level being grounded
	// height is how many levels below the batch the evaluation used.
	height int
	lo, hi []result
}

// errUnsettled would mean a bug: every fixpoint here is of a monotone operator on a
// finite set of values.
var errUnsettled = errors.New("the well-founded answers of a paradox did not settle")

// evalWellFounded answers a batch of a non-monotone relation.
func (c *checker) evalWellFounded(ctx context.Context, b batch) []result {
	s := &wfSolver{c: c, comp: c.cs.scc[relKey{b.def.Name, b.rel.Name}], depth: b.depth, index: map[lsKey]int{}}
	for _, id := range b.ids {
		s.pair(b.def, b.rel, id, 0)
	}
	err := s.ground(ctx)
	if err == nil {
		err = s.solve(ctx)
	}
	if err != nil {
		return fill(len(b.ids), errResult(err))
	}
	out := make([]result, len(b.ids))
	for i := range b.ids {
		r := span(s.lo[i], s.hi[i])
		r.cut, r.height = noCut, s.height
		if c.explain {
			r.node = s.render(s.pairs[i].rule, map[int]bool{i: true}, map[int]*ExplainNode{})
		}
		out[i] = r
	}
	return out
}

// pair returns the index of the object relation def:id#rel, adding it at level.
func (s *wfSolver) pair(def *schema.Definition, rel *schema.Relation, id string, level int) int {
	k := lsKey{def.Name, id, rel.Name}
	if i, ok := s.index[k]; ok {
		return i
	}
	s.index[k] = len(s.pairs)
	s.pairs = append(s.pairs, &wfPair{def: def, rel: rel, id: id, level: level})
	return len(s.pairs) - 1
}

// ground instantiates the rules level by level, breadth first, so that the objects of
// one relation met at one level are read in one batch, and the relations outside the
// component they need are dispatched in batches too.
func (s *wfSolver) ground(ctx context.Context) error {
	for start, level := 0, 0; start < len(s.pairs); level++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.depth+level > s.c.e.cfg.MaxDepth {
			p := s.pairs[start]
			return &DepthError{Limit: s.c.e.cfg.MaxDepth, At: describe(p.def.Name, p.id, p.rel.Name)}
		}
		s.height = max(s.height, level)
		end := len(s.pairs)
		if level > 0 {
			s.c.count(end-start, s.depth+level) // the batch itself was counted by dispatch
		}
		if err := s.groundLevel(ctx, s.pairs[start:end], level); err != nil {
			return err
		}
		s.dispatchLower(ctx, level)
		start = end
	}
	return nil
}

// groundLevel instantiates the rules of pairs, one batch per relation.
func (s *wfSolver) groundLevel(ctx context.Context, pairs []*wfPair, level int) error {
	type group struct {
		def   *schema.Definition
		rel   *schema.Relation
		ids   []string
		pairs []*wfPair
	}
	var groups []*group
	subj := s.c.subject
	for _, p := range pairs {
		if subj.Type == p.def.Name && subj.ID == p.id && subj.Relation == p.rel.Name {
			p.rule = &wfRule{op: wfConst, val: yesResult()} // a subject set is in itself
			continue
		}
		var g *group
		for _, x := range groups {
			if x.def == p.def && x.rel == p.rel {
				g = x
			}
		}
		if g == nil {
			g = &group{def: p.def, rel: p.rel}
			groups = append(groups, g)
		}
		g.ids = append(g.ids, p.id)
		g.pairs = append(g.pairs, p)
	}
	for _, g := range groups {
		// Bounded id lists keep each store query cheap to plan and match.
		for start := 0; start < len(g.ids); start += maxIDsPerQuery {
			ids := g.ids[start:min(start+maxIDsPerQuery, len(g.ids))]
			var rules []*wfRule
			var err error
			if g.rel.Kind == schema.KindRelation {
				rules, err = s.relationRules(ctx, g.def, g.rel, ids, level)
			} else {
				rules, err = s.exprRules(ctx, g.def, g.rel, ids, g.rel.Expr, level)
			}
			if err != nil {
				return err
			}
			for i, p := range g.pairs[start : start+len(ids)] {
				p.rule = rules[i]
			}
		}
	}
	return nil
}

// target is the rule node for relation rel of object id, reached from a rule at
// level: a reference inside the component, or a hole for an answer from outside.
func (s *wfSolver) target(def *schema.Definition, rel *schema.Relation, id string, level int) *wfRule {
	k := relKey{def.Name, rel.Name}
	if s.c.cs.nonMonotone[k] && s.c.cs.scc[k] == s.comp {
		return &wfRule{op: wfRef, ref: s.pair(def, rel, id, level+1)}
	}
	var l *wfLower
	for _, x := range s.lower {
		if x.def == def && x.rel == rel {
			l = x
		}
	}
	if l == nil {
		l = &wfLower{def: def, rel: rel, index: map[string]int{}}
		s.lower = append(s.lower, l)
	}
	i, ok := l.index[id]
	if !ok {
		i = len(l.ids)
		l.index[id] = i
		l.ids = append(l.ids, id)
		l.holes = append(l.holes, nil)
	}
	hole := &wfRule{op: wfConst}
	l.holes[i] = append(l.holes[i], hole)
	return hole
}

// dispatchLower answers the relations outside the component that the rules of one
// level need, as ordinary sub-problems one level further down.
func (s *wfSolver) dispatchLower(ctx context.Context, level int) {
	lower := s.lower
	s.lower = nil
	s.c.parallel(len(lower), func(i int) {
		l := lower[i]
		items := make([]item, len(l.ids))
		for k, id := range l.ids {
			items[k] = item{id: id}
		}
		l.out = s.c.dispatch(ctx, l.def, l.rel, items, s.depth+level+1)
	})
	for _, l := range lower {
		for k, r := range l.out {
			s.height = max(s.height, level+r.height)
			for _, h := range l.holes[k] {
				h.val = r
			}
		}
	}
}

// leaf is a relationship that leads no further: its answer is via.
func (s *wfSolver) leaf(r tuple.Relationship, via result) *wfRule {
	if s.c.explain {
		via.node = s.c.relationshipNode(r, via, via.node)
	}
	return &wfRule{op: wfConst, val: via}
}

// through is a relationship followed to relation target of its subject object.
func (s *wfSolver) through(r tuple.Relationship, via result, def *schema.Definition, target *schema.Relation, level int) *wfRule {
	f := &wfRule{op: wfVia, val: via, kids: []*wfRule{s.target(def, target, r.Subject.ID, level)}}
	if s.c.explain {
		f.rel = &r
	}
	return f
}

// shape is the explanation node an operator part of a rule on def:id shows as.
func (s *wfSolver) shape(kind NodeKind, def *schema.Definition, id, relation string, e schema.Expr) *ExplainNode {
	if !s.c.explain {
		return nil
	}
	return &ExplainNode{Kind: kind, Resource: tuple.ObjectRef{Type: def.Name, ID: id}, Relation: relation, Expression: exprString(e, false), Subject: s.c.subject}
}

// relationRules grounds relation rel on ids: the relationships naming the subject (or
// its type's wildcard), and those naming subject sets that can lead to it.
func (s *wfSolver) relationRules(ctx context.Context, def *schema.Definition, rel *schema.Relation, ids []string, level int) ([]*wfRule, error) {
	c := s.c
	rules := make([]*wfRule, len(ids))
	for i := range rules {
		rules[i] = &wfRule{op: wfAny}
		if c.explain {
			rules[i].shape = &ExplainNode{}
		}
	}
	index := indexOf(ids)
	plan := c.cs.relationPlan(rel, c.subject.Type, c.subject.Relation)
	var filters []datastore.RelationshipFilter
	if f, ok := c.directFilter(def, rel, ids, plan); ok {
		filters = append(filters, f)
	}
	for _, set := range plan.sets {
		filters = append(filters, setFilter(def, rel, ids, set))
	}
	for fi, f := range filters {
		direct := fi == 0 && (plan.direct || plan.wildcard)
		for r, err := range c.query(ctx, f) {
			if err != nil {
				return nil, err
			}
			i := index(r.Resource.ID)
			if i < 0 || !direct && r.Subject.IsWildcard() {
				continue
			}
			var kid *wfRule
			if direct {
				kid = s.leaf(r, c.heldResult(ctx, r, s.depth+level))
			} else if tdef, target, via, ok := c.follow(ctx, r, r.Subject.Relation, s.depth+level); ok {
				kid = s.through(r, via, tdef, target, level)
			} else {
				kid = s.leaf(r, via)
			}
			rules[i].kids = append(rules[i].kids, kid)
		}
	}
	return rules, nil
}

// exprRules grounds permission expression e of rel on ids.
func (s *wfSolver) exprRules(ctx context.Context, def *schema.Definition, rel *schema.Relation, ids []string, e schema.Expr, level int) ([]*wfRule, error) {
	rules := make([]*wfRule, len(ids))
	op := func(o wfOp, kind NodeKind, children []schema.Expr) error {
		parts := make([][]*wfRule, len(children))
		for k, ce := range children {
			var err error
			if parts[k], err = s.exprRules(ctx, def, rel, ids, ce, level); err != nil {
				return err
			}
		}
		for i, id := range ids {
			rules[i] = &wfRule{op: o, shape: s.shape(kind, def, id, rel.Name, e)}
			for k := range children {
				rules[i].kids = append(rules[i].kids, parts[k][i])
			}
		}
		return nil
	}
	var err error
	switch e := e.(type) {
	case *schema.Computed:
		target := def.Relations[e.Relation]
		for i, id := range ids {
			if target == nil {
				rules[i] = &wfRule{op: wfConst, val: errResult(errors.New("relation `" + e.Relation + "` not found on definition `" + def.Name + "`"))}
				continue
			}
			rules[i] = s.target(def, target, id, level)
		}
	case *schema.Union:
		err = op(wfAny, NodeUnion, e.Children)
	case *schema.Intersection:
		err = op(wfAll, NodeIntersection, e.Children)
	case *schema.Exclusion:
		if err = op(wfExcl, NodeExclusion, []schema.Expr{e.Base, e.Subtract}); err == nil {
			for _, r := range rules {
				r.sub = e.Subtract
			}
		}
	case *schema.Arrow:
		return s.arrowRules(ctx, def, ids, e, level)
	default: // nil
		for i, id := range ids {
			v := noResult()
			v.node = s.shape(NodeNil, def, id, rel.Name, e)
			rules[i] = &wfRule{op: wfConst, val: v}
		}
	}
	return rules, err
}

// arrowRules grounds an arrow on ids: every target its tupleset names.
func (s *wfSolver) arrowRules(ctx context.Context, def *schema.Definition, ids []string, a *schema.Arrow, level int) ([]*wfRule, error) {
	c := s.c
	rules := make([]*wfRule, len(ids))
	for i, id := range ids {
		rules[i] = &wfRule{op: wfAny, shape: s.shape(NodeArrow, def, id, a.Tupleset, a)}
		if a.Mode == schema.ArrowAll {
			rules[i].op = wfAll
		}
	}
	index := indexOf(ids)
	f := datastore.RelationshipFilter{ResourceType: def.Name, ResourceIDs: ids, Relation: a.Tupleset}
	for r, err := range c.query(ctx, f) {
		if err != nil {
			return nil, err
		}
		i := index(r.Resource.ID)
		if i < 0 || r.Subject.IsWildcard() {
			continue
		}
		var kid *wfRule
		if tdef, target, via, ok := c.follow(ctx, r, a.Computed, s.depth+level); ok {
			kid = s.through(r, via, tdef, target, level)
		} else {
			kid = s.leaf(r, via)
		}
		rules[i].kids = append(rules[i].kids, kid)
	}
	return rules, nil
}
