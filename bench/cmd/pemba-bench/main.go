// Command pemba-bench loads a benchmark dataset into a running Pemba server and
// measures it with the workloads of bench/loadgen, verifying every answer against the
// dataset's oracle. See bench/README.md.
//
//	go run ./bench/cmd/pemba-bench --size 100000 --concurrency 1,8,32 --duration 10s
//
// It only targets loopback addresses unless --allow-remote is given, and every run is
// bounded by --duration (and --count when set).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pemba-authz/pemba/bench/dataset"
	"github.com/pemba-authz/pemba/bench/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pemba-bench:", err)
	}
	os.Exit(code)
}

type options struct {
	target, key, tenant, schemaPath string
	allowRemote, skipLoad           bool
	importBatch                     int
	workloads, concurrency          string
	duration, sweepDuration, reqTO  time.Duration
	count                           int64
	conns, pool, pageSize           int
	jsonPath, label                 string
	pprofAddr, cpuProfile, heapProf string
	profWorkload                    string
	profConc                        int
	serverPID                       int
	pairedHealth                    time.Duration
}

func parse(args []string, stderr io.Writer) (*options, *dataset.FlagValues, error) {
	o := &options{}
	fs := flag.NewFlagSet("pemba-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.target, "target", "127.0.0.1:50051", "the server's gRPC address (loopback only unless --allow-remote)")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a target or pprof address outside the loopback range")
	fs.StringVar(&o.key, "preshared-key", os.Getenv("PEMBA_PRESHARED_KEY"), "bearer key (default $PEMBA_PRESHARED_KEY)")
	fs.StringVar(&o.tenant, "tenant", "", "tenant to load and query (empty: default)")
	fs.StringVar(&o.schemaPath, "schema", "schema/b2b-ciam/schema.zed", "schema file written before the import")
	fs.BoolVar(&o.skipLoad, "skip-load", false, "do not write the schema or import: the server already holds this dataset")
	fs.IntVar(&o.importBatch, "import-batch", 1000, "relationships per ImportRelationships message")
	fs.StringVar(&o.workloads, "workloads", "all", "comma-separated workloads, or all: "+strings.Join(loadgen.WorkloadNames(), ","))
	fs.StringVar(&o.concurrency, "concurrency", "1,8,32", "comma-separated concurrency levels; every workload runs at each (sweep at the highest only)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each run")
	fs.Int64Var(&o.count, "count", 0, "most requests per run (0: bounded by --duration only)")
	fs.DurationVar(&o.sweepDuration, "sweep-duration", 15*time.Minute, "longest the sweep may run")
	fs.DurationVar(&o.reqTO, "request-timeout", 30*time.Second, "deadline of one request")
	fs.IntVar(&o.conns, "conns", 2, "gRPC connections shared by the workers")
	fs.IntVar(&o.pool, "pool", 100_000, "questions drawn for each fresh-check run")
	fs.IntVar(&o.pageSize, "page-size", 10000, "lookup page size (the server caps it at its --max-lookup-limit, default 10000)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&o.label, "label", "", "name of the setup measured (e.g. the server's datastore), kept in the report")
	fs.StringVar(&o.pprofAddr, "pprof-addr", "", "the server's pprof address (pemba serve --pprof-addr), for --cpuprofile and --heapprofile")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "save a CPU profile of the server during each --profile-workload run to this file (with several workloads, FILE becomes FILE-<workload>)")
	fs.StringVar(&o.heapProf, "heapprofile", "", "save the server's heap profile after the --profile-workload runs to this file (FILE-<workload> likewise)")
	fs.StringVar(&o.profWorkload, "profile-workload", "check", "comma-separated workloads during which profiles are taken; import profiles the import's first --duration")
	fs.IntVar(&o.profConc, "profile-concurrency", 0, "concurrency of the profiled run (default: the highest)")
	fs.DurationVar(&o.pairedHealth, "paired-health", 0, "before each run, measure the health baseline again at the same concurrency for this long and take the run's ratio against that (0: every ratio uses the health workload's run)")
	fs.IntVar(&o.serverPID, "server-pid", 0, "the server's process id, to report its resident memory (VmRSS) after the load and the sweep")
	dp := dataset.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected argument %q (all options are flags)", fs.Arg(0))
	}
	return o, dp, nil
}

func parseConcurrency(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4096 {
			return nil, fmt.Errorf("--concurrency %q: %q is not a number from 1 to 4096", s, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func selectWorkloads(s string) ([]loadgen.Workload, error) {
	all := loadgen.Workloads()
	if s == "all" {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(loadgen.WorkloadNames(), n) {
			return nil, fmt.Errorf("--workloads: unknown workload %q (known: %s)", n, strings.Join(loadgen.WorkloadNames(), ", "))
		}
		want[n] = true
	}
	var out []loadgen.Workload
	for _, w := range all {
		if want[w.Name] {
			out = append(out, w)
		}
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	o, dp, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, nil
		}
		return 2, err
	}
	if err := loadgen.CheckTarget("--target", o.target, o.allowRemote); err != nil {
		return 2, err
	}
	concs, err := parseConcurrency(o.concurrency)
	if err != nil {
		return 2, err
	}
	wls, err := selectWorkloads(o.workloads)
	if err != nil {
		return 2, err
	}
	bounds := loadgen.Bounds{Duration: o.duration, Count: o.count, RequestTimeout: o.reqTO}
	if err := bounds.Validate(); err != nil {
		return 2, err
	}
	if o.pool < 1 || o.pageSize < 1 || o.conns < 1 {
		return 2, fmt.Errorf("--pool, --page-size and --conns must be at least 1")
	}
	if o.pairedHealth < 0 || o.pairedHealth > 30*time.Minute {
		return 2, fmt.Errorf("--paired-health %s: must be from 0 to 30m", o.pairedHealth)
	}
	var prof *loadgen.Profiler
	if o.cpuProfile != "" || o.heapProf != "" {
		if o.pprofAddr == "" {
			return 2, fmt.Errorf("--cpuprofile and --heapprofile need --pprof-addr (start the server with pemba serve --pprof-addr 127.0.0.1:6060)")
		}
		if prof, err = loadgen.NewProfiler(o.pprofAddr, o.allowRemote); err != nil {
			return 2, err
		}
	}
	for _, n := range strings.Split(o.profWorkload, ",") {
		if n != "import" && !slices.Contains(loadgen.WorkloadNames(), n) {
			return 2, fmt.Errorf("--profile-workload: unknown workload %q (known: import, %s)", n, strings.Join(loadgen.WorkloadNames(), ", "))
		}
	}
	if o.profConc == 0 {
		o.profConc = slices.Max(concs)
	}
	params, err := dp.Resolve()
	if err != nil {
		return 2, err
	}
	model, err := dataset.NewModel(params)
	if err != nil {
		return 2, err
	}
	client, err := loadgen.Dial(o.target, o.conns, o.key)
	if err != nil {
		return 1, err
	}
	defer client.Close()
	suite := &loadgen.Suite{Model: model, Client: client, Tenant: o.tenant, PoolSize: o.pool, PageSize: uint32(o.pageSize)}
	rep := &loadgen.Report{
		Label: o.label, Target: o.target, Dataset: params, StartedAt: time.Now().UTC().Format(time.RFC3339),
		Settings: map[string]any{"conns": o.conns, "duration": o.duration.String(), "count": o.count, "pool": o.pool, "page_size": o.pageSize, "dataset_version": dataset.Version},
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	// Other processes on the machine skew every number: record how busy it was.
	rep.Settings["cpus"] = runtime.NumCPU()
	rep.Settings["loadavg_at_start"] = loadavg()

	if err := waitServing(ctx, client, 30*time.Second); err != nil {
		return 1, err
	}
	var relCount uint64
	profiled := map[string]bool{}
	profWLs := strings.Split(o.profWorkload, ",")
	if !o.skipLoad {
		text, err := os.ReadFile(o.schemaPath)
		if err != nil {
			return 2, fmt.Errorf("--schema: %w", err)
		}
		if err := suite.WriteSchema(ctx, string(text)); err != nil {
			return 1, err
		}
		logf("importing the dataset (%d trees, %d chains, seed %d)...", params.Trees, params.Chains, params.Seed)
		importProf := make(chan error, 1)
		importPath := profPath(o.cpuProfile, "import", profWLs)
		if prof != nil && slices.Contains(profWLs, "import") && o.cpuProfile != "" {
			// The import's length is not known up front: profile its first --duration.
			profiled["import"] = true
			go func() { importProf <- prof.CPU(ctx, o.duration, importPath) }()
		} else {
			importProf <- nil
		}
		last := time.Now()
		res, err := suite.Import(ctx, model.Relationships(), o.importBatch, func(sent uint64) {
			if time.Since(last) > 10*time.Second {
				last = time.Now()
				logf("  %d relationships sent", sent)
			}
		})
		if err != nil {
			return 1, err
		}
		rep.Import = &res
		if err := <-importProf; err != nil {
			rep.Failures = append(rep.Failures, "cpu profile: "+err.Error())
		} else if profiled["import"] {
			rep.Profiles = append(rep.Profiles, importPath)
		}
		relCount = res.Relationships
		logf("import: %d relationships in %.1fs = %.0f/s", res.Relationships, res.Seconds, res.PerSecond)
	} else {
		for range model.Relationships() {
			relCount++
		}
	}
	if o.serverPID > 0 {
		rss, err := loadgen.ResidentMemory(o.serverPID)
		if err != nil {
			return 1, err
		}
		rep.Memory = &loadgen.MemoryResult{PID: o.serverPID, AfterLoadBytes: rss, Relationships: relCount,
			BytesPerRelationshipLd: float64(rss) / float64(relCount)}
	}

	if o.serverPID > 0 {
		waited, err := loadgen.WaitIdle(ctx, o.serverPID, 2*time.Minute)
		if err != nil {
			return 1, err
		}
		rep.Settings["server_settle_seconds"] = math.Round(waited.Seconds()*10) / 10
		logf("server idle after %.1fs", waited.Seconds())
	}

	health := map[int]float64{}
	var healthOp loadgen.Op
	if o.pairedHealth > 0 {
		i := slices.IndexFunc(loadgen.Workloads(), func(w loadgen.Workload) bool { return w.Name == "health" })
		p, err := loadgen.Workloads()[i].Prepare(ctx, suite, 1)
		if err != nil {
			return 1, fmt.Errorf("health: %w", err)
		}
		healthOp = p.Op
	}
	for _, wl := range wls {
		levels := concs
		if wl.Name == "sweep" {
			levels = []int{slices.Max(concs)}
		}
		for _, c := range levels {
			if ctx.Err() != nil {
				return 1, ctx.Err()
			}
			prep, err := wl.Prepare(ctx, suite, c)
			if errors.Is(err, loadgen.ErrSkip) {
				logf("%s c=%d: %v", wl.Name, c, err)
				rep.Results = append(rep.Results, loadgen.Result{Workload: wl.Name, Concurrency: c, Note: err.Error()})
				break
			}
			if err != nil {
				return 1, fmt.Errorf("%s: %w", wl.Name, err)
			}
			if prep.Warm != nil {
				if err := prep.Warm(ctx); err != nil {
					return 1, fmt.Errorf("%s warm-up: %w", wl.Name, err)
				}
			}
			b := bounds
			if prep.Count > 0 && (b.Count == 0 || prep.Count < b.Count) {
				b.Count = prep.Count
			}
			if wl.Name == "sweep" {
				b.Duration = o.sweepDuration
			}
			baseline := health[c] // the health throughput this run's ratio is taken against
			paired := o.pairedHealth > 0 && wl.Name != "health" && wl.Name != "sweep"
			if paired {
				hb := loadgen.Bounds{Duration: o.pairedHealth, RequestTimeout: o.reqTO}
				hres, err := loadgen.Run(ctx, "health", c, hb, healthOp)
				if err != nil {
					return 1, fmt.Errorf("paired health run before %s: %w", wl.Name, err)
				}
				baseline = hres.QPS
			}
			profDone := make(chan error, 1)
			pctx, pcancel := context.WithCancel(ctx)
			profiling := prof != nil && !profiled[wl.Name] && slices.Contains(profWLs, wl.Name) && (c == o.profConc || wl.Name == "sweep")
			cpuPath, heapPath := profPath(o.cpuProfile, wl.Name, profWLs), profPath(o.heapProf, wl.Name, profWLs)
			if profiling && o.cpuProfile != "" {
				go func() { profDone <- prof.CPU(pctx, b.Duration, cpuPath) }()
			} else {
				profDone <- nil
			}
			res, err := loadgen.Run(ctx, wl.Name, c, b, prep.Op)
			cutShort := res.Seconds+1 < b.Duration.Seconds()
			if cutShort {
				// A run bounded by its count ended early; the profiler's answer would
				// mostly cover idle time after it, and waiting for it wastes the rest of
				// the duration.
				pcancel()
			}
			if err != nil {
				pcancel()
				return 1, err
			}
			res.Pool, res.Note = prep.Pool, prep.Note
			if wl.Name == "health" {
				health[c] = res.QPS
			} else if baseline > 0 {
				res.HealthQPS, res.Ratio = baseline, res.QPS/baseline
				if paired {
					res.Note = strings.TrimPrefix(res.Note+fmt.Sprintf("; ratio against a health run of %s just before", o.pairedHealth), "; ")
				}
			}
			if profiling {
				profiled[wl.Name] = true
				if err := <-profDone; cutShort && o.cpuProfile != "" {
					res.Note = strings.TrimPrefix(res.Note+"; the run ended before its CPU profile's duration, so the profile was not kept", "; ")
				} else if err != nil {
					rep.Failures = append(rep.Failures, "cpu profile: "+err.Error())
				} else if o.cpuProfile != "" {
					rep.Profiles = append(rep.Profiles, cpuPath)
				}
				if o.heapProf != "" {
					if err := prof.Heap(ctx, heapPath); err != nil {
						rep.Failures = append(rep.Failures, "heap profile: "+err.Error())
					} else {
						rep.Profiles = append(rep.Profiles, heapPath)
					}
				}
			}
			pcancel()
			rep.Results = append(rep.Results, res)
			logf("%-24s c=%-3d %8.0f qps  p50 %7.3fms  p99 %7.3fms  errors %d  mismatches %d", wl.Name, c, res.QPS, res.P50, res.P99, res.Errors, res.Mismatches)
			if wl.Name == "sweep" && rep.Memory != nil {
				rss, err := loadgen.ResidentMemory(o.serverPID)
				if err != nil {
					return 1, err
				}
				rep.Memory.AfterSweepBytes = rss
				rep.Memory.BytesPerRelationship = float64(rss) / float64(relCount)
			}
		}
	}
	for _, name := range profWLs {
		if prof != nil && !profiled[name] {
			rep.Failures = append(rep.Failures, fmt.Sprintf("no run of workload %s at concurrency %d was profiled", name, o.profConc))
		}
	}
	var mismatches uint64
	for _, r := range rep.Results {
		mismatches += r.Mismatches
	}
	if mismatches > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d answers differ from the oracle", mismatches))
	}
	rep.Settings["loadavg_at_end"] = loadavg()
	if err := rep.WriteTable(stdout); err != nil {
		return 1, err
	}
	if o.jsonPath != "" {
		f, err := os.Create(o.jsonPath)
		if err != nil {
			return 1, err
		}
		// The report names its profiles relative to itself, so it can be moved,
		// committed or shared without naming this machine's directories.
		saved := *rep
		saved.Profiles = make([]string, len(rep.Profiles))
		for i, p := range rep.Profiles {
			saved.Profiles[i] = relativeTo(filepath.Dir(o.jsonPath), p)
		}
		if err := saved.WriteJSON(f); err != nil {
			f.Close()
			return 1, err
		}
		if err := f.Close(); err != nil {
			return 1, err
		}
	}
	if len(rep.Failures) > 0 {
		return 3, nil
	}
	return 0, nil
}

// profPath is the profile file of a workload: path itself when one workload is
// profiled, path-<workload> (before the extension) when several are.
func profPath(path, workload string, workloads []string) string {
	if path == "" || len(workloads) < 2 {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + workload + ext
}

// loadavg returns the first three fields of /proc/loadavg, or "" where there is none.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

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

// relativeTo returns path relative to dir when path lies inside dir, and path
// unchanged otherwise.
func relativeTo(dir, path string) string {
	absDir, err1 := filepath.Abs(dir)
	absPath, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return path
	}
	rel, err := filepath.Rel(absDir, absPath)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}
