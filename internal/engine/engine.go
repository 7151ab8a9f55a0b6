package engine

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
)

// Defaults for Config. A zero field in Config means its default.
const (
	// DefaultMaxDepth bounds how many nested sub-problems one evaluation may walk.
	DefaultMaxDepth = 50
	// DefaultCacheSize is how many sub-problem results the shared cache keeps.
	DefaultCacheSize = 100_000
	// DefaultMaxConcurrency bounds the goroutines one request uses, its own included.
	DefaultMaxConcurrency = 8
	// DefaultSchemaCacheSize is how many compiled schemas the engine keeps.
	DefaultSchemaCacheSize = 128
	// DefaultParallelReadLatency is the mean store read latency from which requests
	// fan out to goroutines.
	DefaultParallelReadLatency = 50 * time.Microsecond
)

// Config tunes an Engine. The zero value means every documented default.
type Config struct {
	// MaxDepth bounds the nesting of one evaluation: each step from a relation or
	// permission to another (computed relation, arrow, subject set) is one level. A
	// chain longer than this fails with a *DepthError. Cycles in the data are cut
	// before they reach it. Default 50.
	MaxDepth int
	// CacheSize is how many sub-problem results the shared result cache keeps.
	// Default 100000; a negative value disables the cache.
	CacheSize int
	// MaxConcurrency bounds the goroutines one request uses, its own goroutine
	// included. Sub-problems run inline when no slot is free. Default 8; 1 evaluates
	// everything on the caller's goroutine.
	MaxConcurrency int
	// MaxContextualRelationships bounds how many contextual relationships a request
	// may carry; zero means no bound. Limits are configured in one place, the
	// server's (server.Limits), which passes this one down.
	MaxContextualRelationships int
	// MaxLookupWork bounds the store reads of one LookupResources or LookupSubjects
	// call (see LookupWorkError); zero means no bound. A request may set its own
	// (MaxWork). Limits are configured in one place, the server's (server.Limits),
	// which passes this one down.
	MaxLookupWork int
	// SchemaCacheSize is how many compiled schemas are kept. Default 128.
	SchemaCacheSize int
	// ParallelReadLatency decides when fanning out pays: a request's sub-problems go to
	// extra goroutines only while the engine's running mean latency of store reads is
	// at least this. Below it (a memory store, an in-memory index) everything runs
	// inline, because starting a goroutine costs more than the read it would overlap.
	// Default 50µs; a negative value always fans out (up to MaxConcurrency).
	ParallelReadLatency time.Duration
	// Now is the clock used to drop expired contextual relationships and to expire
	// cached results that depended on expiring relationships. It should be the clock
	// the datastore uses (datastore.Options.Now). Default time.Now.
	Now func() time.Time
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.MaxDepth <= 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MaxConcurrency <= 0 {
		c.MaxConcurrency = DefaultMaxConcurrency
	}
	if c.ParallelReadLatency == 0 {
		c.ParallelReadLatency = DefaultParallelReadLatency
	}
	if c.SchemaCacheSize <= 0 {
		c.SchemaCacheSize = DefaultSchemaCacheSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Engine answers permission questions over a datastore. It is safe for concurrent
// use; one Engine serves every tenant of its store.
type Engine struct {
	ds  datastore.Datastore
	cfg Config

	results *lru.Cache[cacheKey, cacheEntry] // nil when the cache is disabled
	door    *doorkeeper                      // admits results to the cache on their second computation
	seed    maphash.Seed
	flights singleflight.Group
	metrics metrics

	// compiled holds compiled schemas by (tenant, schema revision); atRevision maps
	// (tenant, read revision) to the schema in force there, so a warm request does
	// not read the schema from the store.
	compiled   *lru.Cache[schemaKey, *compiledSchema]
	atRevision *lru.Cache[schemaKey, *compiledSchema]
	compiles   singleflight.Group

	mu     sync.RWMutex
	epochs map[string]uint64 // tenant → incarnation, bumped by ForgetTenant

	// readLatency is a running mean of store read latency, in nanoseconds.
	readLatency atomic.Int64
}

// observeRead folds one store read's latency into the running mean.
func (e *Engine) observeRead(d time.Duration) {
	old := e.readLatency.Load()
	e.readLatency.Store(old + (int64(d)-old)/16)
}

// fanOut reports whether sub-problems should go to extra goroutines.
func (e *Engine) fanOut() bool {
	return e.cfg.ParallelReadLatency < 0 || time.Duration(e.readLatency.Load()) >= e.cfg.ParallelReadLatency
}

type schemaKey struct {
	tenant string
	epoch  uint64
	rev    datastore.Revision
}

// New returns an engine reading ds.
func New(ds datastore.Datastore, cfg Config) *Engine {
	cfg = cfg.WithDefaults()
	e := &Engine{ds: ds, cfg: cfg, epochs: map[string]uint64{}}
	if cfg.CacheSize > 0 {
		e.results, _ = lru.New[cacheKey, cacheEntry](cfg.CacheSize)
		e.door = newDoorkeeper(cfg.CacheSize)
		e.seed = maphash.MakeSeed()
	}
	e.compiled, _ = lru.New[schemaKey, *compiledSchema](cfg.SchemaCacheSize)
	e.atRevision, _ = lru.New[schemaKey, *compiledSchema](cfg.SchemaCacheSize * 8)
	return e
}

// Config returns the engine's configuration with defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// errNoTenant refuses a request that names no tenant. The server resolves an absent
// tenant to tuple.DefaultTenant at its edge; below it every request names one, so a
// missing name is a caller's bug, not a silent default.
var errNoTenant = requestErr("tenant", "", "is empty: name the tenant (tuple.DefaultTenant for the default one)")

func (e *Engine) epoch(tenant string) uint64 {
	e.mu.RLock()
	ep := e.epochs[tenant]
	e.mu.RUnlock()
	return ep
}

// ForgetTenant drops everything the engine remembers about a tenant: its schemas and
// cached results. Call it after deleting a tenant, because a tenant created again
// under the same name starts again at revision 0 and must not see the old answers.
func (e *Engine) ForgetTenant(tenant string) {
	e.mu.Lock()
	e.epochs[tenant]++
	e.mu.Unlock()
}

// ResolveRevision turns a consistency requirement into the revision to read at.
//
//   - MinimizeLatency: the store's quantised recent revision (ds.OptimizedRevision).
//   - AtLeastAsFresh: the newer of c.Revision and the quantised revision; a revision
//     newer than the quantised one is checked with ds.CheckRevision.
//   - AtExactSnapshot: c.Revision, after ds.CheckRevision says it is readable.
//   - FullyConsistent: the head revision.
func (e *Engine) ResolveRevision(ctx context.Context, tenant string, c Consistency) (datastore.Revision, error) {
	if tenant == "" {
		return 0, errNoTenant
	}
	switch c.Mode {
	case MinimizeLatency:
		return e.ds.OptimizedRevision(ctx, tenant)
	case AtLeastAsFresh:
		opt, err := e.ds.OptimizedRevision(ctx, tenant)
		if err != nil {
			return 0, err
		}
		if c.Revision <= opt {
			return opt, nil
		}
		if err := e.ds.CheckRevision(ctx, tenant, c.Revision); err != nil {
			return 0, err
		}
		return c.Revision, nil
	case AtExactSnapshot:
		if err := e.ds.CheckRevision(ctx, tenant, c.Revision); err != nil {
			return 0, err
		}
		return c.Revision, nil
	case FullyConsistent:
		return e.ds.HeadRevision(ctx, tenant)
	}
	return 0, requestErr("consistency", fmt.Sprint(int(c.Mode)), "is not a known consistency mode")
}

// Schema returns the tenant's compiled schema in force at revision rev. Compiled
// schemas are cached by (tenant, schema revision). A tenant without a schema at rev
// gives a *datastore.NoSchemaError, which satisfies
// errors.Is(err, datastore.ErrSchemaNotFound).
func (e *Engine) Schema(ctx context.Context, tenant string, rev datastore.Revision) (*schema.Schema, error) {
	cs, err := e.schemaAt(ctx, tenant, rev)
	if err != nil {
		return nil, err
	}
	return cs.s, nil
}

// schemaAt returns the compiled schema and its analysis at a revision.
func (e *Engine) schemaAt(ctx context.Context, tenant string, rev datastore.Revision) (*compiledSchema, error) {
	if tenant == "" {
		return nil, errNoTenant
	}
	ep := e.epoch(tenant)
	atKey := schemaKey{tenant: tenant, epoch: ep, rev: rev}
	if cs, ok := e.atRevision.Get(atKey); ok {
		return cs, nil
	}
	stored, err := e.ds.SnapshotReader(tenant, rev).ReadSchema(ctx)
	if err != nil {
		if errors.Is(err, datastore.ErrSchemaNotFound) {
			return nil, &datastore.NoSchemaError{Tenant: tenant, Revision: rev}
		}
		return nil, err
	}
	key := schemaKey{tenant: tenant, epoch: ep, rev: stored.Revision}
	cs, ok := e.compiled.Get(key)
	if !ok || cs.s.Source != stored.Text {
		v, err, _ := e.compiles.Do(fmt.Sprintf("%s\x00%d\x00%d", tenant, ep, stored.Revision), func() (any, error) {
			s, err := schema.Compile("schema.zed", stored.Text)
			if err != nil {
				return nil, fmt.Errorf("the stored schema of tenant %q (revision %d) does not compile: %w", tenant, stored.Revision, err)
			}
			return newCompiledSchema(s), nil
		})
		if err != nil {
			return nil, err
		}
		cs = v.(*compiledSchema)
		e.compiled.Add(key, cs)
	}
	e.atRevision.Add(atKey, cs)
	return cs, nil
}
