package cli

import (
	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/bolt"
)

// openBolt opens the embedded store in dir, creating it on first use.
func openBolt(dir string, opts datastore.Options) (datastore.Datastore, error) {
	return bolt.Open(dir, bolt.Options{Options: opts})
}
