package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// benchRel is the i-th relationship of a B2B-shaped data set: documents in folders,
// viewers drawn from 10,000 users, every tenth grant to a group's members.
func benchRel(i int) tuple.Relationship {
	r := tuple.Relationship{
		Resource: tuple.ObjectRef{Type: "document", ID: fmt.Sprintf("doc-%07d", i/4)},
		Relation: "viewer",
		Subject:  tuple.SubjectRef{Type: "user", ID: fmt.Sprintf("user-%05d", (i*7919)%10000)},
	}
	if i%10 == 9 {
		r.Subject = tuple.SubjectRef{Type: "group", ID: fmt.Sprintf("group-%04d", i%1000), Relation: "member"}
	}
	return r
}

// importRels writes relationships [from, to) with touch semantics in transactions of
// batch updates, as an import does.
func importRels(tb testing.TB, s *Store, from, to, batch int) {
	tb.Helper()
	ctx := context.Background()
	ups := make([]datastore.Update, 0, batch)
	flush := func() {
		if len(ups) == 0 {
			return
		}
		if _, err := s.ReadWriteTx(ctx, "default", datastore.TxMetadata{Principal: "bench", Operation: "import"}, func(ctx context.Context, tx datastore.ReadWriteTx) error {
			return tx.WriteRelationships(ctx, ups)
		}); err != nil {
			tb.Fatal(err)
		}
		ups = ups[:0]
	}
	for i := from; i < to; i++ {
		ups = append(ups, datastore.Update{Op: datastore.OpTouch, Relationship: benchRel(i)})
		if len(ups) == batch {
			flush()
		}
	}
	flush()
}

// importPaths are the two ways a large write transaction is applied, as
// Options.BulkWrites chooses them.
var importPaths = []struct {
	name string
	bulk int
}{{"bulk", 0}, {"rows", -1}}

// BenchmarkImport measures import throughput: b.N relationships in transactions of
// 5,000 (the write path's import batch), into a store that already holds 100,000,
// through the bulk path (COPY and merge) and the row path. reimport touches b.N
// relationships the store already holds, as resuming an import does.
func BenchmarkImport(b *testing.B) {
	for _, path := range importPaths {
		b.Run(path.name, func(b *testing.B) {
			s, _ := newTestStore(b, Options{MaxConns: 8, BulkWrites: path.bulk})
			const existing = 100_000
			importRels(b, s, 0, existing, 5000)
			b.ResetTimer()
			start := time.Now()
			importRels(b, s, existing, existing+b.N, 5000)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rels/s")
		})
	}
}

// BenchmarkReimport measures an import of b.N relationships that are all stored
// already (a resumed or repeated import: every write is a touch of a live key).
func BenchmarkReimport(b *testing.B) {
	for _, path := range importPaths {
		b.Run(path.name, func(b *testing.B) {
			s, _ := newTestStore(b, Options{MaxConns: 8, BulkWrites: path.bulk})
			importRels(b, s, 0, b.N, 5000)
			b.ResetTimer()
			start := time.Now()
			importRels(b, s, 0, b.N, 5000)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rels/s")
		})
	}
}

// readFixture is a store holding n relationships, shared by the read benchmarks.
func readFixture(b *testing.B, n int) *Store {
	s, _ := newTestStore(b, Options{MaxConns: 8})
	importRels(b, s, 0, n, 5000)
	if _, err := s.Pool().Exec(context.Background(), "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkReads measures reads at a revision on 200,000 relationships: a point read
// (one relationship by its full key, as a check's leaf does), a resource read (every
// viewer of one document) and a reverse read (everything one user is a viewer of, as
// lookups walk).
func BenchmarkReads(b *testing.B) {
	s := readFixture(b, 200_000)
	ctx := context.Background()
	head, err := s.HeadRevision(ctx, "default")
	if err != nil {
		b.Fatal(err)
	}
	r := s.SnapshotReader("default", head)
	count := func(b *testing.B, seq func(func(tuple.Relationship, error) bool)) int {
		n := 0
		for _, err := range seq {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		return n
	}
	b.Run("point", func(b *testing.B) {
		i := 0
		for b.Loop() {
			rel := benchRel((i * 104729) % 200_000)
			i++
			f := datastore.RelationshipFilter{
				ResourceType: rel.Resource.Type, ResourceIDs: []string{rel.Resource.ID}, Relation: rel.Relation,
				Subject: &datastore.SubjectFilter{Type: rel.Subject.Type, IDs: []string{rel.Subject.ID}, Relations: []string{rel.Subject.Relation}},
			}
			if n := count(b, r.QueryRelationships(ctx, f, datastore.QueryOptions{})); n != 1 {
				b.Fatalf("point read of %s found %d", rel, n)
			}
		}
	})
	b.Run("resource", func(b *testing.B) {
		i := 0
		for b.Loop() {
			rel := benchRel((i * 104729) % 200_000)
			i++
			f := datastore.RelationshipFilter{ResourceType: "document", ResourceIDs: []string{rel.Resource.ID}, Relation: "viewer"}
			if n := count(b, r.QueryRelationships(ctx, f, datastore.QueryOptions{})); n == 0 {
				b.Fatalf("no viewers of %s", rel.Resource)
			}
		}
	})
	b.Run("reverse", func(b *testing.B) {
		i := 0
		for b.Loop() {
			k := (i * 104729) % 200_000
			i++
			if k%10 == 9 {
				k-- // a group grant; take the user grant before it
			}
			sf := datastore.SubjectFilter{Type: "user", IDs: []string{benchRel(k).Subject.ID}}
			if n := count(b, r.ReverseQueryRelationships(ctx, sf, datastore.ReverseQueryOptions{ResourceType: "document", Relation: "viewer"})); n == 0 {
				b.Fatal("reverse read found nothing")
			}
		}
	})
	b.Run("point-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				rel := benchRel((i * 104729) % 200_000)
				i++
				f := datastore.RelationshipFilter{ResourceType: rel.Resource.Type, ResourceIDs: []string{rel.Resource.ID}, Relation: rel.Relation,
					Subject: &datastore.SubjectFilter{Type: rel.Subject.Type, IDs: []string{rel.Subject.ID}}}
				if n := count(b, r.QueryRelationships(ctx, f, datastore.QueryOptions{})); n != 1 {
					b.Fatalf("point read found %d", n)
				}
			}
		})
	})
}
