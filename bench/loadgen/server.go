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

// clockTicks is the unit of the CPU times in /proc/<pid>/stat (USER_HZ), 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// ServerCPU reads the user plus system CPU time process pid has used, from /proc.
func ServerCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the server's CPU time: %w", err)
	}
	// The command name (field 2) may hold spaces; the fields after it are plain.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state (field 3) ... utime (14) and stime (15).
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	var ticks uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// WaitIdle waits until process pid uses less than 5% of a core over one second, or
// until max has passed, and returns how long it waited. Work a server does after an
// import (flushing buffers, collecting garbage, warming caches) would otherwise be
// measured as part of whatever runs first, the health baseline included.
func WaitIdle(ctx context.Context, pid int, max time.Duration) (time.Duration, error) {
	start := time.Now()
	prev, err := ServerCPU(pid)
	if err != nil {
		return 0, err
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for time.Since(start) < max {
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-t.C:
		}
		cur, err := ServerCPU(pid)
		if err != nil {
			return time.Since(start), err
		}
		if cur-prev < 50*time.Millisecond {
			return time.Since(start), nil
		}
		prev = cur
	}
	return time.Since(start), nil
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
