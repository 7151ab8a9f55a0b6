// Command pemba-bench-report turns pemba-bench JSON reports into the Markdown tables of
// bench/README.md: one table per report, and the targets checked against the
// reports at one million relationships.
//
//	go run ./bench/cmd/pemba-bench-report bench/results/*.json > table.md
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/pemba-authz/pemba/bench/loadgen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pemba-bench-report:", err)
		os.Exit(1)
	}
}

// report is a pemba-bench report with the dataset's size read back.
type report struct {
	loadgen.Report
	path string
	size uint64
}

func load(path string) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &report{path: path}
	if err := json.Unmarshal(b, &r.Report); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Import != nil {
		r.size = r.Import.Relationships
	} else if r.Memory != nil {
		r.size = r.Memory.Relationships
	}
	return r, nil
}

func run(args []string, w io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: pemba-bench-report RESULT.json...")
	}
	var reps []*report
	for _, p := range args {
		r, err := load(p)
		if err != nil {
			return err
		}
		reps = append(reps, r)
	}
	for _, r := range reps {
		table(w, r)
	}
	targets(w, reps)
	return nil
}

func firstOr(xs []string, def string) string {
	if len(xs) == 0 {
		return def
	}
	return xs[0]
}

func human(n uint64) string {
	switch {
	case n >= 1_000_000 && n%100_000 < 50_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1000:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func (r *report) result(workload string, conc int) *loadgen.Result {
	for i := range r.Results {
		x := &r.Results[i]
		if x.Workload == workload && x.Concurrency == conc && x.Requests > 0 {
			return x
		}
	}
	return nil
}

func (r *report) concurrencies() []int {
	var cs []int
	for _, x := range r.Results {
		if !slices.Contains(cs, x.Concurrency) && x.Workload != "sweep" && x.Requests > 0 {
			cs = append(cs, x.Concurrency)
		}
	}
	slices.Sort(cs)
	return cs
}

func table(w io.Writer, r *report) {
	fmt.Fprintf(w, "#### %s, %s relationships\n\n", r.Label, human(r.size))
	fmt.Fprintf(w, "Machine: %v cpus, load average %v at start, %v at end.", r.Settings["cpus"], r.Settings["loadavg_at_start"], r.Settings["loadavg_at_end"])
	if r.Import != nil {
		fmt.Fprintf(w, " Import: %d relationships in %.1f s = **%.0f/s**.", r.Import.Relationships, r.Import.Seconds, r.Import.PerSecond)
	}
	if s, ok := r.Settings["server_settle_seconds"]; ok {
		fmt.Fprintf(w, " The server went idle %v s after the import, before the first run.", s)
	}
	if m := r.Memory; m != nil && m.AfterSweepBytes > 0 {
		fmt.Fprintf(w, " Server RSS after the sweep: %.0f MiB = **%.0f bytes per relationship** (after the load: %.0f MiB).",
			float64(m.AfterSweepBytes)/(1<<20), m.BytesPerRelationship, float64(m.AfterLoadBytes)/(1<<20))
	}
	fmt.Fprint(w, "\n\n")
	cs := r.concurrencies()
	fmt.Fprint(w, "| workload |")
	for _, c := range cs {
		fmt.Fprintf(w, " c=%d qps | p50 / p99 ms | vs health |", c)
	}
	fmt.Fprintln(w, " errors / mismatches |")
	fmt.Fprint(w, "|---|")
	for range cs {
		fmt.Fprint(w, "--:|--:|--:|")
	}
	fmt.Fprintln(w, "--:|")
	var order []string
	for _, x := range r.Results {
		if !slices.Contains(order, x.Workload) {
			order = append(order, x.Workload)
		}
	}
	for _, name := range order {
		fmt.Fprintf(w, "| %s |", name)
		var errs, mism uint64
		for _, c := range cs {
			x := r.result(name, c)
			if name == "sweep" && x == nil {
				for i := range r.Results {
					if r.Results[i].Workload == "sweep" && r.Results[i].Requests > 0 {
						x = &r.Results[i]
					}
				}
				if x != nil && x.Concurrency != c {
					x = nil
				}
			}
			if x == nil {
				fmt.Fprint(w, " | | |")
				continue
			}
			mism += x.Mismatches
			errs += x.Errors
			if x.Errors == x.Requests {
				fmt.Fprintf(w, " all %d failed | | |", x.Requests)
				continue
			}
			qps := fmt.Sprintf("%.0f", x.QPS)
			if x.Items != x.Requests && x.Requests > 0 {
				qps += fmt.Sprintf(" (%.0f items/s)", x.ItemsPerSecond)
			}
			ratio := ""
			if x.Ratio > 0 {
				ratio = fmt.Sprintf("%.1f%%", 100*x.Ratio)
			}
			fmt.Fprintf(w, " %s | %.2f / %.2f | %s |", qps, x.P50, x.P99, ratio)
		}
		fmt.Fprintf(w, " %d / %d |\n", errs, mism)
	}
	var notes []string
	for _, x := range r.Results {
		if x.Requests == 0 && x.Note != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", x.Workload, x.Note))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "; "))
	}
	fmt.Fprintln(w)
}

// targets checks issue 7's targets against the reports at 1M relationships and
// concurrency 32.
func targets(w io.Writer, reps []*report) {
	var emb, pg *report
	for _, r := range reps {
		if r.size < 900_000 || r.size > 1_100_000 {
			continue
		}
		switch r.Label {
		case "bolt", "memory":
			if emb == nil || r.Label == "bolt" {
				emb = r
			}
		case "postgres":
			pg = r
		}
	}
	fmt.Fprintln(w, "#### Targets (1M relationships, concurrency 32)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | met |")
	fmt.Fprintln(w, "|---|---|:-:|")
	row := func(name, measured string, ok bool) {
		mark := "no"
		if ok {
			mark = "yes"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", name, measured, mark)
	}
	ratio := func(r *report, wl string, min float64, name string) {
		if r == nil {
			row(name, "not measured", false)
			return
		}
		x := r.result(wl, 32)
		if x == nil {
			row(name, "not measured", false)
			return
		}
		row(name, fmt.Sprintf("%.1f%% (%.0f of %.0f qps)", 100*x.Ratio, x.QPS, x.HealthQPS), x.Ratio >= min)
	}
	if emb != nil {
		if x := emb.result("check", 32); x != nil {
			row(fmt.Sprintf("%s: check minimize_latency ≥ 50%% of health", emb.Label), fmt.Sprintf("%.1f%% (%.0f of %.0f qps)", 100*x.Ratio, x.QPS, x.HealthQPS), x.Ratio >= 0.5)
			row(fmt.Sprintf("%s: check minimize_latency p99 ≤ 10 ms", emb.Label), fmt.Sprintf("%.2f ms", x.P99), x.P99 <= 10)
		}
		ratio(emb, "check_full", 0.25, emb.Label+": check fully_consistent ≥ 25%")
		ratio(emb, "check_cached", 0.8, emb.Label+": cached check ≥ 80%")
		for _, c := range []int{1, 32} {
			d2, d16 := emb.result("check_deep2", c), emb.result("check_deep16", c)
			if d2 != nil && d16 != nil {
				f := d2.QPS / d16.QPS
				row(fmt.Sprintf("%s: depth-16 check costs ≤ 1.5× depth-2 (c=%d)", emb.Label, c),
					fmt.Sprintf("%.2f× (%.0f vs %.0f qps; mean %.2f vs %.2f ms; %d and %d distinct questions)", f, d16.QPS, d2.QPS, d16.Mean, d2.Mean, d16.Pool, d2.Pool), f <= 1.5)
			}
		}
		for _, c := range []int{1, 32} {
			if x := emb.result("lookup_resources_10k", c); x != nil {
				name := fmt.Sprintf("%s: LookupResources of ~10k ≤ 100 ms (c=%d, p50 / p99)", emb.Label, c)
				if x.Errors == x.Requests {
					row(name, fmt.Sprintf("all %d requests failed: %s", x.Requests, firstOr(x.ErrorExamples, "?")), false)
				} else {
					row(name, fmt.Sprintf("%.1f / %.1f ms (%d of %d failed)", x.P50, x.P99, x.Errors, x.Requests), x.P50 <= 100 && x.Errors == 0)
				}
			}
		}
		if emb.Import != nil {
			row(emb.Label+": import ≥ 100k/s", fmt.Sprintf("%.0f/s", emb.Import.PerSecond), emb.Import.PerSecond >= 100_000)
		}
		if m := emb.Memory; m != nil && m.BytesPerRelationship > 0 {
			row(emb.Label+": RSS ≤ 300 B per relationship after a sweep", fmt.Sprintf("%.0f B", m.BytesPerRelationship), m.BytesPerRelationship <= 300)
		}
	}
	if pg != nil {
		ratio(pg, "check", 0.25, "postgres: check minimize_latency (warm) ≥ 25%")
		ratio(pg, "check_full", 0.25, "postgres: check fully_consistent ≥ 25%")
		if pg.Import != nil {
			row("postgres: import ≥ 30k/s", fmt.Sprintf("%.0f/s", pg.Import.PerSecond), pg.Import.PerSecond >= 30_000)
		}
	}
	var bad uint64
	for _, r := range reps {
		for _, x := range r.Results {
			bad += x.Mismatches
		}
	}
	row("verified answers: zero mismatches (all runs)", fmt.Sprint(bad), bad == 0)
	fmt.Fprintln(w)
}
