package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// ResidentMemory reads VmRSS of process pid from /proc, in bytes.
func ResidentMemory(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the server's memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(v)
			if len(fields) != 2 || fields[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
			}
			kb, err := strconv.ParseUint(fields[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
			}
			return kb * 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("process %d reports no VmRSS", pid)
}

// Profiler fetches profiles from the server's pprof endpoint (pemba serve
// --pprof-addr), which must be on loopback.
type Profiler struct {
	Addr   string
	client http.Client
}

// NewProfiler checks addr and returns a profiler for it.
func NewProfiler(addr string, allowRemote bool) (*Profiler, error) {
	if err := CheckTarget("--pprof-addr", addr, allowRemote); err != nil {
		return nil, err
	}
	return &Profiler{Addr: addr}, nil
}

// fetch saves the body of a pprof URL to path.
func (p *Profiler) fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("fetching %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// CPU records a CPU profile of the server for d into path. It blocks for d.
func (p *Profiler) CPU(ctx context.Context, d time.Duration, path string) error {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	return p.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.Addr, secs), path)
}

// Heap saves the server's heap profile into path.
func (p *Profiler) Heap(ctx context.Context, path string) error {
	return p.fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/heap", p.Addr), path)
}
