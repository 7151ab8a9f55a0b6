package serve

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/server"
	"github.com/pemba-authz/pemba/internal/version"
)

// Run serves until ctx ends, SIGTERM or SIGINT arrives, or a listener fails. It checks
// the configuration before it touches any data, then opens the store, builds and
// starts the stack with its loops, and on the way out stops in order: requests drain
// (up to ShutdownGrace), the loops end, spans are flushed, the store closes.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	keys, quotas, tlsCfg, err := checkConfig(cfg)
	if err != nil {
		return err
	}
	if err := cfg.Retention.validate(); err != nil {
		return err
	}
	erasureSecret, err := cfg.Erasure.secret()
	if err != nil {
		return err
	}
	consoleCfg, err := cfg.Console.load()
	if err != nil {
		return err
	}
	ratio := cfg.MemoryLimitRatio
	if ratio == 0 {
		ratio = DefaultMemoryLimitRatio
	}
	softLimit, err := memoryLimit(cfg.MemoryLimit, ratio)
	if err != nil {
		return err
	}
	v := version.Get()
	log.Info("starting pemba", "version", v.Version, "commit", v.Commit, "go", v.GoVersion)
	defer applyMemoryLimit(softLimit, log)()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var tp trace.TracerProvider
	if cfg.TracingEndpoint != "" {
		sdkTP, err := newTracerProvider(ctx, cfg)
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
		log.Info("tracing enabled", "endpoint", cfg.TracingEndpoint)
	}

	ds, pending, err := openOrWait(ctx, cfg, log)
	if err != nil {
		return err
	}
	st, err := NewStack(ds, StackOptions{
		Index:      cfg.Index && storeKind(cfg.Datastore) != "memory",
		Engine:     engine.Config{MaxDepth: cfg.EngineMaxDepth, CacheSize: cfg.EngineCacheSize},
		RequestTTL: cfg.RequestTTL,
		Server: server.Config{
			GRPCAddr:       cfg.GRPCAddr,
			HTTPAddr:       cfg.HTTPAddr,
			PublicURL:      cfg.PublicURL,
			Keys:           keys,
			InsecureNoAuth: cfg.InsecureNoAuth,
			TLS:            tlsCfg,
			Limits:         cfg.Limits,
			Quotas:         quotas,
			Logger:         log,
			TracerProvider: tp,
			ErasureSecret:  erasureSecret,
			Console:        consoleCfg,
		},
		DecisionLog: cfg.DecisionLog,
	})
	if err != nil {
		ds.Close()
		return err
	}
	closeStore := sync.OnceValue(func() error {
		err := st.Close()
		if err != nil {
			log.Error("closing the datastore", "error", err)
		} else {
			log.Info("datastore closed")
		}
		return err
	})
	defer closeStore()
	if pending != nil {
		st.Server.ReportStore(errNotReached) // not ready from the first probe on
	}
	if err := st.Server.Start(); err != nil {
		return err
	}
	if cfg.PprofAddr != "" {
		pp, _, err := startPprof(cfg.PprofAddr, log)
		if err != nil {
			shutdown(st.Server, cfg.ShutdownGrace, log)
			return err
		}
		defer pp.Close()
	}
	bg := startLoops(st, ds, cfg.GCInterval, cfg.GrantSweepInterval, log)
	if cfg.Retention.Interval > 0 && (cfg.Retention.Refusals > 0 || cfg.Retention.DeniedDecisions > 0) {
		bg.run(func() { keepRetention(bg.ctx, ds, cfg.Retention, log) })
	}
	if pending != nil {
		bg.run(func() {
			pending.openInBackground(bg.ctx, func(ctx context.Context) (datastore.Datastore, error) {
				return openStore(ctx, cfg)
			}, maxOpenWait, log)
		})
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("signal received; shutting down", "grace", cfg.ShutdownGrace)
	case serveErr = <-st.Server.Errors():
		log.Error("server failed; shutting down", "error", serveErr)
	}
	// In order: requests drain, the loops end, and only then the store closes.
	shutdown(st.Server, cfg.ShutdownGrace, log)
	bg.stop()
	if err := closeStore(); err != nil && serveErr == nil {
		serveErr = fmt.Errorf("closing the datastore: %w", err)
	}
	log.Info("stopped")
	return serveErr
}

// maxOpenWait is the longest serve waits between attempts to reach a database it
// could not reach at start-up.
const maxOpenWait = 5 * time.Second

// openOrWait opens the configured store. When it is a database that cannot be
// reached now, it returns a pendingStore in its place instead of failing, so that
// serve starts, reports not-ready and reaches the database in the background: a
// database outage must not turn into a crash loop. Other failures are returned.
func openOrWait(ctx context.Context, cfg Config, log *slog.Logger) (datastore.Datastore, *pendingStore, error) {
	ds, err := openStore(ctx, cfg)
	if err == nil {
		return ds, nil, nil
	}
	if storeKind(cfg.Datastore) != "postgres" || !retryable(err) || ctx.Err() != nil {
		return nil, nil, err
	}
	log.Error("datastore unreachable at start-up: serving not-ready and retrying in the background", "error", err)
	p := newPendingStore()
	return p, p, nil
}

// checkConfig refuses a configuration that cannot serve, before any data is opened:
// bad keys or quotas, an open API on the network, unreadable TLS files, a profiler
// beyond loopback.
func checkConfig(cfg Config) ([]server.Key, server.Quotas, *tls.Config, error) {
	quotas, err := loadQuotas(cfg.Quotas, cfg.QuotaFile)
	if err != nil {
		return nil, server.Quotas{}, nil, err
	}
	keys, err := loadKeys(cfg.PresharedKeys, cfg.KeyFile, quotas.Key)
	if err != nil {
		return nil, server.Quotas{}, nil, err
	}
	grpcAddr, httpAddr := cfg.GRPCAddr, cfg.HTTPAddr
	if grpcAddr == "" {
		grpcAddr = server.DefaultGRPCAddr
	}
	if httpAddr == "" {
		httpAddr = server.DefaultHTTPAddr
	}
	if err := server.CheckOpenAccess(len(keys) > 0, cfg.InsecureNoAuth, grpcAddr, httpAddr); err != nil {
		return nil, server.Quotas{}, nil, err
	}
	var tlsCfg *tls.Config
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" || cfg.TLSClientCAFile != "" {
		if tlsCfg, err = loadTLS(cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSClientCAFile); err != nil {
			return nil, server.Quotas{}, nil, err
		}
	}
	if cfg.PprofAddr != "" && !server.IsLoopback(cfg.PprofAddr) {
		return nil, server.Quotas{}, nil, fmt.Errorf("--pprof-addr %s is not a loopback address: the profiler may only listen on 127.0.0.1, ::1 or localhost", cfg.PprofAddr)
	}
	return keys, quotas, tlsCfg, nil
}

// shutdown stops the server gracefully within grace.
func shutdown(srv *server.Server, grace time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown", "error", err)
	}
}
