package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// One slow /metrics answer does not end a soak: the reading is tried again, and only
// three failures in a row stop the sampler.
func TestMemorySamplerRetriesASlowReading(t *testing.T) {
	var calls atomic.Int32
	slow := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 2 {
			select { // the second reading answers too late
			case <-slow:
			case <-time.After(2 * time.Second):
			}
		}
		w.Write([]byte("# HELP x\n" + heapMetric + " 1.5e+06\n"))
	}))
	defer srv.Close()
	defer close(slow)
	m := &MemorySampler{PID: os.Getpid(), MetricsAddr: strings.TrimPrefix(srv.URL, "http://"), Every: 10 * time.Millisecond, Timeout: 200 * time.Millisecond}
	samples, err := m.Run(context.Background(), 3)
	if err != nil {
		t.Fatalf("sampler gave up: %v", err)
	}
	if len(samples) != 3 || samples[1].HeapInuseBytes != 1_500_000 {
		t.Fatalf("samples %+v", samples)
	}

	down := &MemorySampler{PID: os.Getpid(), MetricsAddr: "127.0.0.1:1", Every: 10 * time.Millisecond, Timeout: 100 * time.Millisecond}
	if _, err := down.Run(context.Background(), 2); err == nil || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("a server that never answers: %v", err)
	}
}
