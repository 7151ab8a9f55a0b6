package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"testing/fstest"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	"github.com/golang-migrate/migrate/v4/database/cockroachdb"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

const (
	migrationsDir = "migrations"
	// migrationsTable records the applied version. It is named for Pemba so a database
	// shared with other tools keeps their version tables apart.
	migrationsTable = "pemba_schema_migrations"
	// lockTable is the migration lock on CockroachDB, which has no advisory locks.
	lockTable = "pemba_schema_lock"
)

// SchemaVersion is the migration version this build of Pemba needs.
var SchemaVersion = mustLatestVersion()

func mustLatestVersion() uint {
	v, err := latestVersion(migrationFiles)
	if err != nil {
		panic(err)
	}
	return v
}

// latestVersion is the highest version among the embedded up-migrations.
func latestVersion(fsys fs.FS) (uint, error) {
	entries, err := fs.ReadDir(fsys, migrationsDir)
	if err != nil {
		return 0, err
	}
	var latest uint
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".up.sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		if !ok {
			return 0, fmt.Errorf("migration file %s has no version prefix", name)
		}
		v, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("migration file %s: %w", name, err)
		}
		latest = max(latest, uint(v))
	}
	return latest, nil
}

// Migrate brings the database at uri to the schema version this build needs. It is
// idempotent: an up-to-date database is left alone. Progress is written to log (nil
// discards it). Several processes may run it at once; the migration library's lock
// lets one apply the migrations while the others wait (PostgreSQL) or fail with a
// clear error (CockroachDB).
func Migrate(ctx context.Context, uri string, log io.Writer) error {
	return migrateTo(ctx, uri, log, SchemaVersion)
}

// migrateTo migrates up or down to version target (0 undoes every migration). Pemba
// only ever migrates up to SchemaVersion; tests use the other targets.
func migrateTo(ctx context.Context, uri string, log io.Writer, target uint) error {
	if log == nil {
		log = io.Discard
	}
	cfg, err := pgx.ParseConfig(uri)
	if err != nil {
		return fmt.Errorf("datastore URI: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect to %s: %w", describeURI(cfg), classifyErr(err))
	}
	cockroach, err := isCockroach(ctx, db)
	if err != nil {
		return classifyErr(err)
	}

	var (
		drv   database.Driver
		fsys  fs.FS = migrationFiles
		label       = "PostgreSQL"
	)
	if cockroach {
		label = "CockroachDB"
		if fsys, err = cockroachMigrations(migrationFiles); err != nil {
			return err
		}
		drv, err = cockroachdb.WithInstance(db, &cockroachdb.Config{MigrationsTable: migrationsTable, LockTable: lockTable})
	} else {
		drv, err = pgxmigrate.WithInstance(db, &pgxmigrate.Config{MigrationsTable: migrationsTable})
	}
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", classifyErr(err))
	}
	src, err := iofs.New(fsys, migrationsDir)
	if err != nil {
		return fmt.Errorf("read embedded migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pemba", drv)
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	defer m.Close()
	m.Log = &migrateLog{w: log}

	// Read without the migration lock: another process may be migrating right now
	// (the version is then marked dirty until it finishes), so only a newer version
	// is refused here; m.Up takes the lock and judges a dirty version itself.
	before, _, err := m.Version()
	switch {
	case errors.Is(err, migrate.ErrNilVersion):
		before = 0
	case err != nil:
		return fmt.Errorf("read schema version: %w", classifyErr(err))
	}
	if before > SchemaVersion {
		return fmt.Errorf("database schema is at version %d, newer than this build of Pemba understands (%d): upgrade Pemba", before, SchemaVersion)
	}

	// The library has no context parameter; a cancelled ctx asks it to stop between
	// migrations.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			select {
			case m.GracefulStop <- true:
			default:
			}
		case <-done:
		}
	}()

	fmt.Fprintf(log, "%s schema at version %d, this build needs %d\n", label, before, SchemaVersion)
	switch {
	case target == SchemaVersion:
		err = m.Up()
	case target == 0:
		err = m.Down()
	default:
		err = m.Migrate(target)
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		var dirty migrate.ErrDirty
		if errors.As(err, &dirty) {
			return fmt.Errorf("database schema is marked dirty at version %d: a migration failed part-way; repair the database by hand, then set the version in table %s (see docs/postgres.md)", dirty.Version, migrationsTable)
		}
		return fmt.Errorf("apply migrations: %w", classifyErr(err))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(log, "%s schema is at version %d\n", label, target)
	return nil
}

// migrateLog forwards the migration library's progress lines.
type migrateLog struct{ w io.Writer }

func (l *migrateLog) Printf(format string, v ...any) { fmt.Fprintf(l.w, format, v...) }
func (l *migrateLog) Verbose() bool                  { return false }

// isCockroach reports whether the server is CockroachDB.
func isCockroach(ctx context.Context, db *sql.DB) (bool, error) {
	var v string
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&v); err != nil {
		return false, err
	}
	return strings.Contains(v, "CockroachDB"), nil
}

// cockroachMigrations returns the migrations with every COLLATE "C" clause removed.
// CockroachDB compares strings byte-wise already (what "C" means) and refuses the
// clause in a column definition, so this is the one dialect difference in the SQL.
func cockroachMigrations(src fs.FS) (fs.FS, error) {
	out := fstest.MapFS{}
	entries, err := fs.ReadDir(src, migrationsDir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := path.Join(migrationsDir, e.Name())
		b, err := fs.ReadFile(src, name)
		if err != nil {
			return nil, err
		}
		out[name] = &fstest.MapFile{Data: []byte(strings.ReplaceAll(string(b), ` COLLATE "C"`, ""))}
	}
	return out, nil
}

// schemaVersion reads the applied migration version without changing anything; 0
// means no migration has run.
func schemaVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (version uint, dirty bool, err error) {
	var v int64
	err = q.QueryRow(ctx, "SELECT version, dirty FROM "+migrationsTable+" LIMIT 1").Scan(&v, &dirty)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table
		return 0, false, nil
	case err != nil:
		return 0, false, err
	}
	return uint(v), dirty, nil
}

// describeURI names the database a URI points at without its password.
func describeURI(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}
