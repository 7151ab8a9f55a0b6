package memory

import (
	"testing"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/datastoretest"
)

func TestConformance(t *testing.T) {
	datastoretest.RunConformance(t, func(t *testing.T, opts datastore.Options) datastore.Datastore {
		return New(opts)
	})
}

func TestDecisionConformance(t *testing.T) {
	datastoretest.RunDecisionConformance(t, func(t *testing.T, opts datastore.Options) datastore.Datastore {
		return New(opts)
	})
}
