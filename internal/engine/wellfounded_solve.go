package engine

import (
	"context"
	"slices"

	"github.com/pemba-authz/pemba/internal/tuple"
)

// solve computes the well-founded model of the ground rules by the alternating
// fixpoint. The lower bound starts with nothing; each round computes the upper bound
// as the least fixpoint of the rules with every subtracted side read from the lower
// bound (what might hold if only the certain exclusions apply), then the lower bound
// again with every subtracted side read from that upper bound (what must hold when
// every possible exclusion applies). The lower bound only grows and the upper only
// shrinks, so the rounds end; a cycle through a negation is what keeps them apart.
func (s *wfSolver) solve(ctx context.Context) error {
	n := len(s.pairs)
	lo := fill(n, noResult())
	for round := 0; round <= 2*n+2; round++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi, err := s.leastFixpoint(lo, true)
		if err != nil {
			return err
		}
		next, err := s.leastFixpoint(hi, false)
		if err != nil {
			return err
		}
		if sameAnswers(next, lo) {
			s.lo, s.hi = next, hi
			return nil
		}
		lo = next
	}
	return errUnsettled
}

// leastFixpoint computes one bound (the upper one when upper is set) from nothing up,
// with the subtracted sides read from the other bound.
func (s *wfSolver) leastFixpoint(other []result, upper bool) ([]result, error) {
	x := fill(len(s.pairs), noResult())
	// Each answer can only rise (no, then conditional or failed, then yes), and while
	// the answers stay, the missing context of conditional ones only grows: the
	// sweeps end. They go on until the missing context settles too, so that a
	// conditional answer names every parameter that decides it.
	for sweep := 0; sweep <= 64*(len(s.pairs)+1); sweep++ {
		changed := false
		for i, p := range s.pairs {
			v := s.eval(p.rule, x, other, upper)
			changed = changed || !sameAnswer(v, x[i]) || !slices.Equal(v.missing, x[i].missing)
			x[i] = v
		}
		if !changed {
			return x, nil
		}
	}
	return nil, errUnsettled
}

func sameAnswer(a, b result) bool { return a.perm == b.perm && (a.err == nil) == (b.err == nil) }

func sameAnswers(a, b []result) bool {
	for i := range a {
		if !sameAnswer(a[i], b[i]) {
			return false
		}
	}
	return true
}

// eval computes bound upper (or the lower one) of rule part f, the references on its
// positive side read from pos and, under a subtraction, from neg: the lower bound of
// a - b is the lower bound of a without the upper bound of b, and the other way round.
func (s *wfSolver) eval(f *wfRule, pos, neg []result, upper bool) result {
	switch f.op {
	case wfConst:
		return f.val.side(upper)
	case wfRef:
		return pos[f.ref]
	case wfVia:
		return and(f.val.side(upper), s.eval(f.kids[0], pos, neg, upper))
	case wfExcl:
		return and(s.eval(f.kids[0], pos, neg, upper), not(s.eval(f.kids[1], neg, pos, !upper)))
	case wfAll:
		if len(f.kids) == 0 {
			return noResult()
		}
		r := yesResult()
		for _, k := range f.kids {
			r = and(r, s.eval(k, pos, neg, upper))
		}
		return r
	}
	r := noResult()
	for _, k := range f.kids {
		r = or(r, s.eval(k, pos, neg, upper))
	}
	return r
}

// value is the answer of rule part f in the solved model, both bounds.
func (s *wfSolver) value(f *wfRule) result {
	return span(s.eval(f, s.lo, s.hi, false), s.eval(f, s.hi, s.lo, true))
}

// render explains rule part f with the solved answers. onPath holds the pairs being
// explained above it: coming back to one shows a cycle node. done holds the pairs
// explained already, whose explanation is reused.
func (s *wfSolver) render(f *wfRule, onPath map[int]bool, done map[int]*ExplainNode) *ExplainNode {
	switch f.op {
	case wfConst:
		return f.val.node
	case wfRef:
		return s.renderPair(f.ref, onPath, done)
	case wfVia:
		return s.c.relationshipNode(*f.rel, s.value(f), f.val.node, s.render(f.kids[0], onPath, done))
	}
	n := *f.shape
	r := s.value(f)
	n.Result, n.MissingContext = r.perm, r.missing
	for k, kid := range f.kids {
		child := s.render(kid, onPath, done)
		if f.op == wfExcl && k == 1 {
			if sub := s.value(kid); sub.upper != nil {
				child = s.c.paradoxNode(n.Resource, n.Relation, f.sub, sub, child)
			}
		}
		if child != nil {
			n.Children = append(n.Children, child)
		}
	}
	return &n
}

// renderPair explains one object relation of the component.
func (s *wfSolver) renderPair(i int, onPath map[int]bool, done map[int]*ExplainNode) *ExplainNode {
	p := s.pairs[i]
	r := span(s.lo[i], s.hi[i])
	if onPath[i] {
		return &ExplainNode{Kind: NodeCycle, Resource: tuple.ObjectRef{Type: p.def.Name, ID: p.id}, Relation: p.rel.Name, Subject: s.c.subject, Result: r.perm, MissingContext: r.missing}
	}
	if n, ok := done[i]; ok {
		return n
	}
	onPath[i] = true
	content := s.render(p.rule, onPath, done)
	delete(onPath, i)
	n := s.c.nodeFor(p.def, p.rel, p.id, r)
	attachContent(n, p.rel, content)
	done[i] = n
	return n
}
