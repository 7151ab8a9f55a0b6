package bolt

import (
	"fmt"
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/datastoretest"
)

// openTemp opens a store in a fresh temporary directory, closed with the test.
func openTemp(t testing.TB, opts datastore.Options) *Store {
	t.Helper()
	return openTempWith(t, Options{Options: opts})
}

func openTempWith(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestConformance runs the suite with reverse-index writes merged into the file after
// every few entries (so reads see part of the reverse index in
// the file and part in the overlay), and at the default size (so nearly everything
// stays in the overlay).
func TestConformance(t *testing.T) {
	for _, buffer := range []int{7, DefaultReverseBuffer} {
		t.Run(fmt.Sprintf("ReverseBuffer=%d", buffer), func(t *testing.T) {
			datastoretest.RunConformance(t, func(t *testing.T, opts datastore.Options) datastore.Datastore {
				return openTempWith(t, Options{Options: opts, ReverseBuffer: buffer})
			})
		})
	}
}

func TestDecisionConformance(t *testing.T) {
	datastoretest.RunDecisionConformance(t, func(t *testing.T, opts datastore.Options) datastore.Datastore {
		return openTempWith(t, Options{Options: opts})
	})
}
