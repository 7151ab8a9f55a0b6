package engine

import (
	"slices"
	"strings"
	"sync"

	"github.com/pemba-authz/pemba/internal/schema"
)

// relKey names one relation or permission of one definition.
type relKey struct{ typ, rel string }

// compiledSchema is a compiled schema with the facts the engine derives from it once:
// which relations can reach themselves (and so may meet cycles in the data), and
// which subject types each relation can lead to.
type compiledSchema struct {
	s *schema.Schema
	// recursive marks relations and permissions that lie on a cycle of the schema
	// graph (through subject sets, computed relations or arrows). Only their
	// evaluations can meet cycles in the data.
	recursive map[relKey]bool
	// scc numbers the recursive nodes by strongly connected component; components
	// lists each component's members.
	scc        map[relKey]int
	components [][]relKey
	// edges are the relations and permissions each one evaluates; subtracted are
	// those of them it evaluates under the subtracted side of an exclusion.
	edges      map[relKey][]relKey
	subtracted map[relKey][]relKey
	// nonMonotone marks the relations and permissions of components that contain the
	// subtracted side of an exclusion: their data can define an answer through its own
	// negation (a paradox), so they are evaluated by the well-founded solver
	// (wellfounded.go) instead of the walk with cycle cuts. reachesNonMonotone marks
	// those whose evaluation can reach one, which lookups confirm by Check.
	// hasNonMonotone says whether the schema has any, so the common case pays no
	// lookup.
	nonMonotone        map[relKey]bool
	reachesNonMonotone map[relKey]bool
	hasNonMonotone     bool
	// hasCaveats tells whether request context can influence any answer.
	hasCaveats bool

	exprText sync.Map // relKey → string
	reach    sync.Map // reachKey → bool
	plans    sync.Map // reachKey → *plan
}

// plan is how a relation is read for one kind of subject: whether relationships can
// name the subject directly or through its type's wildcard, and which subject sets
// (grouped by type, one store query each) can lead to it.
type plan struct {
	direct, wildcard bool
	sets             []setGroup
}

type setGroup struct {
	typ  string
	rels []string
}

// relationPlan returns the plan for reading relation rel when looking for a subject
// of type subjType with relation subjRel ("" for objects).
func (cs *compiledSchema) relationPlan(rel *schema.Relation, subjType, subjRel string) *plan {
	key := reachKey{relKey{rel.Definition, rel.Name}, subjType, subjRel}
	if p, ok := cs.plans.Load(key); ok {
		return p.(*plan)
	}
	p := &plan{}
	for _, a := range rel.AllowedSubjects {
		switch {
		case a.Type == subjType && a.Wildcard:
			p.wildcard = p.wildcard || subjRel == ""
		case a.Type == subjType && a.Relation == subjRel:
			p.direct = true
		}
		if a.Wildcard || a.Relation == "" || !cs.canReach(relKey{a.Type, a.Relation}, subjType, subjRel) {
			continue
		}
		i := slices.IndexFunc(p.sets, func(g setGroup) bool { return g.typ == a.Type })
		if i < 0 {
			p.sets = append(p.sets, setGroup{typ: a.Type})
			i = len(p.sets) - 1
		}
		if !slices.Contains(p.sets[i].rels, a.Relation) {
			p.sets[i].rels = append(p.sets[i].rels, a.Relation)
		}
	}
	cs.plans.Store(key, p)
	return p
}

func newCompiledSchema(s *schema.Schema) *compiledSchema {
	cs := &compiledSchema{
		s: s, recursive: map[relKey]bool{}, scc: map[relKey]int{}, edges: map[relKey][]relKey{}, subtracted: map[relKey][]relKey{},
		nonMonotone: map[relKey]bool{}, reachesNonMonotone: map[relKey]bool{}, hasCaveats: len(s.Caveats) > 0,
	}
	var nodes []relKey
	for _, name := range s.Order {
		def, ok := s.Definitions[name]
		if !ok {
			continue
		}
		for _, rn := range def.Order {
			r := def.Relations[rn]
			if r == nil {
				continue
			}
			k := relKey{def.Name, r.Name}
			nodes = append(nodes, k)
			cs.edges[k], cs.subtracted[k] = cs.dependencies(def, r)
		}
		// Synthetic permissions are not in Order.
		for rn, r := range def.Relations {
			k := relKey{def.Name, rn}
			if _, done := cs.edges[k]; !done {
				nodes = append(nodes, k)
				cs.edges[k], cs.subtracted[k] = cs.dependencies(def, r)
			}
		}
	}
	cs.findRecursive(nodes)
	return cs
}

// dependencies lists the relations and permissions evaluating r dispatches to, and
// separately those it dispatches to under the subtracted side of an exclusion.
func (cs *compiledSchema) dependencies(def *schema.Definition, r *schema.Relation) (all, subtracted []relKey) {
	if r.Kind == schema.KindRelation {
		for _, a := range r.AllowedSubjects {
			if a.Relation != "" && !a.Wildcard {
				all = append(all, relKey{a.Type, a.Relation})
			}
		}
		return all, nil
	}
	negative := map[schema.Expr]bool{}
	schema.Walk(r.Expr, func(e schema.Expr) {
		if x, ok := e.(*schema.Exclusion); ok {
			schema.Walk(x.Subtract, func(s schema.Expr) { negative[s] = true })
		}
	})
	schema.Walk(r.Expr, func(e schema.Expr) {
		var to []relKey
		switch e := e.(type) {
		case *schema.Computed:
			to = []relKey{{def.Name, e.Relation}}
		case *schema.Arrow:
			for _, t := range cs.arrowTargets(def, e) {
				to = append(to, relKey{t, e.Computed})
			}
		}
		all = append(all, to...)
		if negative[e] {
			subtracted = append(subtracted, to...)
		}
	})
	return all, subtracted
}

// arrowTargets lists the subject types an arrow's tupleset points at that define the
// arrow's computed relation.
func (cs *compiledSchema) arrowTargets(def *schema.Definition, a *schema.Arrow) []string {
	ts := def.Relations[a.Tupleset]
	if ts == nil {
		return nil
	}
	var out []string
	for _, as := range ts.AllowedSubjects {
		if as.Wildcard {
			continue
		}
		td := cs.s.Definitions[as.Type]
		if td == nil || td.Relations[a.Computed] == nil {
			continue
		}
		dup := false
		for _, t := range out {
			dup = dup || t == as.Type
		}
		if !dup {
			out = append(out, as.Type)
		}
	}
	return out
}

// findRecursive marks the nodes on a cycle of the dependency graph and numbers
// them by component, and finds the non-monotone components and what reaches them.
// References to relations the schema does not define (which the compiler would have
// rejected) are left out of the graph.
func (cs *compiledSchema) findRecursive(nodes []relKey) {
	successors := func(v relKey) []relKey {
		var out []relKey
		for _, w := range cs.edges[v] {
			if _, exists := cs.edges[w]; exists {
				out = append(out, w)
			}
		}
		return out
	}
	// Components come out after every component they reach, so what a component's
	// successors reach is known when it comes.
	for _, comp := range schema.StronglyConnected(nodes, successors) {
		reaches := false
		for _, v := range comp {
			for _, w := range successors(v) {
				reaches = reaches || cs.reachesNonMonotone[w]
			}
		}
		if schema.OnCycle(comp, successors) {
			for _, w := range comp {
				cs.recursive[w] = true
				cs.scc[w] = len(cs.components)
			}
			cs.components = append(cs.components, comp)
			if cs.subtractsWithin(comp) {
				reaches, cs.hasNonMonotone = true, true
				for _, w := range comp {
					cs.nonMonotone[w] = true
				}
			}
		}
		if reaches {
			for _, w := range comp {
				cs.reachesNonMonotone[w] = true
			}
		}
	}
}

// subtractsWithin reports whether a member of comp subtracts another member (or
// itself): a cycle of the component then passes through the negation.
func (cs *compiledSchema) subtractsWithin(comp []relKey) bool {
	for _, v := range comp {
		for _, w := range cs.subtracted[v] {
			if slices.Contains(comp, w) {
				return true
			}
		}
	}
	return false
}

type reachKey struct {
	node             relKey
	subjType, subjRl string
}

// canReach reports whether a subject of type subjType (narrowed to relation subjRel,
// or "" for plain objects) can be found by evaluating node: as a direct subject of a
// relation reachable from it, through a wildcard, or as a subject set naming a
// reachable relation itself. The engine skips subject sets that cannot lead to the
// subject it is looking for.
func (cs *compiledSchema) canReach(node relKey, subjType, subjRel string) bool {
	key := reachKey{node, subjType, subjRel}
	if v, ok := cs.reach.Load(key); ok {
		return v.(bool)
	}
	found := false
	seen := map[relKey]bool{node: true}
	queue := []relKey{node}
	for len(queue) > 0 && !found {
		n := queue[0]
		queue = queue[1:]
		if n.typ == subjType && n.rel == subjRel {
			found = true
			break
		}
		if def := cs.s.Definitions[n.typ]; def != nil {
			if r := def.Relations[n.rel]; r != nil && r.Kind == schema.KindRelation {
				for _, a := range r.AllowedSubjects {
					if a.Type == subjType && (a.Relation == subjRel && !a.Wildcard || a.Wildcard && subjRel == "") {
						found = true
					}
				}
			}
		}
		for _, w := range cs.edges[n] {
			if !seen[w] {
				seen[w] = true
				queue = append(queue, w)
			}
		}
	}
	cs.reach.Store(key, found)
	return found
}

// expression returns a permission's rule as text, for explanations.
func (cs *compiledSchema) expression(r *schema.Relation) string {
	key := relKey{r.Definition, r.Name}
	if v, ok := cs.exprText.Load(key); ok {
		return v.(string)
	}
	var text string
	if r.Kind == schema.KindPermission {
		text = exprString(r.Expr, false)
	} else {
		parts := make([]string, 0, len(r.AllowedSubjects))
		for _, a := range r.AllowedSubjects {
			parts = append(parts, allowedString(a))
		}
		text = strings.Join(parts, " | ")
	}
	cs.exprText.Store(key, text)
	return text
}

func allowedString(a schema.AllowedSubject) string {
	s := a.Type
	switch {
	case a.Wildcard:
		s += ":*"
	case a.Relation != "":
		s += "#" + a.Relation
	}
	if a.Caveat != "" {
		s += " with " + a.Caveat
		if a.Expiration {
			s += " and expiration"
		}
	} else if a.Expiration {
		s += " with expiration"
	}
	return s
}

// exprString prints an expression; nested operators are parenthesised so the text
// reads unambiguously.
func exprString(e schema.Expr, nested bool) string {
	join := func(children []schema.Expr, op string) string {
		parts := make([]string, len(children))
		for i, c := range children {
			parts[i] = exprString(c, true)
		}
		s := strings.Join(parts, op)
		if nested && len(children) > 1 {
			s = "(" + s + ")"
		}
		return s
	}
	switch e := e.(type) {
	case *schema.Union:
		return join(e.Children, " + ")
	case *schema.Intersection:
		return join(e.Children, " & ")
	case *schema.Exclusion:
		return join([]schema.Expr{e.Base, e.Subtract}, " - ")
	case *schema.Computed:
		return e.Relation
	case *schema.Arrow:
		if e.Mode == schema.ArrowAll {
			return e.Tupleset + ".all(" + e.Computed + ")"
		}
		return e.Tupleset + "->" + e.Computed
	case *schema.Nil:
		return "nil"
	}
	return "?"
}
