// Package loadgen drives a running Pemba server over gRPC with the workloads of the
// benchmark suite: it loads a dataset through ImportRelationships, runs each workload
// at a fixed concurrency for a bounded time and count, records latencies in bounded
// memory, verifies every answer against the dataset's oracle, and reports each
// workload's throughput as a ratio of the same server's gRPC health-check throughput
// at the same concurrency (the transport's limit).
//
// It only talks to loopback addresses unless told otherwise, and every loop it runs
// ends by itself (a duration and, optionally, a request count bound every run).
package loadgen
