package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// indexOf maps an object id of a batch to its position.
func indexOf(ids []string) func(string) int {
	if len(ids) == 1 {
		return func(id string) int {
			if id == ids[0] {
				return 0
			}
			return -1
		}
	}
	m := make(map[string]int, len(ids))
	for i, id := range ids {
		m[id] = i
	}
	return func(id string) int {
		if i, ok := m[id]; ok {
			return i
		}
		return -1
	}
}

func fill(n int, r result) []result {
	out := make([]result, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// childGroup collects the sub-problems of one relation of one type that a batch's
// relationships lead to, with the relationship and caveat answer that led there.
type childGroup struct {
	def     *schema.Definition
	rel     *schema.Relation
	items   []item
	parents []int
	via     []result // the caveat answer of the relationship followed
	rels    []tuple.Relationship
	out     []result
}

// groupOf finds or adds the group for typ#rel.
func groupOf(groups []*childGroup, def *schema.Definition, rel *schema.Relation) ([]*childGroup, *childGroup) {
	for _, g := range groups {
		if g.def == def && g.rel == rel {
			return groups, g
		}
	}
	g := &childGroup{def: def, rel: rel}
	return append(groups, g), g
}

// dispatchGroups evaluates every group's sub-problems, concurrently when slots are
// free.
func (c *checker) dispatchGroups(ctx context.Context, groups []*childGroup, depth int) {
	if len(groups) == 0 {
		return
	}
	c.parallel(len(groups), func(i int) {
		g := groups[i]
		g.out = c.dispatch(ctx, g.def, g.rel, g.items, depth)
	})
}

// evalRelation answers a stored relation for a batch: relationships naming the
// subject (or its type's wildcard) directly, then subject sets that can lead to the
// subject, recursively.
func (c *checker) evalRelation(ctx context.Context, b batch) []result {
	res := fill(len(b.ids), noResult())
	var nodes [][]*ExplainNode
	if c.explain {
		nodes = make([][]*ExplainNode, len(b.ids))
	}
	index := indexOf(b.ids)
	s := c.subject

	plan := c.cs.relationPlan(b.rel, s.Type, s.Relation)
	if f, ok := c.directFilter(b.def, b.rel, b.ids, plan); ok {
		start := time.Now()
		for rel, err := range c.query(ctx, f) {
			if err != nil {
				for i := range res {
					res[i] = or(res[i], errResult(err))
				}
				break
			}
			i := index(rel.Resource.ID)
			if i < 0 {
				continue
			}
			r := c.heldResult(ctx, rel, b.depth)
			res[i] = or(res[i], r)
			if c.explain {
				nodes[i] = append(nodes[i], c.relationshipNode(rel, r, r.node))
			}
		}
		c.e.observeRead(time.Since(start))
	}

	// Subject sets, for the objects not yet granted.
	var open []string
	if len(plan.sets) > 0 {
		for i, id := range b.ids {
			if !res[i].yes() {
				open = append(open, id)
			}
		}
	}
	if len(open) > 0 {
		var groups []*childGroup
		for _, set := range plan.sets {
			f := setFilter(b.def, b.rel, open, set)
			start := time.Now()
			for rel, err := range c.query(ctx, f) {
				if err != nil {
					for i := range res {
						res[i] = or(res[i], errResult(err))
					}
					break
				}
				i := index(rel.Resource.ID)
				if i < 0 || rel.Subject.IsWildcard() {
					continue
				}
				def, target, via, ok := c.follow(ctx, rel, rel.Subject.Relation, b.depth)
				if !ok {
					res[i] = or(res[i], via)
					if c.explain {
						nodes[i] = append(nodes[i], c.relationshipNode(rel, via, via.node))
					}
					continue
				}
				var g *childGroup
				groups, g = groupOf(groups, def, target)
				g.items = append(g.items, item{id: rel.Subject.ID, path: b.paths[i]})
				g.parents = append(g.parents, i)
				g.via = append(g.via, via)
				if c.explain {
					g.rels = append(g.rels, rel)
				}
			}
			c.e.observeRead(time.Since(start))
		}
		c.dispatchGroups(ctx, groups, b.depth+1)
		for _, g := range groups {
			for k, i := range g.parents {
				r := and(g.via[k], g.out[k])
				res[i] = or(res[i], r)
				if c.explain {
					nodes[i] = append(nodes[i], c.relationshipNode(g.rels[k], r, g.via[k].node, g.out[k].node))
				}
			}
		}
	}
	if c.explain {
		for i := range res {
			res[i].node = &ExplainNode{Children: nodes[i]}
		}
	}
	return res
}

// directFilter reads the relationships of rel on ids that name the subject itself or
// its type's wildcard, as far as plan says rel can; ok is false when it cannot.
func (c *checker) directFilter(def *schema.Definition, rel *schema.Relation, ids []string, plan *plan) (_ datastore.RelationshipFilter, ok bool) {
	if !plan.direct && !plan.wildcard {
		return datastore.RelationshipFilter{}, false
	}
	subjIDs := c.subjectIDs[:1]
	if plan.wildcard {
		subjIDs = c.subjectIDs
	}
	if !plan.direct {
		subjIDs = c.subjectIDs[1:]
	}
	return datastore.RelationshipFilter{
		ResourceType: def.Name, ResourceIDs: ids, Relation: rel.Name,
		Subject: &datastore.SubjectFilter{Type: c.subject.Type, IDs: subjIDs, Relations: c.subjectRels},
	}, true
}

// setFilter reads the relationships of rel on ids whose subjects are sets of one of
// the planned types and relations.
func setFilter(def *schema.Definition, rel *schema.Relation, ids []string, set setGroup) datastore.RelationshipFilter {
	return datastore.RelationshipFilter{
		ResourceType: def.Name, ResourceIDs: ids, Relation: rel.Name,
		Subject: &datastore.SubjectFilter{Type: set.typ, Relations: set.rels},
	}
}

// follow returns where relationship r leads: relation on its subject object, and the
// answer of r itself (its caveat and its grant's conditions, see heldResult). ok is
// false when it leads nowhere worth evaluating (the subject's type lacks the
// relation, the caveat or a condition rules it out or failed); via is then the
// relationship's whole answer.
func (c *checker) follow(ctx context.Context, r tuple.Relationship, relation string, depth int) (def *schema.Definition, target *schema.Relation, via result, ok bool) {
	via = c.heldResult(ctx, r, depth)
	def = c.cs.s.Definitions[r.Subject.Type]
	if def != nil {
		target = def.Relations[relation]
	}
	if target == nil {
		return def, nil, and(via, noResult()), false
	}
	return def, target, via, !via.no() && via.err == nil
}

// relationshipNode explains one relationship followed: its caveat's evaluation and
// what it led to, when there are such nodes.
func (c *checker) relationshipNode(rel tuple.Relationship, r result, children ...*ExplainNode) *ExplainNode {
	n := &ExplainNode{
		Kind: NodeRelationship, Resource: rel.Resource, Relation: rel.Relation, Subject: rel.Subject,
		Result: r.perm, MissingContext: r.missing, Relationship: &rel,
	}
	for _, ch := range children {
		switch {
		case ch == nil:
		case ch.Kind == 0:
			// A holder of several nodes about the relationship itself (its caveat
			// and its grant's conditions, see heldResult).
			n.Children = append(n.Children, ch.Children...)
		default:
			n.Children = append(n.Children, ch)
		}
	}
	return n
}

// caveatResult evaluates a relationship's caveat with the relationship's context
// merged over the request's (the relationship's values win). A relationship without
// a caveat is a plain yes. The answer depends on the relationship, so it expires with
// it.
func (c *checker) caveatResult(rel tuple.Relationship) result {
	r := yesResult()
	r.expires = rel.Expiration
	if rel.Caveat == nil {
		return r
	}
	fail := func(err error) result {
		return errResult(&CaveatError{Caveat: rel.Caveat.Name, Relationship: tuple.Format(rel), Err: err})
	}
	cv := c.cs.s.Caveats[rel.Caveat.Name]
	if cv == nil || cv.Program == nil {
		return fail(errors.New("the caveat is not defined in the schema"))
	}
	out, err := cv.Program.Evaluate(mergeContext(c.context, rel.Caveat.Context))
	if err != nil {
		return fail(err)
	}
	switch {
	case len(out.Missing) > 0:
		r.perm = Conditional
		r.missing = out.Missing
	case !out.Satisfied:
		r.perm = NoPermission
	}
	if c.explain {
		r.node = &ExplainNode{Kind: NodeCaveat, Caveat: rel.Caveat.Name, Resource: rel.Resource, Relation: rel.Relation,
			Subject: rel.Subject, Result: r.perm, MissingContext: r.missing}
	}
	return r
}

// mergeContext overlays a relationship's caveat context on the request's.
func mergeContext(request, stored map[string]any) map[string]any {
	switch {
	case len(stored) == 0:
		return request
	case len(request) == 0:
		return stored
	}
	m := make(map[string]any, len(request)+len(stored))
	for k, v := range request {
		m[k] = v
	}
	for k, v := range stored {
		m[k] = v
	}
	return m
}

// evalExpr evaluates a permission's expression for a batch.
func (c *checker) evalExpr(ctx context.Context, b batch, e schema.Expr) []result {
	switch e := e.(type) {
	case *schema.Computed:
		rel := b.def.Relations[e.Relation]
		if rel == nil {
			return fill(len(b.ids), errResult(fmt.Errorf("relation `%s` not found on definition `%s`", e.Relation, b.def.Name)))
		}
		items := make([]item, len(b.ids))
		for i, id := range b.ids {
			items[i] = item{id: id, path: b.paths[i]}
		}
		return c.dispatch(ctx, b.def, rel, items, b.depth+1)
	case *schema.Arrow:
		return c.evalArrow(ctx, b, e)
	case *schema.Union:
		return c.evalOp(ctx, b, NodeUnion, e.Children, e)
	case *schema.Intersection:
		return c.evalOp(ctx, b, NodeIntersection, e.Children, e)
	case *schema.Exclusion:
		return c.evalOp(ctx, b, NodeExclusion, []schema.Expr{e.Base, e.Subtract}, e)
	case *schema.Nil:
		out := fill(len(b.ids), noResult())
		if c.explain {
			for i, id := range b.ids {
				out[i].node = &ExplainNode{Kind: NodeNil, Resource: tuple.ObjectRef{Type: b.def.Name, ID: id}, Relation: b.rel.Name, Expression: "nil", Subject: c.subject}
			}
		}
		return out
	}
	return fill(len(b.ids), errResult(fmt.Errorf("unknown expression %T in permission `%s`", e, b.rel.Name)))
}

// evalOp evaluates union, intersection or exclusion children, stopping as soon as
// every object is decided (a yes for a union, a no for the others) and cancelling
// children still running.
func (c *checker) evalOp(ctx context.Context, b batch, op NodeKind, children []schema.Expr, expr schema.Expr) []result {
	st := &opState{op: op, acc: fill(len(b.ids), yesResult())}
	if op == NodeUnion {
		st.acc = fill(len(b.ids), noResult())
	}
	if c.explain {
		st.nodes = make([][]*ExplainNode, len(children))
		if x, ok := expr.(*schema.Exclusion); ok {
			st.paradox = func(i int, r result) *ExplainNode {
				return c.paradoxNode(tuple.ObjectRef{Type: b.def.Name, ID: b.ids[i]}, b.rel.Name, x.Subtract, r, r.node)
			}
		}
	}
	var (
		wg     sync.WaitGroup
		cctx   = ctx
		cancel context.CancelFunc
	)
	for ci, child := range children {
		idx := st.undecided()
		if len(idx) == 0 {
			break
		}
		sub := b.subset(idx)
		if ci < len(children)-1 && c.tryAcquire() {
			if cancel == nil {
				cctx, cancel = context.WithCancel(ctx)
			}
			wg.Add(1)
			go func(ctx context.Context) {
				defer wg.Done()
				defer c.release()
				if st.combine(ci, idx, c.evalExpr(ctx, sub, child)) {
					cancel()
				}
			}(cctx)
			continue
		}
		if st.combine(ci, idx, c.evalExpr(cctx, sub, child)) && cancel != nil {
			cancel()
		}
	}
	wg.Wait()
	if cancel != nil {
		cancel()
	}
	if c.explain {
		text := exprString(expr, false)
		for i, id := range b.ids {
			node := &ExplainNode{Kind: op, Resource: tuple.ObjectRef{Type: b.def.Name, ID: id}, Relation: b.rel.Name,
				Expression: text, Subject: c.subject, Result: st.acc[i].perm, MissingContext: st.acc[i].missing}
			for ci := range children {
				if st.nodes[ci] != nil && st.nodes[ci][i] != nil {
					node.Children = append(node.Children, st.nodes[ci][i])
				}
			}
			st.acc[i].node = node
		}
	}
	return st.acc
}

// opState is an operator's running answer per object; children finishing on other
// goroutines combine into it under its lock.
type opState struct {
	op    NodeKind // NodeUnion, NodeIntersection or NodeExclusion
	mu    sync.Mutex
	acc   []result
	nodes [][]*ExplainNode // per child, per object (explanations only)
	// paradox explains the subtracted side of object i's exclusion when a paradox
	// leaves it open (explanations only).
	paradox func(i int, r result) *ExplainNode
}

// onlyFirst is the index list of a one-object batch.
var onlyFirst = []int{0}

// decided reports whether the remaining children cannot change r: a yes for a union,
// for the others a no that no paradox leaves open (the rest may still settle it).
func (st *opState) decided(r result) bool {
	if st.op == NodeUnion {
		return r.yes()
	}
	return r.exactNo()
}

// undecided lists the objects whose answer the remaining children can still change.
func (st *opState) undecided() []int {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.acc) == 1 {
		if st.decided(st.acc[0]) {
			return nil
		}
		return onlyFirst
	}
	var idx []int
	for i := range st.acc {
		if !st.decided(st.acc[i]) {
			idx = append(idx, i)
		}
	}
	return idx
}

// combine folds child ci's answers for the objects idx into the running answers and
// reports whether every object is now decided.
func (st *opState) combine(ci int, idx []int, rs []result) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.nodes != nil {
		st.nodes[ci] = make([]*ExplainNode, len(st.acc))
	}
	for k, i := range idx {
		r := rs[k]
		if st.nodes != nil {
			st.nodes[ci][i] = r.node
			if st.op == NodeExclusion && ci == 1 && r.upper != nil {
				st.nodes[ci][i] = st.paradox(i, r)
			}
		}
		switch {
		case st.op == NodeUnion:
			st.acc[i] = or(st.acc[i], r)
		case st.op == NodeExclusion && ci == 1:
			st.acc[i] = and(st.acc[i], not(r))
		default:
			st.acc[i] = and(st.acc[i], r)
		}
	}
	for i := range st.acc {
		if !st.decided(st.acc[i]) {
			return false
		}
	}
	return true
}

// evalArrow follows the tupleset relation of each object to its targets and
// evaluates the computed relation there: any target suffices for "->" and ".any",
// ".all" needs at least one target and every target to grant.
func (c *checker) evalArrow(ctx context.Context, b batch, a *schema.Arrow) []result {
	all := a.Mode == schema.ArrowAll
	res := fill(len(b.ids), noResult())
	if all {
		res = fill(len(b.ids), yesResult())
	}
	targets := make([]int, len(b.ids))
	var nodes [][]*ExplainNode
	if c.explain {
		nodes = make([][]*ExplainNode, len(b.ids))
	}
	index := indexOf(b.ids)
	merge := func(i int, r result) {
		if all {
			res[i] = and(res[i], r)
		} else {
			res[i] = or(res[i], r)
		}
	}
	var groups []*childGroup
	f := datastore.RelationshipFilter{ResourceType: b.def.Name, ResourceIDs: b.ids, Relation: a.Tupleset}
	start := time.Now()
	for rel, err := range c.query(ctx, f) {
		if err != nil {
			for i := range res {
				res[i] = combineUndecided(res[i], errResult(err))
			}
			return res
		}
		i := index(rel.Resource.ID)
		if i < 0 || rel.Subject.IsWildcard() {
			continue
		}
		targets[i]++
		def, target, via, ok := c.follow(ctx, rel, a.Computed, b.depth)
		if !ok {
			merge(i, via)
			if c.explain {
				nodes[i] = append(nodes[i], c.relationshipNode(rel, via, via.node))
			}
			continue
		}
		var g *childGroup
		groups, g = groupOf(groups, def, target)
		g.items = append(g.items, item{id: rel.Subject.ID, path: b.paths[i]})
		g.parents = append(g.parents, i)
		g.via = append(g.via, via)
		if c.explain {
			g.rels = append(g.rels, rel)
		}
	}
	c.e.observeRead(time.Since(start))
	c.dispatchGroups(ctx, groups, b.depth+1)
	for _, g := range groups {
		for k, i := range g.parents {
			r := and(g.via[k], g.out[k])
			merge(i, r)
			if c.explain {
				nodes[i] = append(nodes[i], c.relationshipNode(g.rels[k], r, g.via[k].node, g.out[k].node))
			}
		}
	}
	if all {
		for i := range res {
			if targets[i] == 0 {
				res[i] = noResult()
			}
		}
	}
	if c.explain {
		text := exprString(a, false)
		for i, id := range b.ids {
			res[i].node = &ExplainNode{Kind: NodeArrow, Resource: tuple.ObjectRef{Type: b.def.Name, ID: id}, Relation: a.Tupleset,
				Expression: text, Subject: c.subject, Result: res[i].perm, MissingContext: res[i].missing, Children: nodes[i]}
		}
	}
	return res
}
