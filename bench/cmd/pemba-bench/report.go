package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
)

// finish adds the failures only the whole invocation shows: profiles asked for but
// never taken, and answers that differ from the oracle.
func (b *bench) finish() {
	for _, name := range b.profWLs {
		if b.prof != nil && !b.profiled[name] {
			b.fail("no run of workload %s at concurrency %d was profiled", name, b.o.profConc)
		}
	}
	var mismatches uint64
	for _, r := range b.rep.Results {
		mismatches += r.Mismatches
	}
	if mismatches > 0 {
		b.fail("%d answers differ from the oracle", mismatches)
	}
	b.rep.Settings["loadavg_at_end"] = loadavg()
}

// writeReport prints the report's table and, with --json, writes it as JSON.
func (b *bench) writeReport(stdout io.Writer) error {
	if err := b.rep.WriteTable(stdout); err != nil {
		return err
	}
	if b.o.jsonPath == "" {
		return nil
	}
	f, err := os.Create(b.o.jsonPath)
	if err != nil {
		return err
	}
	// The report names its profiles relative to itself, so it can be moved,
	// committed or shared without naming this machine's directories.
	saved := *b.rep
	saved.Profiles = make([]string, len(b.rep.Profiles))
	for i, p := range b.rep.Profiles {
		saved.Profiles[i] = relativeTo(filepath.Dir(b.o.jsonPath), p)
	}
	if err := saved.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadavg returns the first three fields of /proc/loadavg, or "" where there is none.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// relativeTo returns path relative to dir when path lies inside dir, and path
// unchanged otherwise.
func relativeTo(dir, path string) string {
	absDir, err1 := filepath.Abs(dir)
	absPath, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return path
	}
	rel, err := filepath.Rel(absDir, absPath)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}
