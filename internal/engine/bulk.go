package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// CheckBulk answers many checks in one call. Identical checks are evaluated once;
// checks that differ only in the resource id are evaluated as one batch, so their
// store reads are shared; all of them share the result cache. Results come in
// request order, each with its own error. The Stats of an entry describe the work
// of the batch it was evaluated in.
func (e *Engine) CheckBulk(ctx context.Context, reqs []CheckRequest) []BulkResult {
	out := make([]BulkResult, len(reqs))
	type group struct {
		q        query
		resType  string
		perm     string
		ids      []string
		index    map[string]int
		requests [][]int // per id, the requests asking for it
	}
	var groups []*group
	byKey := map[string]*group{}
	var solo []int
	for i, r := range reqs {
		if r.Explain {
			solo = append(solo, i)
			continue
		}
		key := bulkKey(r)
		g := byKey[key]
		if g == nil {
			g = &group{
				q:       query{tenant: r.Tenant, rev: r.Revision, subject: r.Subject, context: r.Context, contextual: r.Contextual},
				resType: r.Resource.Type, perm: r.Permission, index: map[string]int{},
			}
			byKey[key] = g
			groups = append(groups, g)
		}
		k, ok := g.index[r.Resource.ID]
		if !ok {
			k = len(g.ids)
			g.index[r.Resource.ID] = k
			g.ids = append(g.ids, r.Resource.ID)
			g.requests = append(g.requests, nil)
		}
		g.requests[k] = append(g.requests[k], i)
	}

	runGroup := func(g *group) {
		fail := func(err error) {
			for _, idxs := range g.requests {
				for _, i := range idxs {
					out[i].Err = err
				}
			}
		}
		c, err := e.newChecker(ctx, g.q)
		if err != nil {
			fail(err)
			return
		}
		def, rel, err := c.cs.target(g.resType, g.perm)
		if err != nil {
			fail(err)
			return
		}
		var items []item
		var itemIdx []int
		for k, id := range g.ids {
			if err := c.cs.validateResource(tuple.ObjectRef{Type: g.resType, ID: id}); err != nil {
				for _, i := range g.requests[k] {
					out[i].Err = err
				}
				continue
			}
			items = append(items, item{id: id})
			itemIdx = append(itemIdx, k)
		}
		if len(items) == 0 {
			return
		}
		// Batches of bounded size keep each store query's id list reasonable.
		rs := make([]result, 0, len(items))
		for chunk := range slices.Chunk(items, maxIDsPerQuery) {
			rs = append(rs, c.dispatch(ctx, def, rel, chunk, 1)...)
		}
		stats := c.stats()
		for j, r := range rs {
			c.record(r.err)
			for _, i := range g.requests[itemIdx[j]] {
				if r.err != nil {
					out[i] = BulkResult{Result: CheckResult{Stats: stats}, Err: r.err}
					continue
				}
				out[i] = BulkResult{Result: CheckResult{Permissionship: r.perm, MissingContext: r.missing, Stats: stats}}
			}
		}
	}

	// Groups run on a bounded number of goroutines; each group bounds its own fan-out.
	var wg sync.WaitGroup
	work := make(chan func())
	workers := min(e.cfg.MaxConcurrency, len(groups)+len(solo))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for fn := range work {
				fn()
			}
		}()
	}
	for _, g := range groups {
		work <- func() { runGroup(g) }
	}
	for _, i := range solo {
		work <- func() {
			r, err := e.Check(ctx, reqs[i])
			out[i] = BulkResult{Result: r, Err: err}
		}
	}
	close(work)
	wg.Wait()
	return out
}

// bulkKey groups checks that can be evaluated as one batch: everything but the
// resource id equal.
func bulkKey(r CheckRequest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\x00%d\x00%s\x00%s\x00%s\x00", r.Tenant, r.Revision, r.Resource.Type, r.Permission, r.Subject)
	if len(r.Context) > 0 {
		b.Write(tuple.MarshalContext(r.Context))
	}
	b.WriteByte(0)
	fp := contextualFingerprint(r.Contextual)
	b.Write(fp[:])
	return b.String()
}

// Permissions lists every permission and relation of the resource's definition (in
// schema order, without the synthetic ones) with the subject's answer for each.
func (e *Engine) Permissions(ctx context.Context, req PermissionsRequest) ([]PermissionResult, error) {
	c, err := e.newChecker(ctx, query{tenant: req.Tenant, rev: req.Revision, subject: req.Subject, context: req.Context, contextual: req.Contextual})
	if err != nil {
		return nil, err
	}
	def := c.cs.s.Definition(req.Resource.Type)
	if def == nil {
		_, _, err := c.cs.target(req.Resource.Type, "")
		return nil, err
	}
	if err := c.cs.validateResource(req.Resource); err != nil {
		return nil, err
	}
	var rels []*schema.Relation
	for _, name := range def.Order {
		if r := def.Relations[name]; r != nil && !r.Synthetic {
			rels = append(rels, r)
		}
	}
	results := make([]result, len(rels))
	c.parallel(len(rels), func(i int) {
		results[i] = c.dispatch(ctx, def, rels[i], []item{{id: req.Resource.ID}}, 1)[0]
	})
	out := make([]PermissionResult, len(rels))
	for i, r := range results {
		c.record(r.err)
		if r.err != nil {
			return nil, fmt.Errorf("%s: %w", rels[i].Name, r.err)
		}
		out[i] = PermissionResult{Permission: rels[i].Name, Permissionship: r.perm, MissingContext: r.missing}
	}
	return out, nil
}
