package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/index"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/datastore/postgres"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/governance"
	"github.com/pemba-authz/pemba/internal/server"
	"github.com/pemba-authz/pemba/internal/tuple"
	"github.com/pemba-authz/pemba/internal/write"
)

// serveOptions are the flags of `pemba serve`.
type serveOptions struct {
	grpcAddr, httpAddr string

	datastore          string
	index              bool
	datastorePath      string
	datastoreURI       string
	gcInterval         time.Duration
	gcWindow           time.Duration
	quantizationWindow time.Duration
	auditRetention     time.Duration

	engineCacheSize int
	engineMaxDepth  int

	presharedKeys  []string
	keyFile        string
	insecureNoAuth bool

	tlsCert, tlsKey, tlsClientCA string

	limits        server.Limits
	shutdownGrace time.Duration

	logFormat, logLevel string

	tracingEndpoint    string
	tracingInsecure    bool
	tracingSampleRatio float64

	pprofAddr string
}

func newServeCommand() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Pemba server (gRPC and REST)",
		Long: `Run the Pemba server: the gRPC API, the REST gateway with its OpenAPI document
(GET /openapi.json), Prometheus metrics (GET /metrics) and health (GET /healthz, grpc
health). With no flags it stores data under ./pemba-data and listens on 127.0.0.1 only.

Without a preshared key the server is open to every caller and therefore refuses
non-loopback addresses unless --insecure-no-auth is given.

SIGTERM or SIGINT stops it gracefully: it stops accepting requests, lets the ones in
flight finish (up to --shutdown-grace) and closes the datastore.`,
		Example: `  pemba serve
  pemba serve --datastore memory
  pemba serve --preshared-key "$(cat admin.key)" --grpc-addr 0.0.0.0:50051 --http-addr 0.0.0.0:8080
  PEMBA_DATASTORE=postgres PEMBA_DATASTORE_URI=postgres://... pemba serve --preshared-key-file keys.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.grpcAddr, "grpc-addr", server.DefaultGRPCAddr, "gRPC listen address")
	f.StringVar(&o.httpAddr, "http-addr", server.DefaultHTTPAddr, "HTTP listen address (REST gateway, /openapi.json, /metrics, /healthz)")

	f.StringVar(&o.datastore, "datastore", "bolt", "datastore: bolt (embedded, durable), memory (not durable) or postgres (PostgreSQL/CockroachDB)")
	f.StringVar(&o.datastorePath, "datastore-path", "./pemba-data", "directory of the embedded bolt datastore")
	f.StringVar(&o.datastoreURI, "datastore-uri", "", "PostgreSQL/CockroachDB connection URI (--datastore postgres)")
	f.DurationVar(&o.gcInterval, "gc-interval", 5*time.Minute, "how often old revisions are garbage-collected (0 disables)")
	f.DurationVar(&o.gcWindow, "gc-window", datastore.DefaultGCWindow, "how long a superseded revision stays readable")
	f.BoolVar(&o.index, "index", true, "keep an in-memory index of relationships, fed by the store's change log, and answer checks from it (bolt and postgres)")
	f.DurationVar(&o.quantizationWindow, "quantization-window", datastore.DefaultQuantizationWindow, "how stale a minimize_latency read may be (shared revisions make caches hit)")
	f.DurationVar(&o.auditRetention, "audit-retention", 0, "how long audit records are kept (0 keeps them forever)")

	f.IntVar(&o.engineCacheSize, "engine-cache-size", engine.DefaultCacheSize, "sub-problem results kept in the engine's cache (negative disables it)")
	f.IntVar(&o.engineMaxDepth, "engine-max-depth", engine.DefaultMaxDepth, "deepest nesting one check may walk")

	f.StringArrayVar(&o.presharedKeys, "preshared-key", nil, "a bearer key, repeatable: SECRET (an admin key) or NAME:ROLE[@TENANT,...]:SECRET with ROLE admin, reader or delegate")
	f.StringVar(&o.keyFile, "preshared-key-file", "", "YAML or JSON file of keys (see docs/operations.md)")
	f.BoolVar(&o.insecureNoAuth, "insecure-no-auth", false, "allow serving without any key on non-loopback addresses (an open API)")

	f.StringVar(&o.tlsCert, "tls-cert-file", "", "PEM certificate for TLS on both ports")
	f.StringVar(&o.tlsKey, "tls-key-file", "", "PEM private key for TLS")
	f.StringVar(&o.tlsClientCA, "tls-client-ca-file", "", "PEM CA bundle; when set clients must present a certificate it signed (mTLS)")

	f.IntVar(&o.limits.MaxMessageSize, "max-message-size", server.DefaultMaxMessageSize, "largest request message in bytes (gRPC message or REST body)")
	f.IntVar(&o.limits.MaxUpdatesPerWrite, "max-updates-per-write", server.DefaultMaxUpdatesPerWrite, "most updates in one WriteRelationships")
	f.IntVar(&o.limits.MaxPreconditions, "max-preconditions", server.DefaultMaxPreconditions, "most preconditions in one write or delete")
	f.IntVar(&o.limits.MaxCheckBulkItems, "max-check-bulk-items", server.DefaultMaxCheckBulkItems, "most items in one CheckBulk")
	f.IntVar(&o.limits.MaxContextualRelationships, "max-contextual-relationships", server.DefaultMaxContextualRelationships, "most contextual relationships in one request")
	f.IntVar(&o.limits.MaxPageSize, "max-page-size", server.DefaultMaxPageSize, "most results per read, audit or review page (also the page size when a request asks for 0)")
	f.IntVar(&o.limits.MaxLookupLimit, "max-lookup-limit", server.DefaultMaxLookupLimit, "most results of one LookupResources or LookupSubjects call (also the limit when a request asks for 0)")
	f.IntVar(&o.limits.MaxDeleteLimit, "max-delete-limit", server.DefaultMaxDeleteLimit, "most relationships one DeleteRelationships removes")
	f.DurationVar(&o.limits.DefaultDeadline, "default-deadline", server.DefaultDeadline, "deadline of unary requests that arrive without one")
	f.DurationVar(&o.shutdownGrace, "shutdown-grace", 30*time.Second, "how long in-flight requests may run after SIGTERM before they are cancelled")

	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug (every request), info, warn or error")

	f.StringVar(&o.tracingEndpoint, "tracing-endpoint", "", "OTLP/gRPC collector host:port; empty turns tracing off")
	f.BoolVar(&o.tracingInsecure, "tracing-insecure", false, "send spans to the collector without TLS")
	f.Float64Var(&o.tracingSampleRatio, "tracing-sample-ratio", 1, "fraction of new traces sampled")

	f.StringVar(&o.pprofAddr, "pprof-addr", "", "serve Go profiles on this loopback address (e.g. 127.0.0.1:6060); empty is off")
	return cmd
}

func runServe(ctx context.Context, o *serveOptions, stderr io.Writer) error {
	log, err := newLogger(o.logFormat, o.logLevel, stderr)
	if err != nil {
		return err
	}
	keys, err := loadKeys(o)
	if err != nil {
		return err
	}
	// Refuse an open API on the network before touching any data.
	if err := server.CheckOpenAccess(len(keys) > 0, o.insecureNoAuth, o.grpcAddr, o.httpAddr); err != nil {
		return err
	}
	var tlsCfg *tls.Config
	if o.tlsCert != "" || o.tlsKey != "" || o.tlsClientCA != "" {
		if tlsCfg, err = server.LoadTLS(o.tlsCert, o.tlsKey, o.tlsClientCA); err != nil {
			return err
		}
	}
	if o.pprofAddr != "" && !server.IsLoopback(o.pprofAddr) {
		return fmt.Errorf("--pprof-addr %s is not a loopback address: the profiler may only listen on 127.0.0.1, ::1 or localhost", o.pprofAddr)
	}
	limits := o.limits.WithDefaults()

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	ds, err := openDatastore(ctx, o)
	if err != nil {
		return err
	}
	var idx *index.Store
	if o.index && strings.ToLower(o.datastore) != "memory" {
		// Serve the engine's reads from memory; the store stays the system of record.
		idx = index.New(ds, index.Options{Logger: log})
		releaser, _ := ds.(pageReleaser)
		ds = idx
		go func() {
			if err := idx.Warm(ctx, tuple.DefaultTenant); err != nil && ctx.Err() == nil {
				log.Warn("index: warming the default tenant", "error", err)
			}
			if releaser != nil {
				// Once the index holds the relationships, the embedded store's mapped
				// pages need not stay resident (see releasePages).
				releasePages(ctx, releaser, time.Minute, log)
			}
		}()
	}
	closeStore := sync.OnceValue(func() error {
		err := ds.Close()
		if err != nil {
			log.Error("closing the datastore", "error", err)
		} else {
			log.Info("datastore closed")
		}
		return err
	})
	defer closeStore()

	eng := engine.New(ds, engine.Config{
		MaxDepth:                   o.engineMaxDepth,
		CacheSize:                  o.engineCacheSize,
		MaxContextualRelationships: limits.MaxContextualRelationships,
	})
	writer := write.New(ds, eng, write.Config{
		MaxUpdates:       limits.MaxUpdatesPerWrite,
		MaxPreconditions: limits.MaxPreconditions,
	})
	registry := server.NewRegistry()
	registry.MustRegister(eng.Collector())
	if idx != nil {
		registry.MustRegister(idx.Collector())
	}

	var tp trace.TracerProvider
	if o.tracingEndpoint != "" {
		sdkTP, err := server.NewTracerProvider(ctx, server.TracingConfig{Endpoint: o.tracingEndpoint, Insecure: o.tracingInsecure, SampleRatio: o.tracingSampleRatio})
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := sdkTP.Shutdown(sctx); err != nil {
				log.Warn("flushing traces", "error", err)
			}
		}()
		tp = sdkTP
		log.Info("tracing enabled", "endpoint", o.tracingEndpoint)
	}

	srv, err := server.New(server.Config{
		Datastore:      ds,
		Engine:         eng,
		Writer:         writer,
		Reviewer:       governance.New(ds, eng, nil),
		GRPCAddr:       o.grpcAddr,
		HTTPAddr:       o.httpAddr,
		Keys:           keys,
		InsecureNoAuth: o.insecureNoAuth,
		TLS:            tlsCfg,
		Limits:         limits,
		Logger:         log,
		Registry:       registry,
		TracerProvider: tp,
	})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}

	if o.pprofAddr != "" {
		pp, _, err := server.StartPprof(o.pprofAddr, log)
		if err != nil {
			shutdown(srv, o.shutdownGrace, log)
			return err
		}
		defer pp.Close()
	}

	gcCtx, stopGC := context.WithCancel(context.Background())
	var gcDone sync.WaitGroup
	if o.gcInterval > 0 {
		gcDone.Add(1)
		go func() {
			defer gcDone.Done()
			collectGarbage(gcCtx, ds, o.gcInterval, log)
		}()
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("signal received; shutting down", "grace", o.shutdownGrace)
	case serveErr = <-srv.Errors():
		log.Error("server failed; shutting down", "error", serveErr)
	}
	shutdown(srv, o.shutdownGrace, log)
	stopGC()
	gcDone.Wait()
	if err := closeStore(); err != nil && serveErr == nil {
		serveErr = fmt.Errorf("closing the datastore: %w", err)
	}
	log.Info("stopped")
	return serveErr
}

func shutdown(srv *server.Server, grace time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown", "error", err)
	}
}

// collectGarbage runs the datastore's garbage collection every interval until ctx ends.
func collectGarbage(ctx context.Context, ds datastore.Datastore, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stats, err := ds.GarbageCollect(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("garbage collection failed", "error", err)
			}
			continue
		}
		log.Debug("garbage collection", "relationships", stats.Relationships, "transactions", stats.Transactions, "schemas", stats.Schemas)
	}
}

// openDatastore opens the configured store.
func openDatastore(ctx context.Context, o *serveOptions) (datastore.Datastore, error) {
	opts := datastore.Options{
		GCWindow:           o.gcWindow,
		QuantizationWindow: o.quantizationWindow,
		AuditRetention:     o.auditRetention,
	}
	switch strings.ToLower(o.datastore) {
	case "memory":
		return memory.New(opts), nil
	case "bolt":
		return openBolt(o.datastorePath, opts)
	case "postgres", "postgresql", "cockroachdb":
		if o.datastoreURI == "" {
			return nil, errors.New("--datastore postgres needs --datastore-uri (or PEMBA_DATASTORE_URI)")
		}
		return postgres.New(ctx, o.datastoreURI, postgres.Options{Options: opts})
	}
	return nil, fmt.Errorf("--datastore %q is not one of bolt, memory, postgres", o.datastore)
}

// loadKeys gathers the preshared keys from --preshared-key values and the key file.
func loadKeys(o *serveOptions) ([]server.Key, error) {
	var keys []server.Key
	for i, v := range o.presharedKeys {
		k, err := server.ParseKeyFlag(v, i)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if o.keyFile != "" {
		fileKeys, err := server.LoadKeyFile(o.keyFile)
		if err != nil {
			return nil, err
		}
		keys = append(keys, fileKeys...)
	}
	if err := server.ValidateKeys(keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// newLogger builds the process logger.
func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q is not one of debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q is not one of text, json", format)
}

// pageReleaser is a store whose memory-mapped pages can be dropped from the resident
// set (the embedded store).
type pageReleaser interface{ ReleaseMappedPages() error }

// releasePages releases the store's mapped pages now and then every interval until
// ctx ends: reads that fall back to the store, imports and garbage collection bring
// pages back, and the index already holds what checks need.
func releasePages(ctx context.Context, r pageReleaser, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := r.ReleaseMappedPages(); err != nil {
			log.Warn("releasing the datastore's mapped pages", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
