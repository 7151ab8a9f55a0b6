package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// headReadTimeout bounds one shared read of a head revision. Each caller still waits
// no longer than its own context allows.
const headReadTimeout = 30 * time.Second

// headRound is one read of a tenant's head revision, shared by every caller that
// joined it.
type headRound struct {
	done chan struct{}
	head datastore.Revision
	err  error
}

// headQueue is a tenant's read in flight and the one that follows it.
type headQueue struct {
	running, next *headRound
}

// headReads shares reads of head revisions between concurrent callers, so that a
// burst of fully consistent requests costs the database a few queries rather than one
// each. A caller never receives a head that was read before it asked: when a read is
// already in flight it joins the next one, which starts only after that read has
// ended, so every write acknowledged before the call is included.
type headReads struct {
	mu     sync.Mutex
	queues map[string]*headQueue

	// Test hooks: beforeRead runs before each shared query, joined when a caller
	// joins a read that has not started yet.
	beforeRead func()
	joined     func()
}

// sharedHead returns the tenant's head revision, read by a query that began after
// this call did.
func (s *Store) sharedHead(ctx context.Context, tenant string) (datastore.Revision, error) {
	h := &s.headReads
	h.mu.Lock()
	if h.queues == nil {
		h.queues = map[string]*headQueue{}
	}
	q := h.queues[tenant]
	if q == nil {
		q = &headQueue{}
		h.queues[tenant] = q
	}
	var r *headRound
	switch {
	case q.running == nil:
		r = &headRound{done: make(chan struct{})}
		q.running = r
		go s.runHeadReads(tenant, q, r)
	case q.next != nil:
		r = q.next
	default:
		r = &headRound{done: make(chan struct{})}
		q.next = r
	}
	if r != q.running && h.joined != nil {
		h.joined()
	}
	h.mu.Unlock()
	select {
	case <-r.done:
		return r.head, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// runHeadReads performs r and then every read queued behind it, until none is left.
// The query does not run under any caller's context: a caller that gives up must
// not fail the others that share the read.
func (s *Store) runHeadReads(tenant string, q *headQueue, r *headRound) {
	h := &s.headReads
	for r != nil {
		if h.beforeRead != nil {
			h.beforeRead()
		}
		ctx, cancel := context.WithTimeout(context.Background(), headReadTimeout)
		r.head, _, r.err = s.heads(ctx, tenant)
		cancel()
		close(r.done)

		h.mu.Lock()
		r = q.next
		q.running, q.next = r, nil
		if r == nil {
			delete(h.queues, tenant)
		}
		h.mu.Unlock()
	}
}
