package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pemba-authz/pemba/internal/datastore/postgres"
)

func newMigrateCommand() *cobra.Command {
	var uri, kind string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the PostgreSQL/CockroachDB schema",
		Long: `Apply the embedded migrations to a PostgreSQL or CockroachDB database, so that
"pemba serve --datastore postgres" can use it. Running it again is harmless.`,
		Example: `  pemba migrate --datastore-uri 'postgres://pemba@127.0.0.1:5432/pemba?sslmode=disable'`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch kind {
			case "postgres", "postgresql", "cockroachdb":
			default:
				return fmt.Errorf("--datastore %q has no migrations: only postgres (PostgreSQL or CockroachDB) is migrated; the embedded and memory stores need none", kind)
			}
			if uri == "" {
				return fmt.Errorf("--datastore-uri (or PEMBA_DATASTORE_URI) is required: the PostgreSQL or CockroachDB connection URI")
			}
			if err := postgres.Migrate(cmd.Context(), uri, cmd.OutOrStdout()); err != nil {
				return fmt.Errorf("migrating: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "datastore", "postgres", "datastore to migrate; only postgres (PostgreSQL or CockroachDB) has migrations")
	cmd.Flags().StringVar(&uri, "datastore-uri", "", "PostgreSQL or CockroachDB connection URI")
	return cmd
}
