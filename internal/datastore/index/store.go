package index

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Options tune the index. The zero value means the documented defaults.
type Options struct {
	// Retain is how far back, in commit time, the index keeps revisions it can answer.
	// Reads at older revisions go to the backing store. Default 1 minute.
	Retain time.Duration
	// CatchUpWait is how long a read at a revision the index has not applied yet waits
	// for it before reading the backing store. Default 20ms.
	CatchUpWait time.Duration
	// CollectEvery is how often superseded row versions are dropped. Default 30s.
	CollectEvery time.Duration
	// Now is the clock for expiry. Default time.Now.
	Now func() time.Time
	// Logger receives the index's lifecycle events. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Retain == 0 {
		o.Retain = time.Minute
	}
	if o.CatchUpWait == 0 {
		o.CatchUpWait = 20 * time.Millisecond
	}
	if o.CollectEvery == 0 {
		o.CollectEvery = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is a datastore.Datastore that serves reads from the in-memory index where it
// can and passes everything else to the backing store.
type Store struct {
	datastore.Datastore
	opts Options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	tenants map[string]*tenantIndex

	served, fallbacks atomic.Int64
}

// New wraps backing. The index of a tenant is built in the background on its first
// read; until it is ready, reads go to the backing store.
func New(backing datastore.Datastore, opts Options) *Store {
	ctx, cancel := context.WithCancel(context.Background())
	return &Store{Datastore: backing, opts: opts.withDefaults(), ctx: ctx, cancel: cancel, tenants: map[string]*tenantIndex{}}
}

// Stats describe the index's work so far.
type Stats struct {
	// Served counts queries answered from memory; Fallbacks those sent to the
	// backing store.
	Served, Fallbacks int64
	// Tenants describes each indexed tenant.
	Tenants map[string]TenantStats
}

// TenantStats describe one tenant's index.
type TenantStats struct {
	Ready         bool
	Base, Applied datastore.Revision
	Live, Dead    int
	Strings       int
}

// Stats returns counters for metrics.
func (s *Store) Stats() Stats {
	st := Stats{Served: s.served.Load(), Fallbacks: s.fallbacks.Load(), Tenants: map[string]TenantStats{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, ti := range s.tenants {
		ti.mu.RLock()
		ts := TenantStats{Ready: ti.t != nil}
		if ti.t != nil {
			ts.Base, ts.Applied, ts.Live, ts.Dead, ts.Strings = ti.t.base, ti.t.applied, ti.t.live, ti.t.dead, len(ti.t.strs)
		}
		ti.mu.RUnlock()
		st.Tenants[name] = ts
	}
	return st
}

// Warm builds the tenant's index if needed and waits until it is ready or ctx ends.
func (s *Store) Warm(ctx context.Context, tenant string) error {
	ti := s.tenant(tenant)
	for {
		ti.mu.RLock()
		ready, changed := ti.t != nil, ti.changed
		ti.mu.RUnlock()
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// SnapshotReader implements datastore.Datastore.
func (s *Store) SnapshotReader(tenant string, rev datastore.Revision) datastore.Reader {
	return &reader{s: s, ti: s.tenant(tenant), rev: rev, backing: s.Datastore.SnapshotReader(tenant, rev)}
}

// DeleteTenant implements datastore.Datastore and drops the tenant's index.
func (s *Store) DeleteTenant(ctx context.Context, name string) error {
	err := s.Datastore.DeleteTenant(ctx, name)
	s.mu.Lock()
	if ti, ok := s.tenants[name]; ok {
		ti.stop()
		delete(s.tenants, name)
	}
	s.mu.Unlock()
	return err
}

// Close stops the index and closes the backing store.
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	return s.Datastore.Close()
}

func (s *Store) tenant(name string) *tenantIndex {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ti, ok := s.tenants[name]; ok {
		return ti
	}
	ctx, cancel := context.WithCancel(s.ctx)
	ti := &tenantIndex{name: name, cancel: cancel, changed: make(chan struct{})}
	s.tenants[name] = ti
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.follow(ctx, ti)
	}()
	return ti
}

// tenantIndex owns one tenant's table and the goroutine that keeps it current.
type tenantIndex struct {
	name   string
	cancel context.CancelFunc

	mu      sync.RWMutex
	t       *table        // nil until built, and after a failure until rebuilt
	changed chan struct{} // closed and replaced whenever t or t.applied changes
}

func (ti *tenantIndex) stop() { ti.cancel() }

func (ti *tenantIndex) notifyLocked() {
	close(ti.changed)
	ti.changed = make(chan struct{})
}

// follow builds the tenant's table and applies the backing store's changes to it,
// rebuilding after any failure, until ctx ends.
func (s *Store) follow(ctx context.Context, ti *tenantIndex) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.buildAndFollow(ctx, ti)
		ti.mu.Lock()
		ti.t = nil
		ti.notifyLocked()
		ti.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, datastore.ErrTenantNotFound) {
			// Forget the tenant so a later read, after it is created, starts afresh.
			s.mu.Lock()
			if s.tenants[ti.name] == ti {
				delete(s.tenants, ti.name)
			}
			s.mu.Unlock()
			return
		}
		s.opts.Logger.Warn("index: rebuilding after error", "tenant", ti.name, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (s *Store) buildAndFollow(ctx context.Context, ti *tenantIndex) error {
	start := time.Now()
	head, err := s.Datastore.HeadRevision(ctx, ti.name)
	if err != nil {
		return err
	}
	t := newTable(head)
	snap := s.Datastore.SnapshotReader(ti.name, head)
	switch sc, err := snap.ReadSchema(ctx); {
	case err == nil:
		t.schemas = append(t.schemas, sc)
	case !errors.Is(err, datastore.ErrSchemaNotFound):
		return err
	}
	for rel, err := range snap.QueryRelationships(ctx, datastore.RelationshipFilter{}, datastore.QueryOptions{}) {
		if err != nil {
			return err
		}
		t.insert(rel, head)
	}
	t.times = append(t.times, revTime{head, s.opts.Now()})
	ti.mu.Lock()
	ti.t = t
	ti.notifyLocked()
	ti.mu.Unlock()
	s.opts.Logger.Info("index: ready", "tenant", ti.name, "revision", head, "relationships", t.live, "took", time.Since(start).Round(time.Millisecond))

	collect := time.NewTicker(s.opts.CollectEvery)
	defer collect.Stop()
	type item struct {
		tx  *datastore.Transaction
		err error
	}
	changes := make(chan item)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		for tx, err := range s.Datastore.Watch(watchCtx, ti.name, head) {
			select {
			case changes <- item{tx, err}:
			case <-watchCtx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case it := <-changes:
			if it.err != nil {
				return it.err
			}
			ti.mu.Lock()
			if it.tx.Revision != t.applied+1 {
				ti.mu.Unlock()
				return errors.New("index: watch skipped a revision")
			}
			t.apply(it.tx)
			ti.notifyLocked()
			ti.mu.Unlock()
		case <-collect.C:
			now := s.opts.Now()
			ti.mu.Lock()
			t.collect(t.horizonBefore(now.Add(-s.opts.Retain)), now)
			ti.mu.Unlock()
		}
	}
}

// reader serves one snapshot from the index or the backing store.
type reader struct {
	s       *Store
	ti      *tenantIndex
	rev     datastore.Revision
	backing datastore.Reader
}

func (r *reader) Revision() datastore.Revision { return r.rev }

// table returns the tenant's table, read-locked, when it can answer at r.rev; the
// caller must RUnlock. It waits up to CatchUpWait for a revision not applied yet.
func (r *reader) table(ctx context.Context) (*table, bool) {
	deadline := time.Time{}
	for {
		r.ti.mu.RLock()
		t, changed := r.ti.t, r.ti.changed
		if t == nil || r.rev < t.base {
			r.ti.mu.RUnlock()
			return nil, false
		}
		if r.rev <= t.applied {
			return t, true
		}
		r.ti.mu.RUnlock()
		if deadline.IsZero() {
			deadline = time.Now().Add(r.s.opts.CatchUpWait)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, false
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, false
		case <-changed:
			timer.Stop()
		case <-timer.C:
			return nil, false
		}
	}
}

func (r *reader) QueryRelationships(ctx context.Context, f datastore.RelationshipFilter, opts datastore.QueryOptions) iter.Seq2[tuple.Relationship, error] {
	if !servesForward(f) {
		r.s.fallbacks.Add(1)
		return r.backing.QueryRelationships(ctx, f, opts)
	}
	t, ok := r.table(ctx)
	if !ok {
		r.s.fallbacks.Add(1)
		return r.backing.QueryRelationships(ctx, f, opts)
	}
	out := t.queryForward(f, opts, r.rev, r.s.opts.Now().UnixNano())
	r.ti.mu.RUnlock()
	r.s.served.Add(1)
	return yieldAll(out)
}

func (r *reader) ReverseQueryRelationships(ctx context.Context, sf datastore.SubjectFilter, opts datastore.ReverseQueryOptions) iter.Seq2[tuple.Relationship, error] {
	if !servesReverse(sf) {
		r.s.fallbacks.Add(1)
		return r.backing.ReverseQueryRelationships(ctx, sf, opts)
	}
	t, ok := r.table(ctx)
	if !ok {
		r.s.fallbacks.Add(1)
		return r.backing.ReverseQueryRelationships(ctx, sf, opts)
	}
	out := t.queryReverse(sf, opts, r.rev, r.s.opts.Now().UnixNano())
	r.ti.mu.RUnlock()
	r.s.served.Add(1)
	return yieldAll(out)
}

func (r *reader) ReadSchema(ctx context.Context) (datastore.StoredSchema, error) {
	t, ok := r.table(ctx)
	if !ok {
		return r.backing.ReadSchema(ctx)
	}
	sc, found := t.schemaAt(r.rev)
	r.ti.mu.RUnlock()
	if !found {
		return datastore.StoredSchema{}, datastore.ErrSchemaNotFound
	}
	return sc, nil
}

// ReadRecord reads from the backing store: the index holds relationships only.
func (r *reader) ReadRecord(ctx context.Context, kind, id string) (datastore.Record, error) {
	return r.backing.ReadRecord(ctx, kind, id)
}

// ListRecords lists from the backing store.
func (r *reader) ListRecords(ctx context.Context, kind string, q datastore.RecordQuery) iter.Seq2[datastore.Record, error] {
	return r.backing.ListRecords(ctx, kind, q)
}

func yieldAll(rels []tuple.Relationship) iter.Seq2[tuple.Relationship, error] {
	return func(yield func(tuple.Relationship, error) bool) {
		for _, r := range rels {
			if !yield(r, nil) {
				return
			}
		}
	}
}
