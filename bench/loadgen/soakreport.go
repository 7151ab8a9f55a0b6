package loadgen

import (
	"fmt"
	"io"
)

// SoakResult is what a soak measured: the load it ran at, what every request did,
// and the server's memory over time with its verdict.
type SoakResult struct {
	Seconds     float64 `json:"seconds"`
	Concurrency int     `json:"concurrency"`
	// PeakQPS is the unpaced throughput of the same mix measured just before (0 when
	// the rate was given); Rate is the pace the soak ran at.
	PeakQPS      float64 `json:"peak_qps,omitempty"`
	PeakFraction float64 `json:"peak_fraction,omitempty"`
	Rate         float64 `json:"rate"`
	AchievedQPS  float64 `json:"achieved_qps"`
	Requests     uint64  `json:"requests"`
	Checks       uint64  `json:"checks"`
	Writes       uint64  `json:"writes"`
	Lookups      uint64  `json:"lookups"`
	Errors       uint64  `json:"errors"`
	Mismatches   uint64  `json:"mismatches"`
	// SampleSeconds is the interval between memory samples.
	SampleSeconds float64        `json:"sample_seconds"`
	Memory        MemoryVerdict  `json:"memory"`
	Samples       []MemorySample `json:"samples"`
	// Pass is true when no request failed, every answer matched the oracle and the
	// memory stayed flat (or the run was too short to judge it, which Memory says).
	Pass bool `json:"pass"`
}

// writeSummary prints the soak's lines of the human report.
func (s *SoakResult) writeSummary(w io.Writer) {
	peak := "given"
	if s.PeakQPS > 0 {
		peak = fmt.Sprintf("%.0f%% of a measured peak of %.0f/s", 100*s.PeakFraction, s.PeakQPS)
	}
	fmt.Fprintf(w, "soak: %.0fs at %.0f requests/s (%s), concurrency %d: achieved %.0f/s\n", s.Seconds, s.Rate, peak, s.Concurrency, s.AchievedQPS)
	if s.AchievedQPS < 0.9*s.Rate {
		// A late worker starts its next request at once, so only answers slower
		// than the workers can carry leave the pace behind.
		fmt.Fprintf(w, "soak: note: the run kept %.0f%% of the pace only: its workers were all waiting on the server\n", 100*s.AchievedQPS/s.Rate)
	}
	fmt.Fprintf(w, "soak: %d requests (%d checks, %d writes each verified by an at_least_as_fresh check, %d lookups): %d errors, %d mismatches\n",
		s.Requests, s.Checks, s.Writes, s.Lookups, s.Errors, s.Mismatches)
	m := s.Memory
	fmt.Fprintf(w, "soak memory: %d samples every %.0fs, %d after a warm-up of %.0fs\n", len(s.Samples), s.SampleSeconds, m.Samples, m.WarmupSeconds)
	if m.Samples > 0 {
		fmt.Fprintf(w, "soak memory: RSS first %s, last %s, min %s, max %s, median %s: drift %.2f%%, growth first to last %+.2f%%\n",
			mib(m.FirstBytes), mib(m.LastBytes), mib(m.MinBytes), mib(m.MaxBytes), mib(m.MedianBytes), m.DriftPct, m.GrowthPct)
	}
	if m.HeapMaxBytes > 0 {
		fmt.Fprintf(w, "soak memory: Go heap in use first %s, last %s, max %s\n", mib(m.HeapFirstBytes), mib(m.HeapLastBytes), mib(m.HeapMaxBytes))
	}
	switch {
	case !m.Judged:
		fmt.Fprintf(w, "soak memory: not judged (fewer than %d samples after the warm-up)\n", MinJudgedSamples)
	case m.Pass:
		fmt.Fprintf(w, "soak memory: flat (%s)\n", m.Rule)
	default:
		fmt.Fprintf(w, "soak memory: NOT FLAT (%s)\n", m.Rule)
	}
	verdict := "PASS"
	if !s.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "soak: %s\n", verdict)
}
