package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pemba-authz/pemba/bench/dataset"
	"github.com/pemba-authz/pemba/bench/loadgen"
)

// options are the command's flags as given.
type options struct {
	target, key, tenant, schemaPath    string
	allowRemote, skipLoad              bool
	importBatch                        int
	workloads, concurrency             string
	duration, sweepDuration, reqTO     time.Duration
	count                              int64
	conns, pool, pageSize, lookupBatch int
	jsonPath, label                    string
	pprofAddr, cpuProfile, heapProf    string
	profWorkload                       string
	profConc                           int
	serverPID                          int
	pairedHealth                       time.Duration
	soak                               soakOptions
}

// soakOptions are the flags of the soak mode (--soak).
type soakOptions struct {
	duration, peakDuration, sample, warmup time.Duration
	rate, fraction                         float64
	metricsAddr                            string
}

// parse reads the flags; the dataset's own flags come back as their FlagValues.
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
	fs.IntVar(&o.lookupBatch, "lookup-batch", 500, "lookup results per stream message (batch_size; 0 asks for one result per message)")
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
	fs.DurationVar(&o.soak.duration, "soak", 0, "run the soak instead of the workloads: the mixed read/write load for this long, paced at --soak-fraction of its peak (0: off)")
	fs.Float64Var(&o.soak.rate, "soak-rate", 0, "pace of the soak in requests/s (0: measure the mix's peak for --soak-peak-duration and take --soak-fraction of it)")
	fs.DurationVar(&o.soak.peakDuration, "soak-peak-duration", 30*time.Second, "length of the unpaced run that measures the soak mix's peak")
	fs.Float64Var(&o.soak.fraction, "soak-fraction", 0.5, "fraction of the measured peak the soak runs at")
	fs.DurationVar(&o.soak.sample, "soak-sample", 10*time.Second, "interval between samples of the server's memory during the soak")
	fs.DurationVar(&o.soak.warmup, "soak-warmup", 0, "samples before this are left out of the flat-memory verdict (0: a tenth of --soak, at least 2m)")
	fs.StringVar(&o.soak.metricsAddr, "metrics-addr", "", "the server's HTTP address (pemba serve --http-addr), whose /metrics gives the Go heap in use during the soak")
	dp := dataset.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected argument %q (all options are flags)", fs.Arg(0))
	}
	return o, dp, nil
}

// parseConcurrency reads the comma-separated --concurrency levels.
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

// selectWorkloads picks the --workloads by name, in the order they always run.
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

// plan is what the flags ask for, checked: the levels, workloads and bounds of the
// runs, the profiles to take and the dataset to load.
type plan struct {
	concs   []int
	wls     []loadgen.Workload
	bounds  loadgen.Bounds
	prof    *loadgen.Profiler // nil when no profile is asked for
	profWLs []string
	params  dataset.Params
	model   *dataset.Model
}

// check turns the flags into a plan, refusing (before anything is contacted) a
// target off loopback and flags that would not bound a run.
func (o *options) check(dp *dataset.FlagValues) (*plan, error) {
	if err := loadgen.CheckTarget("--target", o.target, o.allowRemote); err != nil {
		return nil, err
	}
	p := &plan{profWLs: strings.Split(o.profWorkload, ",")}
	var err error
	if p.concs, err = parseConcurrency(o.concurrency); err != nil {
		return nil, err
	}
	if p.wls, err = selectWorkloads(o.workloads); err != nil {
		return nil, err
	}
	p.bounds = loadgen.Bounds{Duration: o.duration, Count: o.count, RequestTimeout: o.reqTO}
	if err := p.bounds.Validate(); err != nil {
		return nil, err
	}
	if o.lookupBatch < 0 || o.lookupBatch > 1000 {
		return nil, fmt.Errorf("--lookup-batch %d: want 0 to 1000", o.lookupBatch)
	}
	if o.pool < 1 || o.pageSize < 1 || o.conns < 1 {
		return nil, fmt.Errorf("--pool, --page-size and --conns must be at least 1")
	}
	if o.pairedHealth < 0 || o.pairedHealth > 30*time.Minute {
		return nil, fmt.Errorf("--paired-health %s: must be from 0 to 30m", o.pairedHealth)
	}
	if o.cpuProfile != "" || o.heapProf != "" {
		if o.pprofAddr == "" {
			return nil, fmt.Errorf("--cpuprofile and --heapprofile need --pprof-addr (start the server with pemba serve --pprof-addr 127.0.0.1:6060)")
		}
		if p.prof, err = loadgen.NewProfiler(o.pprofAddr, o.allowRemote); err != nil {
			return nil, err
		}
	}
	for _, n := range p.profWLs {
		if n != "import" && !slices.Contains(loadgen.WorkloadNames(), n) {
			return nil, fmt.Errorf("--profile-workload: unknown workload %q (known: import, %s)", n, strings.Join(loadgen.WorkloadNames(), ", "))
		}
	}
	if err := o.soak.check(o.serverPID, o.allowRemote); err != nil {
		return nil, err
	}
	if o.profConc == 0 {
		o.profConc = slices.Max(p.concs)
	}
	if p.params, err = dp.Resolve(); err != nil {
		return nil, err
	}
	if p.model, err = dataset.NewModel(p.params); err != nil {
		return nil, err
	}
	return p, nil
}
