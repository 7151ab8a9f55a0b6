// Package fairness measures how well Pemba's quotas keep tenants apart: a load that
// calls at a steady rate and records its latencies, and a benchmark
// (BenchmarkNoisyTenant) in which one tenant drives ten times its rate quota against
// a real `pemba serve` while another tenant's checks are timed.
//
// The noisy tenant's load runs in a process of its own, as a separate client would:
// in one process its goroutines would queue in the same Go scheduler as the measured
// ones and measure the load generator rather than the server.
package fairness
