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
