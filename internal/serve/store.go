package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/datastore/bolt"
	"github.com/pemba-authz/pemba/internal/datastore/memory"
	"github.com/pemba-authz/pemba/internal/datastore/postgres"
)

// storeKind normalises a --datastore value: "bolt", "memory" or "postgres" (which
// PostgreSQL and CockroachDB share), or "" when it names none of them.
func storeKind(name string) string {
	switch strings.ToLower(name) {
	case "bolt":
		return "bolt"
	case "memory":
		return "memory"
	case "postgres", "postgresql", "cockroachdb":
		return "postgres"
	}
	return ""
}

// openStore opens the configured store.
func openStore(ctx context.Context, cfg Config) (datastore.Datastore, error) {
	opts := cfg.storeOptions()
	switch storeKind(cfg.Datastore) {
	case "memory":
		return memory.New(opts), nil
	case "bolt":
		return bolt.Open(cfg.DatastorePath, bolt.Options{Options: opts})
	case "postgres":
		if cfg.DatastoreURI == "" {
			return nil, errors.New("--datastore postgres needs --datastore-uri (or PEMBA_DATASTORE_URI)")
		}
		return postgres.New(ctx, cfg.DatastoreURI, postgres.Options{Options: opts})
	}
	return nil, fmt.Errorf("--datastore %q is not one of bolt, memory, postgres", cfg.Datastore)
}

// Migrate applies the embedded migrations of the named store to the database at uri,
// reporting progress to out. Only PostgreSQL/CockroachDB has migrations.
func Migrate(ctx context.Context, kind, uri string, out io.Writer) error {
	if storeKind(kind) != "postgres" {
		return fmt.Errorf("--datastore %q has no migrations: only postgres (PostgreSQL or CockroachDB) is migrated; the embedded and memory stores need none", kind)
	}
	if uri == "" {
		return fmt.Errorf("--datastore-uri (or PEMBA_DATASTORE_URI) is required: the PostgreSQL or CockroachDB connection URI")
	}
	if err := postgres.Migrate(ctx, uri, out); err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	return nil
}
