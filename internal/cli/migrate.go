package cli

import (
	"github.com/spf13/cobra"

	"github.com/pemba-authz/pemba/internal/serve"
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
			return serve.Migrate(cmd.Context(), kind, uri, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&kind, "datastore", "postgres", "datastore to migrate; only postgres (PostgreSQL or CockroachDB) has migrations")
	cmd.Flags().StringVar(&uri, "datastore-uri", "", "PostgreSQL or CockroachDB connection URI")
	return cmd
}
