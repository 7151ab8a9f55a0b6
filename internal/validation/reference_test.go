package validation

// The reference evaluator: a direct, deliberately naive reading of the schema model
// over a slice of relationships, used to check the engine. It shares nothing with
// the engine but the schema model and caveat evaluation.
//
// For one subject and one caveat context it computes the value of every (object,
// relation) pair of the data at once. Values are three-valued (true, false, or
// conditional with the names of the missing caveat parameters) and combine by
// Kleene's rules. Recursion is solved as a least fixpoint: the pairs are grouped into
// strata (strongly connected components of the schema's dependency graph, lowest
// first), and within a stratum every pair starts false and is recomputed until
// nothing changes. A subject in a cycle of groups that contains none of its members is
// therefore denied, with no depth cut. Exclusion is only sound between strata, so a
// schema whose exclusion depends on itself is refused (errNotStratified).

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

var errNotStratified = errors.New("an exclusion depends on itself: the schema has no stratified meaning")

// refEval is the reference evaluator over one schema and one set of relationships.
type refEval struct {
	sch    *schema.Schema
	byRes  map[pairKey][]tuple.Relationship
	strata [][]relKey
	// universe lists, per type, every object id the data mentions, sorted.
	universe map[string][]string
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
	strata, err := stratify(sch)
	if err != nil {
		return nil, err
	}
	r.strata = strata
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

// stratify returns the strongly connected components of the dependency graph with
// every component after the ones it depends on (Tarjan's algorithm emits them in
// that order), and refuses a component that contains a negative edge.
func stratify(sch *schema.Schema) ([][]relKey, error) {
	deps := dependencies(sch)
	nodes := slices.SortedFunc(maps.Keys(deps), func(a, b relKey) int {
		return strings.Compare(a.typ+"#"+a.rel, b.typ+"#"+b.rel)
	})
	index, low := map[relKey]int{}, map[relKey]int{}
	onStack := map[relKey]bool{}
	var stack []relKey
	var out [][]relKey
	next := 0
	var visit func(v relKey)
	visit = func(v relKey) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range deps[v] {
			if _, seen := index[e.to]; !seen {
				visit(e.to)
				low[v] = min(low[v], low[e.to])
			} else if onStack[e.to] {
				low[v] = min(low[v], index[e.to])
			}
		}
		if low[v] == index[v] {
			var comp []relKey
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			out = append(out, comp)
		}
	}
	for _, v := range nodes {
		if _, seen := index[v]; !seen {
			visit(v)
		}
	}
	for _, comp := range out {
		in := map[relKey]bool{}
		for _, v := range comp {
			in[v] = true
		}
		for _, v := range comp {
			for _, e := range deps[v] {
				if e.negative && in[e.to] {
					return nil, fmt.Errorf("%w (%s#%s subtracts %s#%s)", errNotStratified, v.typ, v.rel, e.to.typ, e.to.rel)
				}
			}
		}
	}
	return out, nil
}

// table computes the value of every (object, relation) pair for subject under
// context ctx. Objects are the data's universe plus extra.
func (r *refEval) table(subject tuple.SubjectRef, ctx map[string]any, extra ...tuple.ObjectRef) (map[pairKey]tri, error) {
	universe := map[string][]string{}
	for typ, ids := range r.universe {
		universe[typ] = ids
	}
	for _, o := range append(extra, subject.Object()) {
		if o.ID != tuple.Wildcard && !slices.Contains(universe[o.Type], o.ID) {
			universe[o.Type] = append(slices.Clone(universe[o.Type]), o.ID)
		}
	}
	vals := map[pairKey]tri{}
	var evalErr error
	lookup := func(o tuple.ObjectRef, rel string) tri { return vals[pairKey{o, rel}] }
	for _, stratum := range r.strata {
		var pairs []pairKey
		for _, k := range stratum {
			for _, id := range universe[k.typ] {
				pairs = append(pairs, pairKey{tuple.ObjectRef{Type: k.typ, ID: id}, k.rel})
			}
		}
		// Within a stratum every value only grows, through finitely many states.
		for round := 0; ; round++ {
			if round > 4*len(pairs)+16 {
				return nil, fmt.Errorf("stratum %v did not settle", stratum)
			}
			changed := false
			for _, p := range pairs {
				v := r.evalPair(p, subject, ctx, lookup, &evalErr)
				if evalErr != nil {
					return nil, evalErr
				}
				if v != vals[p] {
					vals[p] = v
					changed = true
				}
			}
			if !changed {
				break
			}
		}
	}
	return vals, nil
}

// check answers one question.
func (r *refEval) check(resource tuple.ObjectRef, permission string, subject tuple.SubjectRef, ctx map[string]any) (tri, error) {
	vals, err := r.table(subject, ctx, resource)
	if err != nil {
		return vFalse, err
	}
	return vals[pairKey{resource, permission}], nil
}

func (r *refEval) evalPair(p pairKey, subject tuple.SubjectRef, ctx map[string]any, lookup func(tuple.ObjectRef, string) tri, evalErr *error) tri {
	rel, ok := r.sch.Relation(p.obj.Type, p.rel)
	if !ok {
		return vFalse
	}
	// A subject set is a member of itself.
	if subject.Relation != "" && subject.Object() == p.obj && subject.Relation == p.rel {
		return vTrue
	}
	if rel.Kind == schema.KindPermission {
		return r.evalExpr(rel.Expr, p.obj, ctx, lookup, evalErr)
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
			out = triOr(out, triAnd(c, lookup(s.Object(), s.Relation)))
		}
	}
	return out
}

func (r *refEval) evalExpr(e schema.Expr, obj tuple.ObjectRef, ctx map[string]any, lookup func(tuple.ObjectRef, string) tri, evalErr *error) tri {
	switch x := e.(type) {
	case *schema.Nil:
		return vFalse
	case *schema.Computed:
		return lookup(obj, x.Relation)
	case *schema.Union:
		out := vFalse
		for _, c := range x.Children {
			out = triOr(out, r.evalExpr(c, obj, ctx, lookup, evalErr))
		}
		return out
	case *schema.Intersection:
		out := vTrue
		for _, c := range x.Children {
			out = triAnd(out, r.evalExpr(c, obj, ctx, lookup, evalErr))
		}
		return out
	case *schema.Exclusion:
		return triAnd(r.evalExpr(x.Base, obj, ctx, lookup, evalErr), triNot(r.evalExpr(x.Subtract, obj, ctx, lookup, evalErr)))
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
			parts = append(parts, triAnd(r.caveat(t, ctx, evalErr), lookup(target, x.Computed)))
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
