package validation

// The reference evaluator: a direct, deliberately naive reading of the schema model
// over a slice of relationships, used to check the engine. It shares nothing with
// the engine but the schema model, its strongly-connected-components routine and
// caveat evaluation.
//
// For one subject and one caveat context it computes the value of every (object,
// relation) pair of the data at once. Values are three-valued (true, false, or
// conditional with the names of the missing caveat parameters) and combine by
// Kleene's rules. The meaning of the rules is their well-founded model, computed by
// the alternating fixpoint: each pair has a lower bound (what certainly holds, the
// answer) and an upper bound (what possibly holds). The upper bound is the least
// fixpoint of the rules with every subtracted side read from the lower bound, the
// lower bound the least fixpoint with every subtracted side read from the upper
// bound; starting from a lower bound of nothing, the two are recomputed in turn
// until the lower bound stops growing. The bounds differ exactly where a pair depends
// on its own negation (a paradox): the answer is then never more than what certainly
// holds. The pairs are grouped into strata
// (strongly connected components of the schema's dependency graph, lowest first),
// so only a stratum whose cycle passes through a subtracted side needs more than one
// round. A subject in a cycle of groups that contains none of its members is denied,
// with no depth cut, because every fixpoint starts from false.

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// triState is a three-valued truth value, ordered false < conditional < true.
type triState int

const (
	triFalse triState = iota
	triCond
	triTrue
)

// tri is a truth value with, when conditional, the sorted comma-joined names of the
// caveat parameters whose values would decide it. It is comparable, so fixpoint
// iteration can test for change with ==.
type tri struct {
	state   triState
	missing string
}

var (
	vFalse = tri{state: triFalse}
	vTrue  = tri{state: triTrue}
)

func cond(names []string) tri {
	s := slices.Clone(names)
	sort.Strings(s)
	return tri{state: triCond, missing: strings.Join(slices.Compact(s), ",")}
}

func (t tri) missingNames() []string {
	if t.missing == "" {
		return nil
	}
	return strings.Split(t.missing, ",")
}

func (t tri) String() string {
	switch t.state {
	case triTrue:
		return "true"
	case triCond:
		return "conditional[" + t.missing + "]"
	}
	return "false"
}

func mergeMissing(a, b tri) tri {
	return cond(append(a.missingNames(), b.missingNames()...))
}

func triOr(a, b tri) tri {
	switch {
	case a.state == triTrue || b.state == triTrue:
		return vTrue
	case a.state == triFalse:
		return b
	case b.state == triFalse:
		return a
	}
	return mergeMissing(a, b)
}

func triAnd(a, b tri) tri {
	switch {
	case a.state == triFalse || b.state == triFalse:
		return vFalse
	case a.state == triTrue:
		return b
	case b.state == triTrue:
		return a
	}
	return mergeMissing(a, b)
}

func triNot(a tri) tri {
	switch a.state {
	case triTrue:
		return vFalse
	case triFalse:
		return vTrue
	}
	return a
}

// relKey names one relation or permission of one definition.
type relKey struct{ typ, rel string }

// pairKey names one object's relation or permission.
type pairKey struct {
	obj tuple.ObjectRef
	rel string
}

// refEval is the reference evaluator over one schema and one set of relationships.
type refEval struct {
	sch    *schema.Schema
	byRes  map[pairKey][]tuple.Relationship
	strata []stratum
	// universe lists, per type, every object id the data mentions, sorted.
	universe map[string][]string
}

// stratum is one strongly connected component of the schema's dependency graph.
type stratum struct {
	members []relKey
	// nonMonotone: a member subtracts a member, so the data can make a pair depend
	// on its own negation.
	nonMonotone bool
}

// newRefEval keeps the relationships live at now and orders the schema's relations
// into strata.
func newRefEval(sch *schema.Schema, rels []tuple.Relationship, now time.Time) (*refEval, error) {
	r := &refEval{sch: sch, byRes: map[pairKey][]tuple.Relationship{}, universe: map[string][]string{}}
	ids := map[string]map[string]bool{}
	addID := func(typ, id string) {
		if ids[typ] == nil {
			ids[typ] = map[string]bool{}
		}
		ids[typ][id] = true
	}
	for _, rel := range rels {
		if rel.ExpiredAt(now) {
			continue
		}
		k := pairKey{rel.Resource, rel.Relation}
		r.byRes[k] = append(r.byRes[k], rel)
		addID(rel.Resource.Type, rel.Resource.ID)
		if !rel.Subject.IsWildcard() {
			addID(rel.Subject.Type, rel.Subject.ID)
		}
	}
	for typ, set := range ids {
		r.universe[typ] = slices.Sorted(maps.Keys(set))
	}
	r.strata = stratify(sch)
	return r, nil
}

// edge is a dependency of one relation on another, negative when through the
// subtracted side of an exclusion.
type edge struct {
	to       relKey
	negative bool
}

func dependencies(sch *schema.Schema) map[relKey][]edge {
	deps := map[relKey][]edge{}
	for _, d := range sch.Definitions {
		for _, rel := range d.Relations {
			from := relKey{d.Name, rel.Name}
			deps[from] = nil
			if rel.Kind == schema.KindRelation {
				for _, a := range rel.AllowedSubjects {
					if a.Relation != "" {
						deps[from] = append(deps[from], edge{to: relKey{a.Type, a.Relation}})
					}
				}
				continue
			}
			var walk func(e schema.Expr, negative bool)
			walk = func(e schema.Expr, negative bool) {
				switch x := e.(type) {
				case *schema.Union:
					for _, c := range x.Children {
						walk(c, negative)
					}
				case *schema.Intersection:
					for _, c := range x.Children {
						walk(c, negative)
					}
				case *schema.Exclusion:
					walk(x.Base, negative)
					walk(x.Subtract, true)
				case *schema.Computed:
					deps[from] = append(deps[from], edge{relKey{d.Name, x.Relation}, negative})
				case *schema.Arrow:
					deps[from] = append(deps[from], edge{relKey{d.Name, x.Tupleset}, negative})
					if ts, ok := d.Relations[x.Tupleset]; ok {
						for _, a := range ts.AllowedSubjects {
							if td := sch.Definitions[a.Type]; td != nil && td.Relations[x.Computed] != nil {
								deps[from] = append(deps[from], edge{relKey{a.Type, x.Computed}, negative})
							}
						}
					}
				}
			}
			walk(rel.Expr, false)
		}
	}
	return deps
}

// stratify returns the strongly connected components of the dependency graph, each
// after every component it depends on, and marks those with a negative edge inside.
func stratify(sch *schema.Schema) []stratum {
	deps := dependencies(sch)
	nodes := slices.SortedFunc(maps.Keys(deps), func(a, b relKey) int {
		return strings.Compare(a.typ+"#"+a.rel, b.typ+"#"+b.rel)
	})
	successors := func(v relKey) []relKey {
		var out []relKey
		for _, e := range deps[v] {
			out = append(out, e.to)
		}
		return out
	}
	var out []stratum
	for _, comp := range schema.StronglyConnected(nodes, successors) {
		st := stratum{members: comp}
		for _, v := range comp {
			for _, e := range deps[v] {
				st.nonMonotone = st.nonMonotone || e.negative && slices.Contains(comp, e.to)
			}
		}
		out = append(out, st)
	}
	return out
}

// model holds the well-founded model: lo is what certainly holds (the answers), hi
// what possibly holds. They differ only where a pair depends on its own negation.
type model struct {
	lo, hi map[pairKey]tri
}

// table computes the answer of every (object, relation) pair for subject under
// context ctx. Objects are the data's universe plus extra.
func (r *refEval) table(subject tuple.SubjectRef, ctx map[string]any, extra ...tuple.ObjectRef) (map[pairKey]tri, error) {
	m, err := r.model(subject, ctx, extra...)
	return m.lo, err
}

// model computes both bounds of every pair, stratum by stratum.
func (r *refEval) model(subject tuple.SubjectRef, ctx map[string]any, extra ...tuple.ObjectRef) (model, error) {
	universe := map[string][]string{}
	for typ, ids := range r.universe {
		universe[typ] = ids
	}
	for _, o := range append(extra, subject.Object()) {
		if o.ID != tuple.Wildcard && !slices.Contains(universe[o.Type], o.ID) {
			universe[o.Type] = append(slices.Clone(universe[o.Type]), o.ID)
		}
	}
	m := model{lo: map[pairKey]tri{}, hi: map[pairKey]tri{}}
	lo := func(o tuple.ObjectRef, rel string) tri { return m.lo[pairKey{o, rel}] }
	hi := func(o tuple.ObjectRef, rel string) tri { return m.hi[pairKey{o, rel}] }
	open := false // whether some pair so far has bounds that differ
	for _, st := range r.strata {
		var pairs []pairKey
		for _, k := range st.members {
			for _, id := range universe[k.typ] {
				pairs = append(pairs, pairKey{tuple.ObjectRef{Type: k.typ, ID: id}, k.rel})
			}
		}
		if !st.nonMonotone && !open {
			// Every subtracted side is exact: one least fixpoint is the model.
			if err := r.leastFixpoint(m.lo, pairs, subject, ctx, lo, lo); err != nil {
				return model{}, fmt.Errorf("stratum %v: %w", st.members, err)
			}
			for _, p := range pairs {
				m.hi[p] = m.lo[p]
			}
			continue
		}
		for round := 0; ; round++ {
			if round > 2*len(pairs)+2 {
				return model{}, fmt.Errorf("stratum %v: the bounds did not settle", st.members)
			}
			if err := r.leastFixpoint(m.hi, pairs, subject, ctx, hi, lo); err != nil {
				return model{}, fmt.Errorf("stratum %v: %w", st.members, err)
			}
			before := make([]triState, len(pairs))
			for i, p := range pairs {
				before[i] = m.lo[p].state
			}
			if err := r.leastFixpoint(m.lo, pairs, subject, ctx, lo, hi); err != nil {
				return model{}, fmt.Errorf("stratum %v: %w", st.members, err)
			}
			grew := false
			for i, p := range pairs {
				grew = grew || m.lo[p].state != before[i]
			}
			if !grew || !st.nonMonotone {
				break
			}
		}
		for _, p := range pairs {
			open = open || m.lo[p].state != m.hi[p].state
		}
	}
	return m, nil
}

// leastFixpoint computes into vals the least fixpoint of the pairs' rules, starting
// from false, with positive references read through pos and those under a subtracted
// side through neg.
func (r *refEval) leastFixpoint(vals map[pairKey]tri, pairs []pairKey, subject tuple.SubjectRef, ctx map[string]any, pos, neg lookupFunc) error {
	for _, p := range pairs {
		vals[p] = vFalse
	}
	var evalErr error
	// Every value only grows, through finitely many states.
	for round := 0; ; round++ {
		if round > 4*len(pairs)+16 {
			return errors.New("did not settle")
		}
		changed := false
		for _, p := range pairs {
			v := r.evalPair(p, subject, ctx, pos, neg, &evalErr)
			if evalErr != nil {
				return evalErr
			}
			if v != vals[p] {
				vals[p] = v
				changed = true
			}
		}
		if !changed {
			return nil
		}
	}
}

// lookupFunc reads the value of an (object, relation) pair.
type lookupFunc func(tuple.ObjectRef, string) tri

// check answers one question.
func (r *refEval) check(resource tuple.ObjectRef, permission string, subject tuple.SubjectRef, ctx map[string]any) (tri, error) {
	vals, err := r.table(subject, ctx, resource)
	if err != nil {
		return vFalse, err
	}
	return vals[pairKey{resource, permission}], nil
}

// evalPair evaluates one pair's rule; references under a subtracted side are read
// through neg, the others through pos.
func (r *refEval) evalPair(p pairKey, subject tuple.SubjectRef, ctx map[string]any, pos, neg lookupFunc, evalErr *error) tri {
	rel, ok := r.sch.Relation(p.obj.Type, p.rel)
	if !ok {
		return vFalse
	}
	// A subject set is a member of itself.
	if subject.Relation != "" && subject.Object() == p.obj && subject.Relation == p.rel {
		return vTrue
	}
	if rel.Kind == schema.KindPermission {
		return r.evalExpr(rel.Expr, p.obj, ctx, pos, neg, evalErr)
	}
	out := vFalse
	for _, t := range r.byRes[p] {
		c := r.caveat(t, ctx, evalErr)
		s := t.Subject
		switch {
		case s.IsWildcard():
			if subject.Type == s.Type && subject.Relation == "" && !subject.IsWildcard() {
				out = triOr(out, c)
			}
		case s == subject:
			out = triOr(out, c)
		case s.Relation != "":
			out = triOr(out, triAnd(c, pos(s.Object(), s.Relation)))
		}
	}
	return out
}

// evalExpr evaluates a permission expression; the subtracted side of an exclusion
// swaps pos and neg.
func (r *refEval) evalExpr(e schema.Expr, obj tuple.ObjectRef, ctx map[string]any, pos, neg lookupFunc, evalErr *error) tri {
	switch x := e.(type) {
	case *schema.Nil:
		return vFalse
	case *schema.Computed:
		return pos(obj, x.Relation)
	case *schema.Union:
		out := vFalse
		for _, c := range x.Children {
			out = triOr(out, r.evalExpr(c, obj, ctx, pos, neg, evalErr))
		}
		return out
	case *schema.Intersection:
		out := vTrue
		for _, c := range x.Children {
			out = triAnd(out, r.evalExpr(c, obj, ctx, pos, neg, evalErr))
		}
		return out
	case *schema.Exclusion:
		return triAnd(r.evalExpr(x.Base, obj, ctx, pos, neg, evalErr), triNot(r.evalExpr(x.Subtract, obj, ctx, neg, pos, evalErr)))
	case *schema.Arrow:
		var parts []tri
		for _, t := range r.byRes[pairKey{obj, x.Tupleset}] {
			target := t.Subject.Object()
			if t.Subject.IsWildcard() {
				continue
			}
			if _, ok := r.sch.Relation(target.Type, x.Computed); !ok {
				continue
			}
			parts = append(parts, triAnd(r.caveat(t, ctx, evalErr), pos(target, x.Computed)))
		}
		if x.Mode == schema.ArrowAll {
			if len(parts) == 0 {
				return vFalse
			}
			out := vTrue
			for _, v := range parts {
				out = triAnd(out, v)
			}
			return out
		}
		out := vFalse
		for _, v := range parts {
			out = triOr(out, v)
		}
		return out
	}
	*evalErr = fmt.Errorf("reference evaluator: unknown expression %T", e)
	return vFalse
}

// caveat evaluates a relationship's caveat: the request context overlaid with the
// context stored on the relationship (which wins).
func (r *refEval) caveat(t tuple.Relationship, ctx map[string]any, evalErr *error) tri {
	if t.Caveat == nil {
		return vTrue
	}
	c := r.sch.Caveat(t.Caveat.Name)
	if c == nil || c.Program == nil {
		*evalErr = fmt.Errorf("reference evaluator: caveat %s is not compiled", t.Caveat.Name)
		return vFalse
	}
	merged := maps.Clone(ctx)
	if merged == nil {
		merged = map[string]any{}
	}
	maps.Copy(merged, t.Caveat.Context)
	res, err := c.Program.Evaluate(merged)
	if err != nil {
		*evalErr = fmt.Errorf("relationship %s: %w", t, err)
		return vFalse
	}
	switch {
	case len(res.Missing) > 0:
		return cond(res.Missing)
	case res.Satisfied:
		return vTrue
	}
	return vFalse
}
