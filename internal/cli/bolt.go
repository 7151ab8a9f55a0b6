package cli

import (
	"errors"

	"github.com/pemba-authz/pemba/internal/datastore"
)

// openBolt opens the embedded store.
func openBolt(dir string, opts datastore.Options) (datastore.Datastore, error) {
	return nil, errors.New("the embedded bolt datastore is not available in this build yet; use --datastore memory or --datastore postgres")
}
