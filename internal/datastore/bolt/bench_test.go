package bolt

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// Benchmarks for the embedded store. They are run by hand, for example:
//
//	go test -run '^$' -bench . -benchtime 200x ./internal/datastore/bolt/
//
// BenchmarkImport reports relationships per second; the read benchmarks report the
// median (p50-ns) and 99th percentile (p99-ns) latency of single queries;
// BenchmarkImportMillionRSS imports 1,000,000 relationships in a child process and
// reports its peak resident memory (VmHWM from /proc/self/status).

const importBatch = 5000

// benchUsers is how many distinct users the generated relationships name, so reverse
// index inserts land all over the tree, as in a real import.
const benchUsers = 100_000

// benchRel returns relationship i of the generated dataset: four relationships per
// document (three viewers and an editor), subjects spread over benchUsers users.
func benchRel(i int) tuple.Relationship {
	rel := "viewer"
	if i%4 == 3 {
		rel = "editor"
	}
	u := (i*7919 + i/4*104729) % benchUsers
	return tuple.Relationship{
		Resource: tuple.ObjectRef{Type: "document", ID: fmt.Sprintf("doc-%08d", i/4)},
		Relation: rel,
		Subject:  tuple.SubjectRef{Type: "user", ID: fmt.Sprintf("user-%06d", u)},
	}
}

// importRange touches relationships [from, to) in transactions of importBatch.
func importRange(ctx context.Context, s datastore.Datastore, from, to int) error {
	ups := make([]datastore.Update, 0, importBatch)
	for start := from; start < to; start += importBatch {
		ups = ups[:0]
		for i := start; i < min(start+importBatch, to); i++ {
			ups = append(ups, datastore.Update{Op: datastore.OpTouch, Relationship: benchRel(i)})
		}
		if _, err := s.ReadWriteTx(ctx, tuple.DefaultTenant, datastore.TxMetadata{Operation: "import"}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			return tx.WriteRelationships(ctx, ups)
		}); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkImport imports transactions of 5,000 touches into a growing store; one
// iteration is one transaction.
func BenchmarkImport(b *testing.B) {
	s := openTemp(b, datastore.Options{})
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := importRange(ctx, s, i*importBatch, (i+1)*importBatch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*importBatch)/b.Elapsed().Seconds(), "rels/s")
}

// readBenchSize is how many relationships the read benchmarks preload.
const readBenchSize = 200_000

// preloaded returns a store holding readBenchSize relationships. With merged set the
// reverse-index buffer is merged into the file first (the steady state); otherwise
// reverse reads also search the buffer of recent writes.
func preloaded(b *testing.B, merged bool) *Store {
	b.Helper()
	s := openTemp(b, datastore.Options{})
	if err := importRange(context.Background(), s, 0, readBenchSize); err != nil {
		b.Fatal(err)
	}
	if merged {
		s.commitMu.Lock()
		err := s.flushReverse()
		s.commitMu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// latencies runs op b.N times and reports the median and 99th percentile.
func latencies(b *testing.B, op func(i int) int) {
	b.Helper()
	d := make([]time.Duration, b.N)
	found := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		found += op(i)
		d[i] = time.Since(start)
	}
	b.StopTimer()
	if found == 0 {
		b.Fatal("the queries found nothing")
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(found)/float64(b.N), "rels/op")
}

// BenchmarkPointRead looks up one relationship by its full key at a revision: the
// check path's direct lookup.
func BenchmarkPointRead(b *testing.B) {
	s := preloaded(b, true)
	ctx := context.Background()
	r := s.SnapshotReader(tuple.DefaultTenant, readBenchSize/importBatch)
	filters := make([]datastore.RelationshipFilter, 1<<16)
	for i := range filters {
		rel := benchRel((i * 7919) % readBenchSize)
		filters[i] = datastore.RelationshipFilter{ResourceType: rel.Resource.Type, ResourceIDs: []string{rel.Resource.ID}, Relation: rel.Relation,
			Subject: &datastore.SubjectFilter{Type: rel.Subject.Type, IDs: []string{rel.Subject.ID}, Relations: []string{""}}}
	}
	latencies(b, func(i int) int {
		n := 0
		for _, err := range r.QueryRelationships(ctx, filters[i%len(filters)], datastore.QueryOptions{}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		return n
	})
}

// BenchmarkReverseRead lists what one user may view directly at a revision: the
// lookup path's reverse read, with the reverse index merged into the file and with
// all of it still in the buffer of recent writes.
func BenchmarkReverseRead(b *testing.B) {
	for _, merged := range []bool{true, false} {
		b.Run(fmt.Sprintf("merged=%v", merged), func(b *testing.B) {
			s := preloaded(b, merged)
			ctx := context.Background()
			r := s.SnapshotReader(tuple.DefaultTenant, readBenchSize/importBatch)
			users := make([][]string, 1<<16)
			for i := range users {
				users[i] = []string{benchRel((i * 7919) % readBenchSize).Subject.ID}
			}
			latencies(b, func(i int) int {
				n := 0
				for _, err := range r.ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: "user", IDs: users[i%len(users)]},
					datastore.ReverseQueryOptions{ResourceType: "document", Relation: "viewer"}) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				return n
			})
		})
	}
}

// millionRels is the size of the resident-memory benchmark's import.
const millionRels = 1_000_000

// childImport imports millionRels relationships into a fresh store and prints its
// peak resident memory, the file size and the elapsed time.
func childImport(dir string) int {
	buffer, _ := strconv.Atoi(os.Getenv("PEMBA_BOLT_TEST_REVERSE_BUFFER"))
	s, err := Open(dir, Options{ReverseBuffer: buffer})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	// Sample the anonymous (heap) and file-backed (mapped database pages) parts of
	// the resident set while the import runs.
	var peakAnon, peakFile atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if a := procStatus("RssAnon:"); a > peakAnon.Load() {
				peakAnon.Store(a)
			}
			if f := procStatus("RssFile:"); f > peakFile.Load() {
				peakFile.Store(f)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	if err := importRange(context.Background(), s, 0, millionRels); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	// Close merges the buffered reverse-index writes: part of the import's cost.
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 5
	}
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	hwm := procStatus("VmHWM:")
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 6
	}
	fmt.Printf("hwm_kb %d anon_kb %d file_kb %d file_bytes %d seconds %f\n", hwm, peakAnon.Load(), peakFile.Load(), fi.Size(), elapsed.Seconds())
	return 0
}

// procStatus reads a kB field of /proc/self/status.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// BenchmarkImportMillionRSS imports 1,000,000 relationships (transactions of 5,000
// touches) in a child process and reports its peak resident set size. Run it with
// -benchtime 1x.
func BenchmarkImportMillionRSS(b *testing.B) {
	for i := 0; i < b.N; i++ {
		out, err := child("import", b.TempDir(), "PEMBA_BOLT_TEST_REVERSE_BUFFER="+os.Getenv("PEMBA_BOLT_TEST_REVERSE_BUFFER")).Output()
		if err != nil {
			b.Fatalf("import child: %v: %s", err, out)
		}
		var hwm, anon, file, size int64
		var secs float64
		if _, err := fmt.Sscanf(string(out), "hwm_kb %d anon_kb %d file_kb %d file_bytes %d seconds %f", &hwm, &anon, &file, &size, &secs); err != nil {
			b.Fatalf("import child printed %q", out)
		}
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MB")
		b.ReportMetric(float64(anon)/1024, "peak-anon-MB")
		b.ReportMetric(float64(file)/1024, "peak-mapped-file-MB")
		b.ReportMetric(float64(size)/(1<<20), "file-MB")
		b.ReportMetric(millionRels/secs, "rels/s")
	}
}

// BenchmarkBackup copies a store of readBenchSize relationships. "copy" is Backup
// alone, into io.Discard; "file" is what a backup costs end to end, the receiving
// side included: the copy written to a file, synced, checked (CheckFile) and renamed.
// Both report the file's megabytes per second.
func BenchmarkBackup(b *testing.B) {
	s := preloaded(b, true)
	ctx := context.Background()
	var size int64
	backup := func(w io.Writer) error {
		return s.Backup(ctx, w, func(n int64, _ map[string]datastore.Revision) error {
			size = n
			return nil
		})
	}
	b.Run("copy", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := backup(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size)*float64(b.N)/1e6/b.Elapsed().Seconds(), "MB/s")
	})
	b.Run("file", func(b *testing.B) {
		dir := b.TempDir()
		for i := 0; i < b.N; i++ {
			if _, err := WriteSnapshotFile(filepath.Join(dir, "backup.db"), true, backup); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size)*float64(b.N)/1e6/b.Elapsed().Seconds(), "MB/s")
		b.ReportMetric(float64(size)/1e6, "file-MB")
	})
}
