package serve

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
)

// DefaultMemoryLimitRatio is the share of --memory-limit given to the Go runtime as its
// soft limit. The rest is left for memory the runtime does not count: the embedded
// store's mapped file pages, thread stacks outside Go, the kernel's own accounting.
const DefaultMemoryLimitRatio = 0.9

// memoryLimit returns the soft limit serve should set on the Go runtime, in bytes, and
// where it comes from; zero means serve sets none (the runtime then keeps whatever
// GOMEMLIMIT says, or no limit).
func memoryLimit(limit int64, ratio float64) (int64, error) {
	if limit < 0 {
		return 0, fmt.Errorf("--memory-limit %d is negative: give the memory the process may use (e.g. 2Gi) or 0 for none", limit)
	}
	if ratio <= 0 || ratio > 1 || math.IsNaN(ratio) {
		return 0, fmt.Errorf("--memory-limit-ratio %v is not in (0, 1]: it is the share of --memory-limit the Go heap may grow to", ratio)
	}
	if limit == 0 {
		return 0, nil
	}
	soft := int64(float64(limit) * ratio)
	if soft < minMemoryLimit {
		return 0, fmt.Errorf("--memory-limit %d bytes × --memory-limit-ratio %v is %d bytes, under the %d MiB the server needs to run", limit, ratio, soft, minMemoryLimit>>20)
	}
	return soft, nil
}

// minMemoryLimit refuses a limit so small that the collector would run without pause:
// a server with an empty store already holds tens of MiB.
const minMemoryLimit = 64 << 20

// applyMemoryLimit sets the Go runtime's soft memory limit from the configuration and
// returns a function that puts back the previous one (Run may be called in a test
// process). With no --memory-limit it leaves GOMEMLIMIT, which the runtime reads at
// start, in force, and says so.
func applyMemoryLimit(soft int64, log *slog.Logger) (restore func()) {
	env, hasEnv := os.LookupEnv("GOMEMLIMIT")
	if soft == 0 {
		if hasEnv {
			log.Info("memory limit from GOMEMLIMIT", "gomemlimit", env, "bytes", debug.SetMemoryLimit(-1))
		}
		return func() {}
	}
	if hasEnv {
		log.Warn("--memory-limit overrides GOMEMLIMIT", "gomemlimit", env)
	}
	prev := debug.SetMemoryLimit(soft)
	log.Info("memory limit set", "bytes", soft, "mib", soft>>20)
	return func() { debug.SetMemoryLimit(prev) }
}
