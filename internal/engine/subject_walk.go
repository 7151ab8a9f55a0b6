package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

type lsKey struct{ typ, id, rel string }

// subjectLookup walks a permission top-down from a resource, collecting the subjects
// of one type (and relation). Like Check it works in batches of sibling objects, so a
// relation with a thousand groups is one store query per level, not a thousand; and
// it cuts cycles against each object's path.
type subjectLookup struct {
	c        *checker
	typ, rel string // the wanted subject type and relation
	memo     map[lsKey]*subjectSet
	// collect makes every operator a union: the walk then lists every subject the
	// relationships it reads mention, the candidates confirmed finds the answers of.
	collect bool
}

// confirmed answers a permission that can meet a paradox, where the set algebra of
// the walk is not its meaning: it collects every subject the permission's
// relationships mention (a subject mentioned nowhere has the answer of the type's
// wildcard) and checks each, and the wildcard, against the permission.
func (ls *subjectLookup) confirmed(ctx context.Context, def *schema.Definition, rel *schema.Relation, id string) (*subjectSet, error) {
	collector := &subjectLookup{c: ls.c, typ: ls.typ, rel: ls.rel, memo: map[lsKey]*subjectSet{}, collect: true}
	outs, err := collector.dispatch(ctx, def, rel, []item{{id: id}}, 1)
	if err != nil {
		return nil, err
	}
	cands := outs[0].set
	out := newSubjectSet()
	check := func(c *checker) (result, error) {
		r := c.dispatch(ctx, def, rel, []item{{id: id}}, 1)[0]
		return r, r.err
	}
	if cands.wild != nil {
		// The lookup's own checker asks for the type's wildcard.
		r, err := check(ls.c)
		if err != nil {
			return nil, err
		}
		if !r.no() {
			out.wild = &r
		}
	}
	ids := slices.Sorted(maps.Keys(cands.concrete))
	for _, sid := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, err := ls.c.e.newChecker(ctx, query{tenant: ls.c.tenant, rev: ls.c.rev, subject: tuple.SubjectRef{Type: ls.typ, ID: sid, Relation: ls.rel}, context: ls.c.context, contextual: ls.c.contextual, without: ls.c.without})
		if err != nil {
			return nil, err
		}
		r, err := check(c)
		if err != nil {
			return nil, err
		}
		if !r.no() || out.wild != nil {
			out.concrete[sid] = r
		}
	}
	return out, nil
}

// op is the operator the walk applies for kind: a union when collecting.
func (ls *subjectLookup) op(kind NodeKind) NodeKind {
	if ls.collect {
		return NodeUnion
	}
	return kind
}

// lsOut is the subjects of one object's relation, and the shallowest depth of a cycle
// cut the answer relied on (noCut if none); such answers are not memoised.
type lsOut struct {
	set *subjectSet
	cut int
}

// dispatch returns the subjects of rel on each item's object (all of type def).
func (ls *subjectLookup) dispatch(ctx context.Context, def *schema.Definition, rel *schema.Relation, items []item, depth int) ([]lsOut, error) {
	outs := make([]lsOut, len(items))
	var pending []int
	for i, it := range items {
		if s, ok := ls.memo[lsKey{def.Name, it.id, rel.Name}]; ok {
			outs[i] = lsOut{set: s, cut: noCut}
			continue
		}
		if d := it.path.find(def.Name, it.id, rel.Name); d > 0 {
			ls.c.e.metrics.cuts.Add(1)
			outs[i] = lsOut{set: newSubjectSet(), cut: d}
			continue
		}
		if depth > ls.c.e.cfg.MaxDepth {
			return nil, &DepthError{Limit: ls.c.e.cfg.MaxDepth, At: describe(def.Name, it.id, rel.Name)}
		}
		pending = append(pending, i)
	}
	ls.c.dispatches.Add(int64(len(pending)))
	// Evaluate the first item of each object; an object reached along another path
	// reuses that answer unless it relied on a cycle cut on its own path.
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		first := map[string]int{}
		var ids []string
		var parents []*pathNode
		for _, i := range pending {
			if _, dup := first[items[i].id]; !dup {
				first[items[i].id] = len(ids)
				ids = append(ids, items[i].id)
				parents = append(parents, items[i].path)
			}
		}
		rs, err := ls.evaluate(ctx, def, rel, ids, parents, depth)
		if err != nil {
			return nil, err
		}
		var next []int
		for _, i := range pending {
			k := first[items[i].id]
			if parents[k] == items[i].path || rs[k].cut == noCut {
				outs[i] = rs[k]
				continue
			}
			next = append(next, i)
		}
		pending = next
	}
	return outs, nil
}

func (ls *subjectLookup) evaluate(ctx context.Context, def *schema.Definition, rel *schema.Relation, ids []string, parents []*pathNode, depth int) ([]lsOut, error) {
	paths := make([]*pathNode, len(ids))
	for i, id := range ids {
		paths[i] = &pathNode{parent: parents[i], typ: def.Name, id: id, rel: rel.Name, depth: depth}
	}
	b := batch{def: def, rel: rel, ids: ids, paths: paths, depth: depth}
	var outs []lsOut
	var err error
	if rel.Kind == schema.KindRelation {
		outs, err = ls.relation(ctx, b)
	} else {
		outs, err = ls.expr(ctx, b, rel.Expr)
	}
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		o := &outs[i]
		if def.Name == ls.typ && rel.Name == ls.rel && ls.rel != "" {
			// A subject set is in its own relation or permission.
			o.set = combineSets(o.set, &subjectSet{concrete: map[string]result{id: yesResult()}}, NodeUnion)
		}
		if o.cut >= depth {
			o.cut = noCut
		}
		if o.cut == noCut {
			ls.memo[lsKey{def.Name, id, rel.Name}] = o.set
		}
	}
	return outs, nil
}

func emptyOuts(n int) []lsOut {
	outs := make([]lsOut, n)
	for i := range outs {
		outs[i] = lsOut{set: newSubjectSet(), cut: noCut}
	}
	return outs
}

// relation reads a relation of a batch forward: subjects of the wanted kind are
// collected, subject sets that can lead to them are followed (one batch per type and
// relation).
func (ls *subjectLookup) relation(ctx context.Context, b batch) ([]lsOut, error) {
	outs := emptyOuts(len(b.ids))
	index := indexOf(b.ids)
	f := datastore.RelationshipFilter{ResourceType: b.def.Name, ResourceIDs: b.ids, Relation: b.rel.Name}
	var groups []*childGroup
	for r, err := range ls.c.query(ctx, f) {
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		i := index(r.Resource.ID)
		if i < 0 {
			continue
		}
		via := ls.c.heldResult(ctx, r, b.depth)
		if via.err != nil {
			return nil, via.err
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
			unionInto(outs[i].set, one)
		}
		if r.Subject.Relation == "" || r.Subject.IsWildcard() || !ls.c.cs.canReach(relKey{r.Subject.Type, r.Subject.Relation}, ls.typ, ls.rel) {
			continue
		}
		sdef := ls.c.cs.s.Definitions[r.Subject.Type]
		if sdef == nil || sdef.Relations[r.Subject.Relation] == nil {
			continue
		}
		var g *childGroup
		groups, g = groupOf(groups, sdef, sdef.Relations[r.Subject.Relation])
		g.items = append(g.items, item{id: r.Subject.ID, path: b.paths[i]})
		g.parents = append(g.parents, i)
		g.via = append(g.via, via)
	}
	for _, g := range groups {
		children, err := ls.dispatch(ctx, g.def, g.rel, g.items, b.depth+1)
		if err != nil {
			return nil, err
		}
		for k, i := range g.parents {
			unionInto(outs[i].set, restrict(children[k].set, g.via[k]))
			outs[i].cut = min(outs[i].cut, children[k].cut)
		}
	}
	return outs, nil
}

func (ls *subjectLookup) expr(ctx context.Context, b batch, e schema.Expr) ([]lsOut, error) {
	fold := func(children []schema.Expr, op NodeKind) ([]lsOut, error) {
		var acc []lsOut
		for ci, ce := range children {
			outs, err := ls.expr(ctx, b, ce)
			if err != nil {
				return nil, err
			}
			if ci == 0 {
				acc = outs
				continue
			}
			for i := range acc {
				acc[i] = lsOut{set: combineSets(acc[i].set, outs[i].set, ls.op(op)), cut: min(acc[i].cut, outs[i].cut)}
			}
		}
		if acc == nil {
			acc = emptyOuts(len(b.ids))
		}
		return acc, nil
	}
	switch e := e.(type) {
	case *schema.Computed:
		target := b.def.Relations[e.Relation]
		if target == nil {
			return nil, fmt.Errorf("relation `%s` not found on definition `%s`", e.Relation, b.def.Name)
		}
		items := make([]item, len(b.ids))
		for i, id := range b.ids {
			items[i] = item{id: id, path: b.paths[i]}
		}
		return ls.dispatch(ctx, b.def, target, items, b.depth+1)
	case *schema.Union:
		return fold(e.Children, NodeUnion)
	case *schema.Intersection:
		return ls.intersect(ctx, b, e.Children, fold)
	case *schema.Exclusion:
		return fold([]schema.Expr{e.Base, e.Subtract}, NodeExclusion)
	case *schema.Arrow:
		return ls.arrow(ctx, b, e)
	}
	return emptyOuts(len(b.ids)), nil
}

// arrow follows the tupleset of a batch to its targets (one batch per target type)
// and combines their subjects: a union for "->" and ".any", an intersection over at
// least one target for ".all".
func (ls *subjectLookup) arrow(ctx context.Context, b batch, a *schema.Arrow) ([]lsOut, error) {
	all := a.Mode == schema.ArrowAll && !ls.collect
	outs := emptyOuts(len(b.ids))
	seen := make([]bool, len(b.ids))
	index := indexOf(b.ids)
	combine := func(i int, s *subjectSet, cut int) {
		switch {
		case all && !seen[i]:
			outs[i].set = s
		case all:
			outs[i].set = combineSets(outs[i].set, s, NodeIntersection)
		default:
			unionInto(outs[i].set, s)
		}
		seen[i] = true
		outs[i].cut = min(outs[i].cut, cut)
	}
	var groups []*childGroup
	f := datastore.RelationshipFilter{ResourceType: b.def.Name, ResourceIDs: b.ids, Relation: a.Tupleset}
	for r, err := range ls.c.query(ctx, f) {
		if err != nil {
			return nil, err
		}
		i := index(r.Resource.ID)
		if i < 0 || r.Subject.IsWildcard() {
			continue
		}
		via := ls.c.heldResult(ctx, r, b.depth)
		if via.err != nil {
			return nil, via.err
		}
		td := ls.c.cs.s.Definitions[r.Subject.Type]
		if td == nil || td.Relations[a.Computed] == nil || via.no() {
			combine(i, newSubjectSet(), noCut)
			continue
		}
		var g *childGroup
		groups, g = groupOf(groups, td, td.Relations[a.Computed])
		g.items = append(g.items, item{id: r.Subject.ID, path: b.paths[i]})
		g.parents = append(g.parents, i)
		g.via = append(g.via, via)
	}
	for _, g := range groups {
		children, err := ls.dispatch(ctx, g.def, g.rel, g.items, b.depth+1)
		if err != nil {
			return nil, err
		}
		for k, i := range g.parents {
			combine(i, restrict(children[k].set, g.via[k]), children[k].cut)
		}
	}
	return outs, nil
}

// maxFilteredSubjects bounds the subjects an intersection filters by checking them one
// by one; beyond it (or with a wildcard) every child's subjects are enumerated.
const maxFilteredSubjects = 4096

// intersect computes the first child's subjects and keeps those every other child
// grants, checking each subject against the other children rather than enumerating
// them: the other sides of an intersection are typically broad filters (every user of
// a brand's portal), far larger than the answer.
func (ls *subjectLookup) intersect(ctx context.Context, b batch, children []schema.Expr, fold func([]schema.Expr, NodeKind) ([]lsOut, error)) ([]lsOut, error) {
	if ls.collect {
		return fold(children, NodeUnion)
	}
	outs, err := ls.expr(ctx, b, children[0])
	if err != nil {
		return nil, err
	}
	total := 0
	for _, o := range outs {
		if o.set.wild != nil {
			return fold(children, NodeIntersection)
		}
		total += len(o.set.concrete)
	}
	if total > maxFilteredSubjects {
		return fold(children, NodeIntersection)
	}
	// Which objects of the batch list each subject.
	bySubject := map[string][]int{}
	for i, o := range outs {
		for id, r := range o.set.concrete {
			if !r.no() {
				bySubject[id] = append(bySubject[id], i)
			}
		}
	}
	kept := make([]*subjectSet, len(outs))
	for i := range kept {
		kept[i] = newSubjectSet()
	}
	for id, objs := range bySubject {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := ls.c
		subject := tuple.SubjectRef{Type: ls.typ, ID: id, Relation: ls.rel}
		chk, err := c.e.newChecker(ctx, query{tenant: c.tenant, rev: c.rev, subject: subject, context: c.context, contextual: c.contextual, without: c.without})
		if err != nil {
			return nil, err
		}
		sub := batch{def: b.def, rel: b.rel, depth: 1, ids: make([]string, len(objs)), paths: make([]*pathNode, len(objs))}
		for k, i := range objs {
			sub.ids[k] = b.ids[i]
			sub.paths[k] = &pathNode{typ: b.def.Name, id: b.ids[i], rel: b.rel.Name, depth: 1}
		}
		acc := make([]result, len(objs))
		for k, i := range objs {
			acc[k] = outs[i].set.concrete[id]
		}
		for _, ce := range children[1:] {
			rs := chk.evalExpr(ctx, sub, ce)
			for k := range acc {
				if rs[k].err != nil {
					return nil, rs[k].err
				}
				acc[k] = and(acc[k], rs[k])
			}
		}
		for k, i := range objs {
			if !acc[k].no() {
				kept[i].concrete[id] = acc[k]
			}
		}
	}
	for i := range outs {
		outs[i].set = kept[i]
	}
	return outs, nil
}
