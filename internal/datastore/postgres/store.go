package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Options configure a Store. The zero value means the documented defaults.
type Options struct {
	datastore.Options

	// MaxConns is the connection pool size. 0 keeps the URI's pool_max_conns, or
	// DefaultMaxConns when the URI does not set it.
	MaxConns int32
	// Serializable runs every transaction at SERIALIZABLE isolation, as CockroachDB
	// always does. Off, transactions use the database's default (READ COMMITTED on
	// PostgreSQL); the revision scheme is correct either way.
	Serializable bool
	// WatchPollInterval is how often Watch polls for transactions committed by other
	// processes. Commits made through this Store wake watchers at once. Default 100ms.
	WatchPollInterval time.Duration
	// MaxRetries bounds how often a transaction is retried after a serialization
	// failure. Default 50.
	MaxRetries int
	// BulkWrites is the number of relationships from which a write transaction (an
	// import batch, typically) is applied through a staging table on PostgreSQL: one
	// COPY and one set-based merge instead of a lookup and array inserts. 0 means
	// DefaultBulkWrites, a negative value turns the bulk path off. CockroachDB always
	// takes the other path (its temporary tables are experimental).
	BulkWrites int
	// OnRetry, when set, is called before each retry of a transaction with the error
	// that caused it (for metrics and tests).
	OnRetry func(err error)
}

// Defaults for Options.
const (
	DefaultMaxConns          = 16
	DefaultWatchPollInterval = 100 * time.Millisecond
	DefaultMaxRetries        = 50
	// defaultConnectTimeout bounds dialling when the URI does not set connect_timeout,
	// so requests fail fast with UNAVAILABLE while the database is unreachable.
	defaultConnectTimeout = 5 * time.Second
)

// Store is the PostgreSQL/CockroachDB datastore. It is safe for concurrent use.
type Store struct {
	opts      Options
	pool      *pgxpool.Pool
	id        string
	quantizer *datastore.Quantizer
	txOptions pgx.TxOptions

	// closeMu guards closed; every operation holds it for reading while it counts
	// itself into inflight, so Close can wait for operations in progress.
	closeMu  sync.RWMutex
	closed   bool
	inflight sync.WaitGroup
	done     chan struct{}

	// writeSlots bounds the write transactions in progress to half the pool. A write
	// transaction holds a connection while it waits for its tenant's counter row, and
	// its snapshot reads need another one; keeping connections free for them means
	// queued writers can never starve the writer they queue behind.
	writeSlots chan struct{}

	notifyMu sync.Mutex
	notify   map[string]chan struct{} // closed and removed on every local commit

	retries atomic.Int64

	tenantSeen sync.Map // tenant name → time.Time it was last found to exist

	headReads headReads

	// bulkWrites is Options.BulkWrites resolved: 0 when the bulk path is off.
	bulkWrites int
}

var _ datastore.Datastore = (*Store)(nil)

// New connects to the database at uri and checks that its schema is the version this
// build needs. A database that was never migrated, or was migrated by a newer Pemba,
// is refused with an error that says what to run.
func New(ctx context.Context, uri string, opts Options) (*Store, error) {
	opts.Options = opts.Options.WithDefaults()
	if opts.WatchPollInterval <= 0 {
		opts.WatchPollInterval = DefaultWatchPollInterval
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	cfg, err := pgxpool.ParseConfig(uri)
	if err != nil {
		return nil, fmt.Errorf("datastore URI: %w: %w", err, datastore.ErrInvalidArgument)
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !hasParam(uri, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", describeURI(cfg.ConnConfig), classifyErr(err))
	}
	s := &Store{
		opts:       opts,
		pool:       pool,
		done:       make(chan struct{}),
		notify:     map[string]chan struct{}{},
		writeSlots: make(chan struct{}, max(1, cfg.MaxConns/2)),
	}
	if opts.Serializable {
		s.txOptions.IsoLevel = pgx.Serializable
	}
	if err := s.init(ctx, uri); err != nil {
		pool.Close()
		return nil, err
	}
	s.quantizer = &datastore.Quantizer{Window: opts.QuantizationWindow, Now: opts.Now, Head: s.HeadRevision}
	return s, nil
}

// init checks the schema version, then makes sure the store identity and the default
// tenant exist.
func (s *Store) init(ctx context.Context, uri string) error {
	version, dirty, err := schemaVersion(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("read the database schema version: %w", classifyErr(err))
	}
	switch {
	case dirty:
		return fmt.Errorf("database schema is marked dirty at version %d: a migration failed part-way; see docs/postgres.md", version)
	case version < SchemaVersion:
		return fmt.Errorf("database schema is at version %d, this build needs %d: run `pemba migrate --datastore-uri %s`", version, SchemaVersion, redactURI(uri))
	case version > SchemaVersion:
		return fmt.Errorf("database schema is at version %d, newer than this build of Pemba understands (%d): upgrade Pemba", version, SchemaVersion)
	}
	var server string
	if err := s.pool.QueryRow(ctx, `SELECT version()`).Scan(&server); err != nil {
		return fmt.Errorf("read the database version: %w", classifyErr(err))
	}
	switch {
	case strings.Contains(server, "CockroachDB"), s.opts.BulkWrites < 0:
	case s.opts.BulkWrites == 0:
		s.bulkWrites = DefaultBulkWrites
	default:
		s.bulkWrites = s.opts.BulkWrites
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	now := s.opts.Now()
	err = s.retry(ctx, func(ctx context.Context) error {
		return pgx.BeginTxFunc(ctx, s.pool, s.txOptions, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO pemba_store (id, unique_id) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, "pg-"+hex.EncodeToString(b[:])); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT unique_id FROM pemba_store WHERE id = 1`).Scan(&s.id); err != nil {
				return err
			}
			if err := insertTenant(ctx, tx, tuple.DefaultTenant, now); err != nil && !errors.Is(err, errTenantExists) {
				return err
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("initialise the datastore: %w", classifyErr(err))
	}
	return nil
}

// insertTenant creates a tenant, or returns errTenantExists.
func insertTenant(ctx context.Context, tx pgx.Tx, name string, now time.Time) error {
	tag, err := tx.Exec(ctx, `INSERT INTO tenants (name, created_at, oldest) VALUES ($1, $2, 0) ON CONFLICT (name) DO NOTHING`, name, now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errTenantExists
	}
	_, err = tx.Exec(ctx, `INSERT INTO tenant_heads (tenant, head) VALUES ($1, 0)`, name)
	return err
}

var errTenantExists = errors.New("tenant exists")

// enter counts an operation in, or fails when the store is closed.
func (s *Store) enter() error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return datastore.ErrClosed
	}
	s.inflight.Add(1)
	return nil
}

func (s *Store) leave() { s.inflight.Done() }

// retry runs fn through cockroach-go's retry helper: when fn fails with a
// serialization failure (SQLSTATE 40001, or a deadlock PostgreSQL broke), fn runs
// again after a short randomised pause. Each call of fn must be a whole transaction,
// begun and committed inside it, so a retry starts from a fresh snapshot on both
// databases (see docs/postgres.md for why the helper's savepoint form is not used).
//
// A failed connection is retried once as well, after a short pause: when the database
// has just come back, the first attempt may meet a pooled connection that broke while
// it was away. A commit whose outcome is unknown is never retried.
func (s *Store) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	attempt := 0
	connRetried := false
	var last error
	return crdb.ExecuteCtx(crdb.WithMaxRetries(ctx, s.opts.MaxRetries), func(ctx context.Context, _ ...any) error {
		if attempt > 0 {
			s.retries.Add(1)
			if s.opts.OnRetry != nil {
				s.opts.OnRetry(last)
			}
			if err := sleepCtx(ctx, backoff(attempt)); err != nil {
				return err
			}
		}
		attempt++
		last = fn(ctx)
		switch {
		case isDeadlock(last):
			return retryableError{last}
		case !connRetried && ctx.Err() == nil && isConnectionError(last) && !errors.Is(last, errAmbiguousCommit):
			// Every pooled connection probably broke the same way: drop them all,
			// so the retry dials afresh instead of meeting the next broken one.
			connRetried = true
			s.pool.Reset()
			return retryableError{last}
		}
		return last
	})
}

// retryableError marks a deadlock, which PostgreSQL resolves by aborting one party, or
// a failed connection, as retryable for the retry helper, which looks for SQLSTATE
// 40001.
type retryableError struct{ err error }

func (e retryableError) Error() string    { return e.err.Error() }
func (e retryableError) Unwrap() error    { return e.err }
func (e retryableError) SQLState() string { return "40001" }

func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// backoff is the pause before retry attempt n: up to 2ms doubling to at most 64ms,
// randomised so contending writers spread out.
func backoff(n int) time.Duration {
	ceiling := 2 * time.Millisecond << min(n-1, 5)
	return time.Duration(mrand.Int64N(int64(ceiling))) + 100*time.Microsecond
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Retries reports how many transaction attempts this store has retried after
// serialization failures since it was opened.
func (s *Store) Retries() int64 { return s.retries.Load() }

// UniqueID implements datastore.Datastore. It is stored in the database, so every
// Pemba process on the same database issues interchangeable tokens.
func (s *Store) UniqueID() string { return s.id }

// CreateTenant implements datastore.Datastore.
func (s *Store) CreateTenant(ctx context.Context, name string) error {
	if err := tuple.ValidateTenantName(name); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	now := s.opts.Now()
	err := s.retry(ctx, func(ctx context.Context) error {
		return pgx.BeginTxFunc(ctx, s.pool, s.txOptions, func(tx pgx.Tx) error {
			return insertTenant(ctx, tx, name, now)
		})
	})
	if errors.Is(err, errTenantExists) || isUniqueViolation(err) {
		return fmt.Errorf("tenant %q: %w", name, datastore.ErrTenantExists)
	}
	return classifyErr(err)
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// tenantTables are the tables holding a tenant's data, with their tenant column.
var tenantTables = []struct{ table, column string }{
	{"relationships", "tenant"},
	{"records", "tenant"},
	{"record_keys", "tenant"},
	{"schemas", "tenant"},
	{"transaction_changes", "tenant"},
	{"transaction_objects", "tenant"},
	{"transactions", "tenant"},
	{"decisions", "tenant"},
	{"tenants", "name"},
}

// DeleteTenant implements datastore.Datastore. It deletes the counter row first: that
// waits for the tenant's write in progress, and every later write finds no tenant.
func (s *Store) DeleteTenant(ctx context.Context, name string) error {
	if name == tuple.DefaultTenant {
		return fmt.Errorf("the %q tenant cannot be deleted: %w", name, datastore.ErrInvalidArgument)
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	err := s.retry(ctx, func(ctx context.Context) error {
		return pgx.BeginTxFunc(ctx, s.pool, s.txOptions, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `DELETE FROM tenant_heads WHERE tenant = $1`, name)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return datastore.TenantNotFound(name)
			}
			for _, t := range tenantTables {
				if _, err := tx.Exec(ctx, `DELETE FROM `+t.table+` WHERE `+t.column+` = $1`, name); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return classifyErr(err)
	}
	s.tenantSeen.Delete(name)
	s.quantizer.Forget(name)
	s.wake(name)
	return nil
}

// ListTenants implements datastore.Datastore.
func (s *Store) ListTenants(ctx context.Context) ([]datastore.TenantInfo, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var out []datastore.TenantInfo
	err := s.retry(ctx, func(ctx context.Context) error {
		out = out[:0]
		rows, err := s.pool.Query(ctx, `SELECT name, created_at FROM tenants ORDER BY name`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var ti datastore.TenantInfo
			if err := rows.Scan(&ti.Name, &ti.CreatedAt); err != nil {
				rows.Close()
				return err
			}
			ti.CreatedAt = ti.CreatedAt.UTC()
			out = append(out, ti)
		}
		return rows.Err()
	})
	return out, classifyErr(err)
}

// HeadRevision implements datastore.Datastore.
func (s *Store) HeadRevision(ctx context.Context, tenant string) (datastore.Revision, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	return s.sharedHead(ctx, tenant)
}

// heads reads a tenant's head and oldest readable revision.
func (s *Store) heads(ctx context.Context, tenant string) (head, oldest datastore.Revision, err error) {
	err = s.retry(ctx, func(ctx context.Context) error {
		var h, o int64
		err := s.pool.QueryRow(ctx, `SELECT h.head, t.oldest FROM tenant_heads h JOIN tenants t ON t.name = h.tenant WHERE h.tenant = $1`, tenant).Scan(&h, &o)
		head, oldest = datastore.Revision(h), datastore.Revision(o)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, datastore.TenantNotFound(tenant)
	}
	return head, oldest, classifyErr(err)
}

// OptimizedRevision implements datastore.Datastore.
func (s *Store) OptimizedRevision(ctx context.Context, tenant string) (datastore.Revision, error) {
	return s.quantizer.Revision(ctx, tenant)
}

// CheckRevision implements datastore.Datastore.
func (s *Store) CheckRevision(ctx context.Context, tenant string, rev datastore.Revision) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	head, oldest, err := s.heads(ctx, tenant)
	if err != nil {
		return err
	}
	if rev > head {
		return &datastore.RevisionError{Revision: rev, Head: head}
	}
	if rev < oldest {
		return &datastore.RevisionError{Revision: rev, TooOld: true, Oldest: oldest, Head: head}
	}
	return nil
}

// SnapshotReader implements datastore.Datastore.
func (s *Store) SnapshotReader(tenant string, rev datastore.Revision) datastore.Reader {
	return &reader{s: s, q: s.pool, tenant: tenant, rev: rev}
}

// Statistics implements datastore.Datastore. It counts at the head revision, so the
// numbers are one consistent snapshot even while writes go on.
func (s *Store) Statistics(ctx context.Context, tenant string) (datastore.Stats, error) {
	if err := s.enter(); err != nil {
		return datastore.Stats{}, err
	}
	defer s.leave()
	head, _, err := s.heads(ctx, tenant)
	if err != nil {
		return datastore.Stats{}, err
	}
	st := datastore.Stats{Revision: head}
	now := s.opts.Now()
	err = s.retry(ctx, func(ctx context.Context) error {
		st.ByResourceType = map[string]int64{}
		st.Relationships = 0
		rows, err := s.pool.Query(ctx, `SELECT resource_type, count(*) FROM relationships
			WHERE tenant = $1 AND created_rev <= $2 AND (deleted_rev IS NULL OR deleted_rev > $2)
			AND (expires_at IS NULL OR expires_at > $3)
			GROUP BY resource_type`, tenant, int64(head), now)
		if err != nil {
			return err
		}
		for rows.Next() {
			var typ string
			var n int64
			if err := rows.Scan(&typ, &n); err != nil {
				rows.Close()
				return err
			}
			st.ByResourceType[typ] = n
			st.Relationships += n
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return s.pool.QueryRow(ctx, `SELECT count(*) FROM transactions WHERE tenant = $1 AND revision <= $2`, tenant, int64(head)).Scan(&st.Transactions)
	})
	return st, classifyErr(err)
}

// Close implements datastore.Datastore: it waits for operations in progress, ends
// every Watch and closes the pool.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.closeMu.Unlock()
	s.inflight.Wait()
	s.pool.Close()
	return nil
}

// Pool exposes the connection pool, for tools and tests that need raw SQL.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// wake tells this process's watchers of tenant that something changed.
func (s *Store) wake(tenant string) {
	s.notifyMu.Lock()
	if ch, ok := s.notify[tenant]; ok {
		close(ch)
		delete(s.notify, tenant)
	}
	s.notifyMu.Unlock()
}

// changed returns a channel closed at the tenant's next local commit.
func (s *Store) changed(tenant string) <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	ch, ok := s.notify[tenant]
	if !ok {
		ch = make(chan struct{})
		s.notify[tenant] = ch
	}
	return ch
}

// hasParam reports whether a URI or key=value connection string sets param.
func hasParam(uri, param string) bool {
	if u, err := url.Parse(uri); err == nil && u.Scheme != "" {
		return u.Query().Has(param)
	}
	return strings.Contains(uri, param+"=")
}

// redactURI returns uri with any password replaced, for error messages.
func redactURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return "..."
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
