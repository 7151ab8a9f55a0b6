package engine

import (
	"context"
	"errors"
	"iter"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Check answers whether req.Subject has req.Permission (a permission or a relation)
// on req.Resource at req.Revision.
func (e *Engine) Check(ctx context.Context, req CheckRequest) (CheckResult, error) {
	q := query{
		tenant: req.Tenant, rev: req.Revision, subject: req.Subject,
		context: req.Context, contextual: req.Contextual, without: req.Without, explain: req.Explain,
	}
	c, err := e.newChecker(ctx, q)
	if err != nil {
		return CheckResult{}, err
	}
	def, rel, err := c.cs.target(req.Resource.Type, req.Permission)
	if err != nil {
		return CheckResult{}, err
	}
	if err := c.cs.validateResource(req.Resource); err != nil {
		return CheckResult{}, err
	}
	res := c.run(ctx, def, rel, req.Resource.ID)
	if res.err != nil {
		return CheckResult{Stats: c.stats()}, res.err
	}
	return CheckResult{Permissionship: res.perm, MissingContext: res.missing, Explanation: res.node, Stats: c.stats()}, nil
}

// query is what every evaluation of one request shares.
type query struct {
	tenant     string
	rev        datastore.Revision
	subject    tuple.SubjectRef
	context    map[string]any
	contextual []tuple.Relationship
	// without are hypothetical removals (CheckRequest.Without).
	without []tuple.Relationship
	explain bool
	// wildcardSubject lets internal callers check a wildcard subject.
	wildcardSubject bool
}

// checker evaluates sub-problems for one subject at one revision. One request (or
// one group of a CheckBulk) owns one checker; its goroutines share its slots.
type checker struct {
	e       *Engine
	cs      *compiledSchema
	reader  datastore.Reader
	tenant  string
	epoch   uint64
	rev     datastore.Revision
	subject tuple.SubjectRef
	context map[string]any
	// contextual are the request's contextual relationships (already in reader).
	contextual []tuple.Relationship
	// without are the request's hypothetical removals (already out of reader).
	without []tuple.Relationship
	ctxFP   fingerprint
	relFP   fingerprint
	explain bool
	now     time.Time
	slots   chan struct{} // extra goroutines this request may run
	// subjectIDs is {subject id, "*"} and subjectRels {subject relation}: the subject
	// filter of direct reads, built once.
	subjectIDs  []string
	subjectRels []string
	// nested is set on a checker that evaluates a grant's condition for another
	// subject (see forSubject): conditions can lead back into the relation whose
	// grant is being evaluated, so its evaluations never wait for in-flight ones.
	nested bool

	dispatches, hits, maxDepth atomic.Int64
}

func (e *Engine) newChecker(ctx context.Context, q query) (*checker, error) {
	tenant := q.tenant
	if q.subject.Relation == tuple.Ellipsis {
		q.subject.Relation = "" // "type:id#..." is the object itself
	}
	cs, err := e.schemaAt(ctx, tenant, q.rev)
	if err != nil {
		return nil, err
	}
	if err := cs.validateSubject(q.subject, q.wildcardSubject); err != nil {
		return nil, err
	}
	if err := cs.validateContextual(q.contextual, e.cfg.MaxContextualRelationships); err != nil {
		return nil, err
	}
	now := e.cfg.Now()
	return &checker{
		e: e, cs: cs, tenant: tenant, epoch: e.epoch(tenant), rev: q.rev,
		reader:  withContextual(withoutRelationships(e.ds.SnapshotReader(tenant, q.rev), q.without), q.contextual, now),
		subject: q.subject, context: q.context, contextual: q.contextual, without: q.without,
		ctxFP: contextFingerprint(cs, q.context), relFP: scenarioFingerprint(q.contextual, q.without),
		explain: q.explain, now: now,
		slots:       make(chan struct{}, e.cfg.MaxConcurrency-1),
		subjectIDs:  []string{q.subject.ID, tuple.Wildcard},
		subjectRels: []string{q.subject.Relation},
	}, nil
}

// run evaluates one top-level question and records the request's metrics.
func (c *checker) run(ctx context.Context, def *schema.Definition, rel *schema.Relation, id string) result {
	res := c.dispatch(ctx, def, rel, []item{{id: id}}, 1)[0]
	c.record(res.err)
	return res
}

func (c *checker) record(err error) {
	m := &c.e.metrics
	m.requests.Add(1)
	m.dispatchHist.observe(int(c.dispatches.Load()))
	m.depthHist.observe(int(c.maxDepth.Load()))
	if err != nil {
		if de := (*DepthError)(nil); errors.As(err, &de) {
			m.depthErrors.Add(1)
		}
	}
}

func (c *checker) stats() CheckStats {
	return CheckStats{Dispatches: int(c.dispatches.Load()), CacheHits: int(c.hits.Load()), MaxDepth: int(c.maxDepth.Load())}
}

// query reads relationships. Callers report the read's latency with observeRead,
// which decides whether fanning out pays.
func (c *checker) query(ctx context.Context, f datastore.RelationshipFilter) iter.Seq2[tuple.Relationship, error] {
	return c.reader.QueryRelationships(ctx, f, datastore.QueryOptions{})
}

// pathNode is one node on an evaluation path: the relation or permission of one
// object being evaluated, linked to the node that asked for it.
type pathNode struct {
	parent  *pathNode
	typ, id string
	rel     string
	depth   int
}

// find returns the depth of the node typ:id#rel on the path, or 0.
func (p *pathNode) find(typ, id, rel string) int {
	for ; p != nil; p = p.parent {
		if p.id == id && p.rel == rel && p.typ == typ {
			return p.depth
		}
	}
	return 0
}

// item is one sub-problem to dispatch: an object id, and the path of the node that
// asked for it (nil at the root).
type item struct {
	id   string
	path *pathNode
}

func (c *checker) key(typ, id, rel string) cacheKey {
	return cacheKey{
		tenant: c.tenant, epoch: c.epoch, rev: c.rev, typ: typ, id: id, rel: rel,
		subject: c.subject, context: c.ctxFP, contextual: c.relFP,
	}
}

// dispatch answers rel for each item's object, all of type def. depth is the depth
// of these nodes (1 at the root). Cycles, the depth limit and the cache are handled
// here, per item; the rest is evaluated in one batch, so store reads for sibling
// objects are shared.
func (c *checker) dispatch(ctx context.Context, def *schema.Definition, rel *schema.Relation, items []item, depth int) []result {
	results := make([]result, len(items))
	pending := make([]int, 0, len(items))
	var wasCached []bool
	m := &c.e.metrics
	c.count(len(items), depth)
	cacheable := c.cacheable(rel)
	for i, it := range items {
		switch {
		case c.subject.Relation == rel.Name && c.subject.ID == it.id && c.subject.Type == def.Name:
			// A subject set is trivially in its own relation.
			results[i] = yesResult()
			if c.explain {
				results[i].node = c.nodeFor(def, rel, it.id, results[i])
			}
		case it.path.find(def.Name, it.id, rel.Name) > 0:
			// Back at a node on our own path: this branch adds nothing new, so it is
			// cut as "no", and the answers that relied on the cut are not cached.
			m.cuts.Add(1)
			results[i] = noResult()
			results[i].cut = it.path.find(def.Name, it.id, rel.Name)
			if c.explain {
				results[i].node = &ExplainNode{Kind: NodeCycle, Resource: tuple.ObjectRef{Type: def.Name, ID: it.id}, Relation: rel.Name, Subject: c.subject, Result: NoPermission}
			}
		case depth > c.e.cfg.MaxDepth:
			results[i] = errResult(&DepthError{Limit: c.e.cfg.MaxDepth, At: describe(def.Name, it.id, rel.Name)})
		default:
			if !cacheable {
				pending = append(pending, i)
				continue
			}
			if ent, ok := c.e.cacheGet(c.key(def.Name, it.id, rel.Name), c.now); ok && c.fits(depth, ent.height) {
				m.hits.Add(1)
				c.hits.Add(1)
				if c.explain {
					// An explanation evaluates anyway, so it can show why; the node
					// says the answer was cached.
					if wasCached == nil {
						wasCached = make([]bool, len(items))
					}
					wasCached[i] = true
					pending = append(pending, i)
					continue
				}
				results[i] = result{perm: ent.perm, missing: ent.missing, upper: ent.upper, cut: noCut, height: ent.height, expires: ent.expires}
				continue
			}
			if c.e.results != nil {
				m.misses.Add(1)
			}
			pending = append(pending, i)
		}
	}
	for len(pending) > 0 {
		pending = c.evaluateRound(ctx, def, rel, items, pending, results, depth)
	}
	for i, cached := range wasCached {
		if cached && results[i].node != nil {
			n := *results[i].node
			n.Cached = true
			results[i].node = &n
		}
	}
	return results
}

// count records n sub-problems at depth in the request's and the engine's counters.
func (c *checker) count(n, depth int) {
	c.dispatches.Add(int64(n))
	c.e.metrics.dispatches.Add(uint64(n))
	for d := c.maxDepth.Load(); int64(depth) > d; d = c.maxDepth.Load() {
		if c.maxDepth.CompareAndSwap(d, int64(depth)) {
			break
		}
	}
}

// evaluateRound evaluates the first item of each distinct object among pending and
// returns the items still unanswered: those whose object was reached along a
// different path and whose answer here depended on a cycle cut on that path.
func (c *checker) evaluateRound(ctx context.Context, def *schema.Definition, rel *schema.Relation, items []item, pending []int, results []result, depth int) []int {
	if len(pending) == 1 {
		it := items[pending[0]]
		results[pending[0]] = c.evaluateShared(ctx, def, rel, []string{it.id}, []*pathNode{it.path}, depth)[0]
		return nil
	}
	first := make(map[string]int, len(pending))
	var ids []string
	var parents []*pathNode
	for _, i := range pending {
		it := items[i]
		if _, dup := first[it.id]; !dup {
			first[it.id] = len(ids)
			ids = append(ids, it.id)
			parents = append(parents, it.path)
		}
	}
	rs := c.evaluateShared(ctx, def, rel, ids, parents, depth)
	var next []int
	for _, i := range pending {
		k := first[items[i].id]
		if r := rs[k]; parents[k] == items[i].path || r.err == nil && r.cut == noCut {
			results[i] = r
			continue
		}
		next = append(next, i)
	}
	return next
}

// evaluateShared evaluates a batch, sharing the work with identical batches in
// flight in other requests when that is safe: only for relations that cannot meet
// cycles (so the answer does not depend on the path) and without explanations.
func (c *checker) evaluateShared(ctx context.Context, def *schema.Definition, rel *schema.Relation, ids []string, parents []*pathNode, depth int) []result {
	// Sharing costs a key and a lock; it pays when reads are slow (the same signal
	// that decides fan-out), not when a memory-speed store answers faster.
	if c.explain || c.nested || !c.e.fanOut() || c.cs.recursive[relKey{def.Name, rel.Name}] {
		return c.evaluate(ctx, def, rel, ids, parents, depth)
	}
	// Waiting here cannot deadlock: the relation is not on a cycle of the schema, so
	// the evaluation we wait for can never wait for us.
	led := false
	v, _, _ := c.e.flights.Do(c.flightKey(def.Name, rel.Name, ids), func() (any, error) {
		led = true
		return c.evaluate(ctx, def, rel, ids, parents, depth), nil
	})
	rs := v.([]result)
	if led {
		return rs
	}
	// Another request computed it. Use it unless it failed (perhaps only because that
	// request was cancelled) or it would not fit within our depth limit.
	for _, r := range rs {
		if r.err != nil || !c.fits(depth, r.height) {
			return c.evaluate(ctx, def, rel, ids, parents, depth)
		}
	}
	c.e.metrics.shared.Add(1)
	out := make([]result, len(rs))
	copy(out, rs)
	return out
}

// fits reports whether an answer whose evaluation used height levels from a node at
// depth stays within the depth limit.
func (c *checker) fits(depth, height int) bool {
	return depth+height-1 <= c.e.cfg.MaxDepth
}

func (c *checker) flightKey(typ, rel string, ids []string) string {
	n := len(c.tenant) + len(typ) + len(rel) + len(c.subject.Type) + len(c.subject.ID) + len(c.subject.Relation) + 96
	for _, id := range ids {
		n += len(id) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, c.tenant...)
	b = append(b, 0)
	b = strconv.AppendUint(b, c.epoch, 10)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(c.rev), 10)
	b = append(b, 0)
	b = append(b, typ...)
	b = append(b, 0)
	b = append(b, rel...)
	b = append(b, 0)
	b = append(b, c.subject.Type...)
	b = append(b, 0)
	b = append(b, c.subject.ID...)
	b = append(b, 0)
	b = append(b, c.subject.Relation...)
	b = append(b, 0)
	b = append(b, c.ctxFP[:]...)
	b = append(b, c.relFP[:]...)
	for _, id := range ids {
		b = append(b, 0)
		b = append(b, id...)
	}
	return string(b)
}

// evaluate computes rel for a batch of distinct objects of type def, whose parents'
// paths are given, then records the answers that can be cached.
func (c *checker) evaluate(ctx context.Context, def *schema.Definition, rel *schema.Relation, ids []string, parents []*pathNode, depth int) []result {
	var start time.Time
	if c.explain {
		start = time.Now()
	}
	paths := make([]*pathNode, len(ids))
	for i, id := range ids {
		paths[i] = &pathNode{parent: parents[i], typ: def.Name, id: id, rel: rel.Name, depth: depth}
	}
	b := batch{def: def, rel: rel, ids: ids, paths: paths, depth: depth}
	var rs []result
	switch {
	case c.cs.hasNonMonotone && c.cs.nonMonotone[relKey{def.Name, rel.Name}]:
		rs = c.evalWellFounded(ctx, b)
	case rel.Kind == schema.KindRelation:
		rs = c.evalRelation(ctx, b)
	default:
		rs = c.evalExpr(ctx, b, rel.Expr)
	}
	var elapsed time.Duration
	if c.explain {
		elapsed = time.Since(start)
	}
	cancelled := ctx.Err() != nil
	cacheable := c.cacheable(rel)
	for i := range rs {
		r := &rs[i]
		r.height++
		if r.cut >= depth {
			r.cut = noCut // only cycles back to this very node: the answer is complete
		}
		if cacheable && !cancelled && r.err == nil && r.cut == noCut {
			c.e.cachePut(c.key(def.Name, ids[i], rel.Name), *r)
		}
		if c.explain {
			n := c.nodeFor(def, rel, ids[i], *r)
			n.Duration = elapsed
			attachContent(n, rel, r.node)
			r.node = n
		}
	}
	return rs
}

// nodeFor returns the explanation node of a relation or permission of one object.
func (c *checker) nodeFor(def *schema.Definition, rel *schema.Relation, id string, r result) *ExplainNode {
	kind := NodePermission
	if rel.Kind == schema.KindRelation {
		kind = NodeRelation
	}
	return &ExplainNode{
		Kind: kind, Resource: tuple.ObjectRef{Type: def.Name, ID: id}, Relation: rel.Name,
		Expression: c.cs.expression(rel), Subject: c.subject,
		Result: r.perm, MissingContext: r.missing,
	}
}

// batch is a set of distinct objects of one type whose relation rel is being
// evaluated together; paths[i] is the path of ids[i]'s node.
type batch struct {
	def   *schema.Definition
	rel   *schema.Relation
	ids   []string
	paths []*pathNode
	depth int
}

func (b batch) subset(idx []int) batch {
	if len(idx) == len(b.ids) {
		return b
	}
	s := b
	s.ids = make([]string, len(idx))
	s.paths = make([]*pathNode, len(idx))
	for k, i := range idx {
		s.ids[k] = b.ids[i]
		s.paths[k] = b.paths[i]
	}
	return s
}

// tryAcquire takes a goroutine slot if one is free. It never waits: a recursive step
// that waited for a slot held by its own ancestors would deadlock.
func (c *checker) tryAcquire() bool {
	// An explanation is evaluated on one goroutine: a branch cancelled because a
	// sibling decided first would otherwise stay in the tree with the value it had
	// when it stopped.
	if c.explain || !c.e.fanOut() {
		return false
	}
	select {
	case c.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (c *checker) release() { <-c.slots }

// parallel runs fn(0..n-1), on extra goroutines while slots are free and inline
// otherwise, and returns when all have finished.
func (c *checker) parallel(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		if i < n-1 && c.tryAcquire() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.release()
				fn(i)
			}()
			continue
		}
		fn(i)
	}
	wg.Wait()
}

// cacheable reports whether answers for rel are worth the shared cache. A relation
// the subject can only appear in directly is answered by one indexed read, which costs
// less than a cache lookup and insertion; permissions and relations that lead through
// subject sets (nested groups) are cached.
func (c *checker) cacheable(rel *schema.Relation) bool {
	if c.e.results == nil {
		return false
	}
	return rel.Kind != schema.KindRelation || len(c.cs.relationPlan(rel, c.subject.Type, c.subject.Relation).sets) > 0
}
