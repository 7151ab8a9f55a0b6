package serve

import (
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/decisionlog"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/server"
	"github.com/pemba-authz/pemba/internal/write"
)

// Config is everything `pemba serve` is told. DefaultConfig gives the documented
// defaults, which are the CLI's flag defaults; a zero field of a Config built by hand
// means the layer's own default, except where a comment says zero turns a feature off.
type Config struct {
	// GRPCAddr and HTTPAddr are the listen addresses; port 0 picks a free port.
	GRPCAddr, HTTPAddr string
	// PublicURL is the externally visible base URL of the HTTP port (empty: derived
	// from each request).
	PublicURL string

	// Datastore is bolt (embedded, durable), memory (not durable) or postgres
	// (PostgreSQL or CockroachDB).
	Datastore string
	// DatastorePath is the directory of the embedded store.
	DatastorePath string
	// DatastoreURI is the PostgreSQL/CockroachDB connection URI.
	DatastoreURI string
	// Index keeps an in-memory index of relationships that answers the engine's reads
	// (bolt and postgres; the memory store needs none).
	Index bool
	// GCInterval is how often old revisions are garbage-collected; zero turns
	// collection off.
	GCInterval time.Duration
	// GCWindow is how long a superseded revision stays readable.
	GCWindow time.Duration
	// GrantSweepInterval is how often delegated grants whose `while` conditions
	// ended are deleted (see GrantSweeper); zero turns the sweep off.
	GrantSweepInterval time.Duration
	// QuantizationWindow bounds how stale a minimize_latency read may be.
	QuantizationWindow time.Duration
	// AuditRetention is how long audit records are kept; zero keeps them forever.
	AuditRetention time.Duration
	// RequestTTL is how long an access request stays pending before it expires.
	RequestTTL time.Duration

	// EngineCacheSize is how many sub-problem results the engine caches (negative:
	// none); EngineMaxDepth the deepest nesting one check may walk.
	EngineCacheSize, EngineMaxDepth int

	// PresharedKeys are --preshared-key values (see parseKeyFlag); KeyFile a YAML or
	// JSON key file (see loadKeyFile). With no key the server serves loopback only,
	// unless InsecureNoAuth.
	PresharedKeys  []string
	KeyFile        string
	InsecureNoAuth bool

	// TLSCertFile and TLSKeyFile turn on TLS on both ports; TLSClientCAFile also
	// requires client certificates signed by that CA.
	TLSCertFile, TLSKeyFile, TLSClientCAFile string

	// Limits bound every request; the engine and the write path get theirs from it.
	Limits server.Limits
	// Quotas are the default quotas of every tenant and every key (Tenants is
	// ignored: per-tenant quotas come from QuotaFile, per-key ones from KeyFile).
	// The zero value sets none.
	Quotas server.Quotas
	// QuotaFile is a YAML or JSON file of per-tenant quotas (see loadQuotas).
	QuotaFile string
	// ShutdownGrace is how long requests in flight may run after SIGTERM.
	ShutdownGrace time.Duration

	// TracingEndpoint is an OTLP/gRPC collector's host:port; empty turns tracing off.
	TracingEndpoint    string
	TracingInsecure    bool
	TracingSampleRatio float64

	// PprofAddr serves Go profiles on this loopback address; empty is off.
	PprofAddr string

	// MemoryLimit is the memory the process may use, in bytes (a container's memory
	// limit); zero sets none and leaves GOMEMLIMIT in force. The Go runtime's soft limit
	// becomes MemoryLimitRatio of it, so the collector works harder before the heap
	// outgrows it instead of letting it reach twice the live heap.
	MemoryLimit int64
	// MemoryLimitRatio is the share of MemoryLimit given to the Go runtime (0, 1].
	MemoryLimitRatio float64

	// DecisionLog records permission decisions (off unless Enabled; see
	// docs/operations.md).
	DecisionLog decisionlog.Config
	// Retention is the retention of refused writes and denied decisions (see
	// Retention); Erasure turns on EraseSubject.
	Retention Retention
	Erasure   Erasure

	// Console is the web console (off unless Enabled; see docs/console.md).
	Console ConsoleConfig
}

// DefaultConfig returns the documented defaults: the embedded store under
// ./pemba-data, loopback addresses, the index on, garbage collection every 5 minutes.
func DefaultConfig() Config {
	return Config{
		GRPCAddr:           server.DefaultGRPCAddr,
		HTTPAddr:           server.DefaultHTTPAddr,
		Datastore:          "bolt",
		DatastorePath:      "./pemba-data",
		Index:              true,
		GCInterval:         5 * time.Minute,
		GCWindow:           datastore.DefaultGCWindow,
		GrantSweepInterval: time.Minute,
		QuantizationWindow: datastore.DefaultQuantizationWindow,
		EngineCacheSize:    engine.DefaultCacheSize,
		EngineMaxDepth:     engine.DefaultMaxDepth,
		Limits:             server.Limits{}.WithDefaults(),
		ShutdownGrace:      30 * time.Second,
		RequestTTL:         write.DefaultRequestTTL,
		TracingSampleRatio: 1,
		MemoryLimitRatio:   DefaultMemoryLimitRatio,
		Retention:          Retention{Interval: DefaultRetentionInterval},
		Console:            DefaultConsoleConfig(),
		DecisionLog: decisionlog.Config{
			SampleRate:       1,
			DeniedSampleRate: 1,
			QueueSize:        decisionlog.DefaultQueueSize,
			Retention:        decisionlog.DefaultRetention,
		},
	}
}

// storeOptions are the options every store shares.
func (c Config) storeOptions() datastore.Options {
	return datastore.Options{
		GCWindow:           c.GCWindow,
		QuantizationWindow: c.QuantizationWindow,
		AuditRetention:     c.AuditRetention,
	}
}
