package index

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// benchRelationships is the size of the table BenchmarkTableMemory fills.
const benchRelationships = 200_000

// benchRel is relationship i of a B2B-shaped table: members of 2,000 organisations,
// every other one granted by one of each organisation's ten admins through the
// organisation, as delegated administration writes them.
func benchRel(i int) tuple.Relationship {
	org := fmt.Sprintf("org-%d", i%2000)
	r := tuple.Relationship{
		Resource: tuple.ObjectRef{Type: "organization", ID: org},
		Relation: "member",
		Subject:  tuple.SubjectRef{Type: "user", ID: fmt.Sprintf("user-%d", i)},
	}
	if i%2 == 0 {
		r.Granted = &tuple.Grant{
			By:  tuple.SubjectRef{Type: "user", ID: fmt.Sprintf("admin-%d-%d", i%2000, i%10)},
			Via: tuple.ObjectRef{Type: "organization", ID: org},
		}
	}
	return r
}

// BenchmarkTableMemory reports the heap bytes the index holds per relationship for a
// table where half the relationships carry a grant.
func BenchmarkTableMemory(b *testing.B) {
	rels := make([]tuple.Relationship, benchRelationships)
	for i := range rels {
		rels[i] = benchRel(i)
	}
	var perRel float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		t := newTable(0)
		for i := range rels {
			t.insert(rels[i], datastore.Revision(1+i/1000))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perRel = float64(after.HeapAlloc-before.HeapAlloc) / benchRelationships
		runtime.KeepAlive(t)
	}
	b.ReportMetric(perRel, "bytes/rel")
}
