package main

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/pemba-authz/pemba/bench/dataset"
	"github.com/pemba-authz/pemba/bench/loadgen"
)

// bench is one invocation under way: its plan, the suite the workloads run
// against, the report it fills, and what it has learnt so far.
type bench struct {
	o *options
	*plan
	suite *loadgen.Suite
	rep   *loadgen.Report
	log   io.Writer
	// profiled marks the workloads (and "import") a profile was taken of.
	profiled map[string]bool
	// relCount is the number of relationships the server holds.
	relCount uint64
	// health is the health throughput by concurrency, which the ratios of the runs
	// after it are taken against; healthOp is the health request of paired runs.
	health   map[int]float64
	healthOp loadgen.Op
}

func newBench(o *options, p *plan, client *loadgen.Client, stderr io.Writer) *bench {
	b := &bench{
		o: o, plan: p, log: stderr, profiled: map[string]bool{}, health: map[int]float64{},
		suite: &loadgen.Suite{Model: p.model, Client: client, Tenant: o.tenant, PoolSize: o.pool, PageSize: uint32(o.pageSize), BatchSize: uint32(o.lookupBatch)},
		rep: &loadgen.Report{
			Label: o.label, Target: o.target, Dataset: p.params, StartedAt: time.Now().UTC().Format(time.RFC3339),
			Settings: map[string]any{"conns": o.conns, "duration": o.duration.String(), "count": o.count, "pool": o.pool, "page_size": o.pageSize, "dataset_version": dataset.Version},
		},
	}
	// Other processes on the machine skew every number: record how busy it was.
	b.rep.Settings["cpus"] = runtime.NumCPU()
	b.rep.Settings["loadavg_at_start"] = loadavg()
	return b
}

// logf writes one progress line.
func (b *bench) logf(format string, a ...any) { fmt.Fprintf(b.log, format+"\n", a...) }

// fail records a failure the report states; the command then exits with code 3.
func (b *bench) fail(format string, a ...any) {
	b.rep.Failures = append(b.rep.Failures, fmt.Sprintf(format, a...))
}
