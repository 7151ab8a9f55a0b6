package serve

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/server"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// loops are the process's background goroutines. Each ends when ctx does; stop
// cancels them and waits, so none touches the store after it closes.
type loops struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startLoops starts the loops the stack needs: probing the store for readiness,
// building the index of the default tenant and then releasing the embedded store's
// mapped pages (when there is an index), garbage collection every gcEvery and the
// grant sweep every sweepEvery (each when positive).
func startLoops(st *Stack, backing datastore.Datastore, gcEvery, sweepEvery time.Duration, log *slog.Logger) *loops {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loops{ctx: ctx, cancel: cancel}
	l.run(func() { probeStore(ctx, st.Store, st.Server, storeProbeInterval, log) })
	if st.Index != nil {
		l.run(func() {
			if err := st.Index.Warm(ctx, tuple.DefaultTenant); err != nil {
				if ctx.Err() == nil {
					log.Warn("index: warming the default tenant", "error", err)
				}
				return
			}
			if r, ok := backing.(pageReleaser); ok {
				// Once the index holds the relationships, the embedded store's
				// mapped pages need not stay resident (see releasePages).
				releasePages(ctx, r, time.Minute, log)
			}
		})
	}
	if gcEvery > 0 {
		l.run(func() { collectGarbage(ctx, st.Store, gcEvery, log) })
	}
	if sweepEvery > 0 && st.Sweeper != nil {
		l.run(func() { sweepGrants(ctx, st.Sweeper, sweepEvery, log) })
	}
	if st.DecisionLog != nil {
		l.run(func() { st.DecisionLog.Run(ctx) })
	}
	return l
}

func (l *loops) run(fn func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		fn()
	}()
}

// stop ends the loops and waits for them.
func (l *loops) stop() {
	l.cancel()
	l.wg.Wait()
}

// repeat calls fn every interval until ctx ends, and first at once when now is set.
// Every background loop of serve runs through it.
func repeat(ctx context.Context, every time.Duration, now bool, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	if now {
		fn()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}

// collectGarbage runs the store's garbage collection every interval until ctx ends.
func collectGarbage(ctx context.Context, ds datastore.Datastore, every time.Duration, log *slog.Logger) {
	repeat(ctx, every, false, func() {
		stats, err := ds.GarbageCollect(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("garbage collection failed", "error", err)
			}
			return
		}
		log.Debug("garbage collection", "relationships", stats.Relationships, "transactions", stats.Transactions, "schemas", stats.Schemas, "records", stats.Records)
	})
}

// pageReleaser is a store whose memory-mapped pages can be dropped from the resident
// set (the embedded store).
type pageReleaser interface{ ReleaseMappedPages() error }

// releasePages releases the store's mapped pages now and then every interval until
// ctx ends: reads that fall back to the store, imports and garbage collection bring
// pages back, and the index already holds what checks need.
func releasePages(ctx context.Context, r pageReleaser, every time.Duration, log *slog.Logger) {
	repeat(ctx, every, true, func() {
		if err := r.ReleaseMappedPages(); err != nil {
			log.Warn("releasing the datastore's mapped pages", "error", err)
		}
	})
}

// storeProbeInterval is how often serve asks the store whether it answers; the same
// time bounds one probe.
const storeProbeInterval = 2 * time.Second

// probeStore reads the store's head revision now and then every interval until ctx
// ends, and reports each outcome to srv, whose readiness (gRPC health, /readyz)
// follows it. It logs when the store becomes unreachable and when it comes back.
func probeStore(ctx context.Context, ds datastore.Datastore, srv *server.Server, every time.Duration, log *slog.Logger) {
	reachable := true
	repeat(ctx, every, true, func() {
		pctx, cancel := context.WithTimeout(ctx, every)
		_, err := ds.HeadRevision(pctx, tuple.DefaultTenant)
		cancel()
		if ctx.Err() != nil {
			return
		}
		srv.ReportStore(err)
		switch {
		case err != nil && reachable:
			log.Error("datastore unreachable: reporting not ready", "error", err)
		case err == nil && !reachable:
			log.Info("datastore reachable again: reporting ready")
		}
		reachable = err == nil
	})
}
