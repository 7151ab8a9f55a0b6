package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pemba-authz/pemba/bench/loadgen"
)

// waitServing polls the server's health on every connection until each one is
// connected and the server serves, or the wait ends. (A connection that failed while
// the server was starting waits out a reconnection backoff.)
func waitServing(ctx context.Context, c *loadgen.Client, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	var last error
	ready := make([]bool, c.Conns())
	for time.Now().Before(deadline) {
		all := true
		for i := range ready {
			if ready[i] {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			resp, err := c.HealthAt(i).Check(cctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
			cancel()
			ready[i] = err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
			all = all && ready[i]
			if err != nil {
				last = err
			}
		}
		if all {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the server at the target is not serving after %s: %v", wait, last)
}

// load writes the schema and imports the dataset, or with --skip-load only counts
// the relationships the server already holds.
func (b *bench) load(ctx context.Context) error {
	if b.o.skipLoad {
		for range b.model.Relationships() {
			b.relCount++
		}
		return nil
	}
	text, err := os.ReadFile(b.o.schemaPath)
	if err != nil {
		return usageError{fmt.Errorf("--schema: %w", err)}
	}
	if err := b.suite.WriteSchema(ctx, string(text)); err != nil {
		return err
	}
	b.logf("importing the dataset (%d trees, %d chains, seed %d)...", b.params.Trees, b.params.Chains, b.params.Seed)
	importProf, importPath := b.profileImport(ctx)
	last := time.Now()
	res, err := b.suite.Import(ctx, b.model.Relationships(), b.o.importBatch, func(sent uint64) {
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			b.logf("  %d relationships sent", sent)
		}
	})
	if err != nil {
		return err
	}
	b.rep.Import = &res
	if err := <-importProf; err != nil {
		b.fail("cpu profile: %v", err)
	} else if b.profiled["import"] {
		b.rep.Profiles = append(b.rep.Profiles, importPath)
	}
	b.relCount = res.Relationships
	b.logf("import: %d relationships in %.1fs = %.0f/s", res.Relationships, res.Seconds, res.PerSecond)
	return nil
}

// profileImport starts the CPU profile of the import when one is asked for. The
// import's length is not known up front, so the profile covers its first
// --duration. The channel yields the profiler's answer (nil at once without one).
func (b *bench) profileImport(ctx context.Context) (<-chan error, string) {
	done := make(chan error, 1)
	path := profPath(b.o.cpuProfile, "import", b.profWLs)
	if b.prof != nil && slices.Contains(b.profWLs, "import") && b.o.cpuProfile != "" {
		b.profiled["import"] = true
		go func() { done <- b.prof.CPU(ctx, b.o.duration, path) }()
	} else {
		done <- nil
	}
	return done, path
}

// settleServer, when --server-pid names the server, records its resident memory
// after the load and waits for it to fall idle, so the first run does not measure
// what the load left running.
func (b *bench) settleServer(ctx context.Context) error {
	if b.o.serverPID <= 0 {
		return nil
	}
	rss, err := loadgen.ResidentMemory(b.o.serverPID)
	if err != nil {
		return err
	}
	b.rep.Memory = &loadgen.MemoryResult{PID: b.o.serverPID, AfterLoadBytes: rss, Relationships: b.relCount,
		BytesPerRelationshipLd: float64(rss) / float64(b.relCount)}
	waited, err := loadgen.WaitIdle(ctx, b.o.serverPID, 2*time.Minute)
	if err != nil {
		return err
	}
	b.rep.Settings["server_settle_seconds"] = math.Round(waited.Seconds()*10) / 10
	b.logf("server idle after %.1fs", waited.Seconds())
	return nil
}
