package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
	"time"
)

// While it serves, Run holds the Go runtime to MemoryLimitRatio of MemoryLimit, and
// puts the previous limit back when it returns.
func TestRunSetsTheMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	cfg := DefaultConfig()
	cfg.Datastore = "memory"
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.MemoryLimit = 1 << 30
	cfg.MemoryLimitRatio = 0.5
	cfg.ShutdownGrace = 5 * time.Second

	logs, lines := io.Pipe()
	log := slog.New(slog.NewJSONHandler(lines, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, log)
		lines.Close()
	}()
	var logged float64
	serving := false
	sc := bufio.NewScanner(logs)
	for !serving && sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line["msg"] {
		case "memory limit set":
			logged, _ = line["bytes"].(float64)
		case "serving":
			serving = true
		}
	}
	go io.Copy(io.Discard, logs)
	if !serving {
		t.Fatalf("Run did not report serving: %v", <-done)
	}
	if got := debug.SetMemoryLimit(-1); got != 512<<20 {
		t.Errorf("the runtime's memory limit while serving is %d, want %d (half of 1 GiB)", got, 512<<20)
	}
	if logged != 512<<20 {
		t.Errorf("the log reported a limit of %v bytes, want %d", logged, 512<<20)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("after Run the memory limit is %d, want the previous %d", got, before)
	}
}
