package datastore

import (
	"context"
	"sync"
	"time"
)

// Quantizer hands out OptimizedRevision values: it remembers each tenant's head
// revision for up to one window, so every request in that window reads at the same
// revision and shares cache entries. Staleness is bounded by the window.
type Quantizer struct {
	Window time.Duration
	Now    func() time.Time
	Head   func(ctx context.Context, tenant string) (Revision, error)

	mu    sync.Mutex
	cache map[string]quantized
}

type quantized struct {
	rev Revision
	at  time.Time
}

// Revision returns the tenant's quantised revision.
func (q *Quantizer) Revision(ctx context.Context, tenant string) (Revision, error) {
	now := q.Now()
	q.mu.Lock()
	c, ok := q.cache[tenant]
	q.mu.Unlock()
	if ok && now.Sub(c.at) < q.Window && now.Sub(c.at) >= 0 {
		return c.rev, nil
	}
	rev, err := q.Head(ctx, tenant)
	if err != nil {
		return 0, err
	}
	q.mu.Lock()
	if q.cache == nil {
		q.cache = map[string]quantized{}
	}
	// Keep the newest revision if another caller raced ahead.
	if cur, ok := q.cache[tenant]; !ok || cur.rev <= rev || now.Sub(cur.at) >= q.Window {
		q.cache[tenant] = quantized{rev: rev, at: now}
	}
	q.mu.Unlock()
	return rev, nil
}

// Forget drops a tenant's remembered revision (after the tenant is deleted).
func (q *Quantizer) Forget(tenant string) {
	q.mu.Lock()
	delete(q.cache, tenant)
	q.mu.Unlock()
}
