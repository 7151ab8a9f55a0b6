package memory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"iter"
	"sort"
	"sync"
	"time"

	"github.com/google/btree"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Store is the in-memory datastore. The zero value is not usable; call New.
type Store struct {
	opts      datastore.Options
	id        string
	quantizer *datastore.Quantizer

	mu      sync.RWMutex
	tenants map[string]*tenant
	closed  bool

	decisions decisionLog
}

var _ datastore.Datastore = (*Store)(nil)

// New returns an empty store holding only the default tenant.
func New(opts datastore.Options) *Store {
	opts = opts.WithDefaults()
	var b [8]byte
	_, _ = rand.Read(b[:])
	s := &Store{opts: opts, id: "mem-" + hex.EncodeToString(b[:]), tenants: map[string]*tenant{}}
	s.tenants[tuple.DefaultTenant] = newTenant(opts.Now())
	s.quantizer = &datastore.Quantizer{Window: opts.QuantizationWindow, Now: opts.Now, Head: s.HeadRevision}
	return s
}

// UniqueID implements datastore.Datastore.
func (s *Store) UniqueID() string { return s.id }

func (s *Store) tenant(name string) (*tenant, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, datastore.ErrClosed
	}
	t, ok := s.tenants[name]
	if !ok {
		return nil, datastore.TenantNotFound(name)
	}
	return t, nil
}

// CreateTenant implements datastore.Datastore.
func (s *Store) CreateTenant(_ context.Context, name string) error {
	if err := tuple.ValidateTenantName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return datastore.ErrClosed
	}
	if _, ok := s.tenants[name]; ok {
		return fmt.Errorf("tenant %q: %w", name, datastore.ErrTenantExists)
	}
	s.tenants[name] = newTenant(s.opts.Now())
	return nil
}

// DeleteTenant implements datastore.Datastore.
func (s *Store) DeleteTenant(_ context.Context, name string) error {
	if name == tuple.DefaultTenant {
		return fmt.Errorf("the %q tenant cannot be deleted: %w", name, datastore.ErrInvalidArgument)
	}
	s.mu.Lock()
	t, ok := s.tenants[name]
	delete(s.tenants, name)
	s.mu.Unlock()
	if !ok {
		return datastore.TenantNotFound(name)
	}
	s.quantizer.Forget(name)
	s.decisions.deleteTenant(name)
	t.writeMu.Lock() // a transaction in progress finishes (and is discarded) first
	t.mu.Lock()
	t.deleted = true
	t.notifyLocked()
	t.mu.Unlock()
	t.writeMu.Unlock()
	return nil
}

// ListTenants implements datastore.Datastore.
func (s *Store) ListTenants(context.Context) ([]datastore.TenantInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, datastore.ErrClosed
	}
	out := make([]datastore.TenantInfo, 0, len(s.tenants))
	for name, t := range s.tenants {
		out = append(out, datastore.TenantInfo{Name: name, CreatedAt: t.createdAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// HeadRevision implements datastore.Datastore.
func (s *Store) HeadRevision(_ context.Context, name string) (datastore.Revision, error) {
	t, err := s.tenant(name)
	if err != nil {
		return 0, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.head, nil
}

// OptimizedRevision implements datastore.Datastore.
func (s *Store) OptimizedRevision(ctx context.Context, name string) (datastore.Revision, error) {
	return s.quantizer.Revision(ctx, name)
}

// CheckRevision implements datastore.Datastore.
func (s *Store) CheckRevision(_ context.Context, name string, rev datastore.Revision) error {
	t, err := s.tenant(name)
	if err != nil {
		return err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if rev > t.head {
		return &datastore.RevisionError{Revision: rev, Head: t.head}
	}
	if rev < t.oldest {
		return &datastore.RevisionError{Revision: rev, TooOld: true, Oldest: t.oldest, Head: t.head}
	}
	return nil
}

// SnapshotReader implements datastore.Datastore.
func (s *Store) SnapshotReader(name string, rev datastore.Revision) datastore.Reader {
	t, err := s.tenant(name)
	return &reader{t: t, err: err, rev: rev, now: s.opts.Now}
}

// Statistics implements datastore.Datastore.
func (s *Store) Statistics(_ context.Context, name string) (datastore.Stats, error) {
	t, err := s.tenant(name)
	if err != nil {
		return datastore.Stats{}, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	st := datastore.Stats{Revision: t.head, ByResourceType: map[string]int64{}, Transactions: int64(len(t.log))}
	for typ, n := range t.liveByType {
		if n > 0 {
			st.ByResourceType[typ] = n
			st.Relationships += n
		}
	}
	return st, nil
}

// Close implements datastore.Datastore.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for _, t := range s.tenants {
		t.writeMu.Lock() // wait for transactions in progress
		t.mu.Lock()
		t.closed = true
		t.notifyLocked()
		t.mu.Unlock()
		t.writeMu.Unlock()
	}
	return nil
}

// tenant holds one tenant's whole history.
type tenant struct {
	createdAt time.Time

	// writeMu serialises write transactions, so a transaction's snapshot is the
	// current state for as long as it runs.
	writeMu sync.Mutex

	mu      sync.RWMutex
	head    datastore.Revision
	oldest  datastore.Revision // oldest readable revision
	forward *btree.BTreeG[*row]
	reverse *btree.BTreeG[*row]
	schemas []datastore.StoredSchema // ascending by revision
	log     []*datastore.Transaction // ascending by revision
	// commits holds the commit time of every revision from oldest on, so the GC
	// horizon does not depend on how long audit records are kept.
	commits    []commitTime
	liveByType map[string]int64
	// records holds every version of every record, by kind and id.
	records map[string]recordsOf
	changed chan struct{} // closed and replaced on every commit
	deleted bool          // the tenant was deleted
	closed  bool          // the store was closed
}

type commitTime struct {
	rev datastore.Revision
	at  time.Time
}

// row is one version of a relationship: visible at revisions in [created, deleted).
type row struct {
	rel     tuple.Relationship
	key     tuple.Key
	created datastore.Revision
	deleted datastore.Revision // 0 while live
}

func (r *row) visibleAt(rev datastore.Revision, now time.Time) bool {
	return r.created <= rev && (r.deleted == 0 || r.deleted > rev) && !r.rel.ExpiredAt(now)
}

func forwardLess(a, b *row) bool {
	if c := a.key.Compare(b.key); c != 0 {
		return c < 0
	}
	return a.created < b.created
}

func reverseLess(a, b *row) bool {
	if c := datastore.ReverseCompare(a.key, b.key); c != 0 {
		return c < 0
	}
	return a.created < b.created
}

func newTenant(now time.Time) *tenant {
	return &tenant{
		createdAt:  now,
		forward:    btree.NewG(32, forwardLess),
		reverse:    btree.NewG(32, reverseLess),
		liveByType: map[string]int64{},
		records:    map[string]recordsOf{},
		changed:    make(chan struct{}),
	}
}

func (t *tenant) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// GarbageCollect implements datastore.Datastore.
func (s *Store) GarbageCollect(context.Context) (datastore.GCStats, error) {
	s.mu.RLock()
	ts := make([]*tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		ts = append(ts, t)
	}
	s.mu.RUnlock()
	var total datastore.GCStats
	now := s.opts.Now()
	for _, t := range ts {
		st := t.collect(now, now.Add(-s.opts.GCWindow), s.opts.AuditRetention)
		total.Relationships += st.Relationships
		total.Transactions += st.Transactions
		total.Schemas += st.Schemas
		total.Records += st.Records
	}
	return total, nil
}

func (t *tenant) collect(now, cutoff time.Time, retention time.Duration) datastore.GCStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	var st datastore.GCStats
	// The horizon is the newest revision committed at or before the cutoff: it and
	// everything after it stay readable.
	horizon := t.oldest
	n := 0
	for n < len(t.commits) && !t.commits[n].at.After(cutoff) {
		horizon = max(horizon, t.commits[n].rev)
		n++
	}
	if n > 0 {
		t.commits = t.commits[n-1:] // keep the horizon's own entry
	}
	var dead []*row
	t.forward.Ascend(func(r *row) bool {
		if (r.deleted != 0 && r.deleted <= horizon) || r.rel.ExpiredAt(now) {
			dead = append(dead, r)
		}
		return true
	})
	for _, r := range dead {
		t.forward.Delete(r)
		t.reverse.Delete(r)
		if r.deleted == 0 {
			t.liveByType[r.key.ResourceType]--
		}
	}
	st.Relationships = int64(len(dead))
	st.Records = t.collectRecords(horizon)
	// Keep the newest schema at or before the horizon; drop older ones.
	keepFrom := 0
	for i, sc := range t.schemas {
		if sc.Revision <= horizon {
			keepFrom = i
		}
	}
	st.Schemas = int64(keepFrom)
	t.schemas = t.schemas[keepFrom:]
	t.oldest = horizon
	if retention > 0 {
		auditCutoff := now.Add(-retention)
		n := 0
		for n < len(t.log) && t.log[n].Time.Before(auditCutoff) {
			n++
		}
		st.Transactions = int64(n)
		t.log = t.log[n:]
	}
	return st
}

// Watch implements datastore.Datastore.
func (s *Store) Watch(ctx context.Context, name string, after datastore.Revision) iter.Seq2[*datastore.Transaction, error] {
	return func(yield func(*datastore.Transaction, error) bool) {
		t, err := s.tenant(name)
		if err != nil {
			yield(nil, err)
			return
		}
		next := after
		for {
			t.mu.RLock()
			if t.closed {
				t.mu.RUnlock()
				yield(nil, datastore.ErrClosed)
				return
			}
			if t.deleted {
				t.mu.RUnlock()
				yield(nil, datastore.TenantNotFound(name))
				return
			}
			if next > t.head {
				t.mu.RUnlock()
				yield(nil, &datastore.RevisionError{Revision: next, Head: t.head})
				return
			}
			// The log must still hold revision next+1 when next is behind the head.
			if next < t.head && (len(t.log) == 0 || next+1 < t.log[0].Revision) {
				oldest := t.head
				if len(t.log) > 0 {
					oldest = t.log[0].Revision - 1
				}
				t.mu.RUnlock()
				yield(nil, &datastore.RevisionError{Revision: next, TooOld: true, Oldest: oldest, Head: t.head})
				return
			}
			// The log is ascending and contiguous: revision next+1 is at this index.
			var batch []*datastore.Transaction
			if next < t.head {
				batch = t.log[int(next+1-t.log[0].Revision):]
			}
			wait := t.changed
			t.mu.RUnlock()
			for _, tx := range batch {
				if !yield(tx, nil) {
					return
				}
				next = tx.Revision
			}
			if len(batch) > 0 {
				continue
			}
			select {
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			case <-wait:
			}
		}
	}
}

// ReadTransactions implements datastore.Datastore.
func (s *Store) ReadTransactions(_ context.Context, name string, f datastore.TransactionFilter) iter.Seq2[*datastore.Transaction, error] {
	return func(yield func(*datastore.Transaction, error) bool) {
		t, err := s.tenant(name)
		if err != nil {
			yield(nil, err)
			return
		}
		t.mu.RLock()
		log := t.log
		t.mu.RUnlock()
		n := 0
		for i := len(log) - 1; i >= 0; i-- {
			if !f.Matches(log[i]) {
				continue
			}
			if !yield(log[i], nil) {
				return
			}
			n++
			if f.Limit > 0 && n >= f.Limit {
				return
			}
		}
	}
}
