package bolt

import (
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/datastoretest"
)

// openTemp opens a store in a fresh temporary directory, closed with the test.
func openTemp(t testing.TB, opts datastore.Options) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	datastoretest.RunConformance(t, func(t *testing.T, opts datastore.Options) datastore.Datastore {
		return openTemp(t, opts)
	})
}
