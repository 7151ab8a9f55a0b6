package postgres

import (
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/datastoretest"
)

// TestConformance runs the shared datastore suite at the database's default isolation
// (READ COMMITTED on PostgreSQL).
func TestConformance(t *testing.T) {
	t.Parallel()
	baseURI(t)
	datastoretest.RunConformance(t, func(t *testing.T, opts datastore.Options) datastore.Datastore {
		s, _ := newTestStore(t, Options{Options: opts})
		return s
	})
}

// TestConformanceSerializable runs the suite again with every transaction at
// SERIALIZABLE, the isolation CockroachDB always uses.
func TestConformanceSerializable(t *testing.T) {
	t.Parallel()
	baseURI(t)
	datastoretest.RunConformance(t, func(t *testing.T, opts datastore.Options) datastore.Datastore {
		s, _ := newTestStore(t, Options{Options: opts, Serializable: true})
		return s
	})
}

// TestDecisionConformance runs the decision log's part of the suite.
func TestDecisionConformance(t *testing.T) {
	t.Parallel()
	baseURI(t)
	datastoretest.RunDecisionConformance(t, func(t *testing.T, opts datastore.Options) datastore.Datastore {
		s, _ := newTestStore(t, Options{Options: opts})
		return s
	})
}

// TestConformanceBulk runs the suite with every write transaction applied by the bulk
// path (COPY into the staging table and one merge), so that path keeps exactly the
// semantics of the row path: touches, deletes, expiry, grants, the change log, the
// relationship count and limit, Watch.
func TestConformanceBulk(t *testing.T) {
	t.Parallel()
	baseURI(t)
	datastoretest.RunConformance(t, func(t *testing.T, opts datastore.Options) datastore.Datastore {
		s, _ := newTestStore(t, Options{Options: opts, BulkWrites: 1})
		return s
	})
}
