package serve

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// errNotReached is what a pendingStore answers until its database has been reached.
var errNotReached = datastore.Sentinel("the database has not been reached since start-up; serve keeps retrying in the background", datastore.ErrUnavailable)

// pendingStore stands in for a database store that could not be opened at start-up,
// so that serve can listen, report not-ready and keep trying instead of exiting.
// Until open succeeds every call fails with errNotReached (UNAVAILABLE to clients);
// afterwards every call goes to the opened store.
type pendingStore struct {
	mu sync.RWMutex
	ds datastore.Datastore // nil until opened
}

func newPendingStore() *pendingStore { return &pendingStore{} }

// get returns the opened store, or errNotReached.
func (p *pendingStore) get() (datastore.Datastore, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.ds == nil {
		return nil, errNotReached
	}
	return p.ds, nil
}

func (p *pendingStore) set(ds datastore.Datastore) {
	p.mu.Lock()
	p.ds = ds
	p.mu.Unlock()
}

// openInBackground calls open until it succeeds or ctx ends, waiting between
// attempts from a quarter second doubling up to maxWait, and hands the store to p.
func (p *pendingStore) openInBackground(ctx context.Context, open func(context.Context) (datastore.Datastore, error), maxWait time.Duration, log *slog.Logger) {
	wait := 250 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		ds, err := open(ctx)
		if err == nil {
			p.set(ds)
			log.Info("datastore reached; serving once the readiness probe sees it")
			return
		}
		if ctx.Err() != nil {
			return
		}
		wait = min(2*wait, maxWait)
		log.Warn("datastore still unreachable; retrying", "error", err, "retry_in", wait)
	}
}

// UniqueID is empty until the store is opened; no token can be minted before then,
// since every revision read fails.
func (p *pendingStore) UniqueID() string {
	if ds, err := p.get(); err == nil {
		return ds.UniqueID()
	}
	return ""
}

func (p *pendingStore) CreateTenant(ctx context.Context, name string) error {
	ds, err := p.get()
	if err != nil {
		return err
	}
	return ds.CreateTenant(ctx, name)
}

func (p *pendingStore) DeleteTenant(ctx context.Context, name string) error {
	ds, err := p.get()
	if err != nil {
		return err
	}
	return ds.DeleteTenant(ctx, name)
}

func (p *pendingStore) ListTenants(ctx context.Context) ([]datastore.TenantInfo, error) {
	ds, err := p.get()
	if err != nil {
		return nil, err
	}
	return ds.ListTenants(ctx)
}

func (p *pendingStore) HeadRevision(ctx context.Context, tenant string) (datastore.Revision, error) {
	ds, err := p.get()
	if err != nil {
		return 0, err
	}
	return ds.HeadRevision(ctx, tenant)
}

func (p *pendingStore) OptimizedRevision(ctx context.Context, tenant string) (datastore.Revision, error) {
	ds, err := p.get()
	if err != nil {
		return 0, err
	}
	return ds.OptimizedRevision(ctx, tenant)
}

func (p *pendingStore) CheckRevision(ctx context.Context, tenant string, rev datastore.Revision) error {
	ds, err := p.get()
	if err != nil {
		return err
	}
	return ds.CheckRevision(ctx, tenant, rev)
}

func (p *pendingStore) SnapshotReader(tenant string, rev datastore.Revision) datastore.Reader {
	if ds, err := p.get(); err == nil {
		return ds.SnapshotReader(tenant, rev)
	}
	return unreachedReader{rev: rev}
}

func (p *pendingStore) ReadWriteTx(ctx context.Context, tenant string, meta datastore.TxMetadata, fn func(context.Context, datastore.ReadWriteTx) error) (datastore.Revision, error) {
	ds, err := p.get()
	if err != nil {
		return 0, err
	}
	return ds.ReadWriteTx(ctx, tenant, meta, fn)
}

func (p *pendingStore) Watch(ctx context.Context, tenant string, after datastore.Revision) iter.Seq2[*datastore.Transaction, error] {
	ds, err := p.get()
	if err != nil {
		return failed[*datastore.Transaction](err)
	}
	return ds.Watch(ctx, tenant, after)
}

func (p *pendingStore) ReadTransactions(ctx context.Context, tenant string, f datastore.TransactionFilter) iter.Seq2[*datastore.Transaction, error] {
	ds, err := p.get()
	if err != nil {
		return failed[*datastore.Transaction](err)
	}
	return ds.ReadTransactions(ctx, tenant, f)
}

func (p *pendingStore) Statistics(ctx context.Context, tenant string) (datastore.Stats, error) {
	ds, err := p.get()
	if err != nil {
		return datastore.Stats{}, err
	}
	return ds.Statistics(ctx, tenant)
}

func (p *pendingStore) GarbageCollect(ctx context.Context) (datastore.GCStats, error) {
	ds, err := p.get()
	if err != nil {
		return datastore.GCStats{}, err
	}
	return ds.GarbageCollect(ctx)
}

// Close closes the opened store; before that there is nothing to close. The opener
// must have stopped first (serve stops its loops before it closes the store).
func (p *pendingStore) Close() error {
	if ds, err := p.get(); err == nil {
		return ds.Close()
	}
	return nil
}

// unreachedReader is a snapshot of a store not reached yet: every read fails.
type unreachedReader struct{ rev datastore.Revision }

func (r unreachedReader) Revision() datastore.Revision { return r.rev }

func (unreachedReader) QueryRelationships(context.Context, datastore.RelationshipFilter, datastore.QueryOptions) iter.Seq2[tuple.Relationship, error] {
	return failed[tuple.Relationship](errNotReached)
}

func (unreachedReader) ReverseQueryRelationships(context.Context, datastore.SubjectFilter, datastore.ReverseQueryOptions) iter.Seq2[tuple.Relationship, error] {
	return failed[tuple.Relationship](errNotReached)
}

func (unreachedReader) ReadRecord(context.Context, string, string) (datastore.Record, error) {
	return datastore.Record{}, errNotReached
}

func (unreachedReader) ListRecords(context.Context, string, datastore.RecordQuery) iter.Seq2[datastore.Record, error] {
	return failed[datastore.Record](errNotReached)
}

func (unreachedReader) ReadSchema(context.Context) (datastore.StoredSchema, error) {
	return datastore.StoredSchema{}, errNotReached
}

// failed is a sequence of one error.
func failed[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		yield(zero, err)
	}
}

// retryable reports whether a failure to open the store at start-up is worth
// retrying in the background: the database could not be reached. Anything else (a
// bad URI, a schema at the wrong version) is a configuration to fix, and serve exits.
func retryable(err error) bool {
	return errors.Is(err, datastore.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}
