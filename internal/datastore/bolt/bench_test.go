package bolt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
		if _, err := s.ReadWriteTx(ctx, datastore.DefaultTenant, datastore.TxMetadata{Operation: "import"}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
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

func preloaded(b *testing.B) *Store {
	b.Helper()
	s := openTemp(b, datastore.Options{})
	if err := importRange(context.Background(), s, 0, readBenchSize); err != nil {
		b.Fatal(err)
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
	s := preloaded(b)
	ctx := context.Background()
	r := s.SnapshotReader(datastore.DefaultTenant, readBenchSize/importBatch)
	latencies(b, func(i int) int {
		rel := benchRel((i * 7) % readBenchSize)
		f := datastore.RelationshipFilter{ResourceType: rel.Resource.Type, ResourceIDs: []string{rel.Resource.ID}, Relation: rel.Relation,
			Subject: &datastore.SubjectFilter{Type: rel.Subject.Type, IDs: []string{rel.Subject.ID}, Relations: []string{""}}}
		n := 0
		for _, err := range r.QueryRelationships(ctx, f, datastore.QueryOptions{}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		return n
	})
}

// BenchmarkReverseRead lists what one user may view directly at a revision: the
// lookup path's reverse read.
func BenchmarkReverseRead(b *testing.B) {
	s := preloaded(b)
	ctx := context.Background()
	r := s.SnapshotReader(datastore.DefaultTenant, readBenchSize/importBatch)
	latencies(b, func(i int) int {
		rel := benchRel((i * 7) % readBenchSize)
		n := 0
		for _, err := range r.ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: "user", IDs: []string{rel.Subject.ID}},
			datastore.ReverseQueryOptions{ResourceType: "document", Relation: "viewer"}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		return n
	})
}

// millionRels is the size of the resident-memory benchmark's import.
const millionRels = 1_000_000

// childImport imports millionRels relationships into a fresh store and prints its
// peak resident memory, the file size and the elapsed time.
func childImport(dir string) int {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	start := time.Now()
	if err := importRange(context.Background(), s, 0, millionRels); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	elapsed := time.Since(start)
	hwm, rss := procStatus("VmHWM:"), procStatus("VmRSS:")
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 5
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 6
	}
	fmt.Printf("hwm_kb %d rss_kb %d file_bytes %d seconds %f\n", hwm, rss, fi.Size(), elapsed.Seconds())
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
		out, err := child("import", b.TempDir()).Output()
		if err != nil {
			b.Fatalf("import child: %v: %s", err, out)
		}
		var hwm, rss, size int64
		var secs float64
		if _, err := fmt.Sscanf(string(out), "hwm_kb %d rss_kb %d file_bytes %d seconds %f", &hwm, &rss, &size, &secs); err != nil {
			b.Fatalf("import child printed %q", out)
		}
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MB")
		b.ReportMetric(float64(size)/(1<<20), "file-MB")
		b.ReportMetric(millionRels/secs, "rels/s")
	}
}
