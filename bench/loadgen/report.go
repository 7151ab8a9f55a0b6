package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Result is one workload run at one concurrency. Latencies are in milliseconds and
// cover successful requests.
type Result struct {
	Workload       string  `json:"workload"`
	Concurrency    int     `json:"concurrency"`
	Requests       uint64  `json:"requests"`
	Items          uint64  `json:"items"`
	Errors         uint64  `json:"errors"`
	Mismatches     uint64  `json:"mismatches"`
	Seconds        float64 `json:"seconds"`
	QPS            float64 `json:"qps"`
	ItemsPerSecond float64 `json:"items_per_second"`
	P50            float64 `json:"p50_ms"`
	P95            float64 `json:"p95_ms"`
	P99            float64 `json:"p99_ms"`
	Max            float64 `json:"max_ms"`
	Mean           float64 `json:"mean_ms"`
	// HealthQPS is the health-check throughput at the same concurrency; Ratio is
	// QPS / HealthQPS.
	HealthQPS        float64  `json:"health_qps,omitempty"`
	Ratio            float64  `json:"ratio_to_health,omitempty"`
	Pool             int      `json:"distinct_queries,omitempty"`
	Note             string   `json:"note,omitempty"`
	ErrorExamples    []string `json:"error_examples,omitempty"`
	MismatchExamples []string `json:"mismatch_examples,omitempty"`
}

// ImportResult reports the dataset load.
type ImportResult struct {
	Relationships uint64  `json:"relationships"`
	Seconds       float64 `json:"seconds"`
	PerSecond     float64 `json:"relationships_per_second"`
}

// MemoryResult reports the server's resident memory.
type MemoryResult struct {
	PID                    int     `json:"pid"`
	AfterLoadBytes         uint64  `json:"rss_after_load_bytes,omitempty"`
	AfterSweepBytes        uint64  `json:"rss_after_sweep_bytes,omitempty"`
	Relationships          uint64  `json:"relationships"`
	BytesPerRelationship   float64 `json:"rss_bytes_per_relationship_after_sweep,omitempty"`
	BytesPerRelationshipLd float64 `json:"rss_bytes_per_relationship_after_load,omitempty"`
}

// Report is everything one invocation measured.
type Report struct {
	// Label names the setup, e.g. the server's datastore.
	Label     string         `json:"label,omitempty"`
	Target    string         `json:"target"`
	Dataset   any            `json:"dataset"`
	Import    *ImportResult  `json:"import,omitempty"`
	Results   []Result       `json:"results"`
	Memory    *MemoryResult  `json:"memory,omitempty"`
	Soak      *SoakResult    `json:"soak,omitempty"`
	Profiles  []string       `json:"profiles,omitempty"`
	Failures  []string       `json:"failures,omitempty"`
	Settings  map[string]any `json:"settings"`
	StartedAt string         `json:"started_at"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the human summary.
func (r *Report) WriteTable(w io.Writer) error {
	if la, ok := r.Settings["loadavg_at_start"]; ok {
		fmt.Fprintf(w, "machine: %v cpus, load average %v at start, %v at end\n", r.Settings["cpus"], la, r.Settings["loadavg_at_end"])
	}
	if r.Import != nil {
		fmt.Fprintf(w, "import: %d relationships in %.1fs = %.0f relationships/s\n", r.Import.Relationships, r.Import.Seconds, r.Import.PerSecond)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tconc\trequests\tqps\titems/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\terrors\tmismatches\tvs health\t")
	for _, x := range r.Results {
		ratio := "-"
		if x.Ratio > 0 {
			ratio = fmt.Sprintf("%.1f%%", 100*x.Ratio)
		}
		items := "-"
		if x.Items != x.Requests {
			items = fmt.Sprintf("%.0f", x.ItemsPerSecond)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%s\t\n",
			x.Workload, x.Concurrency, x.Requests, x.QPS, items, x.P50, x.P95, x.P99, x.Max, x.Errors, x.Mismatches, ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, x := range r.Results {
		for _, e := range x.ErrorExamples {
			fmt.Fprintf(w, "  %s c=%d error: %s\n", x.Workload, x.Concurrency, e)
		}
		for _, m := range x.MismatchExamples {
			fmt.Fprintf(w, "  %s c=%d MISMATCH: %s\n", x.Workload, x.Concurrency, m)
		}
		if x.Note != "" {
			fmt.Fprintf(w, "  %s c=%d: %s\n", x.Workload, x.Concurrency, x.Note)
		}
	}
	if m := r.Memory; m != nil {
		fmt.Fprintf(w, "server memory (pid %d): after load %s", m.PID, mib(m.AfterLoadBytes))
		if m.AfterSweepBytes > 0 {
			fmt.Fprintf(w, ", after sweep %s = %.0f bytes per relationship", mib(m.AfterSweepBytes), m.BytesPerRelationship)
		}
		fmt.Fprintln(w)
	}
	if r.Soak != nil {
		r.Soak.writeSummary(w)
	}
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "profile: %s\n", p)
	}
	if len(r.Failures) > 0 {
		fmt.Fprintf(w, "FAILED: %s\n", strings.Join(r.Failures, "; "))
	}
	return nil
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
