package index

import (
	"flag"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/datastoretest"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
)

// TestConformance runs the shared store suite through the index: whatever the index
// answers from memory must be what the store itself would answer.
func TestConformance(t *testing.T) {
	var served atomic.Int64
	t.Cleanup(func() {
		// Only the whole suite is sure to ask queries the index serves.
		if served.Load() == 0 && flag.Lookup("test.run").Value.String() == "" {
			t.Error("the index answered no query during the suite")
		}
		t.Logf("index answered %d queries", served.Load())
	})
	datastoretest.RunConformance(t, func(t *testing.T, opts datastore.Options) datastore.Datastore {
		s := New(memory.New(opts), Options{Now: opts.Now, CatchUpWait: time.Second})
		t.Cleanup(func() {
			st := s.Stats()
			served.Add(st.Served)
			_ = s.Close()
		})
		return s
	})
}
