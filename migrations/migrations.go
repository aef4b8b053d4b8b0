// Package migrations holds the PostgreSQL schema of otelcol-analytics as
// numbered up/down SQL files, embedded in the binary and applied with
// golang-migrate. The schema is created in the first schema of the
// connection's search_path, so one database can hold several installations
// (and every test its own schema).
package migrations

import (
	"embed"
	"errors"
	"fmt"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers the pgx5:// driver
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed *.sql
var files embed.FS

// Up applies every migration not yet applied to the database at dsn (a
// postgres:// URL or key=value DSN as pgx takes it). It is a no-op when the
// schema is current.
func Up(dsn string) error {
	m, err := open(dsn)
	if err != nil {
		return err
	}
	defer closeMigrate(m)
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrations: up: %w", err)
	}
	return nil
}

// Down reverts every migration. Used by tests and by `analyticsctl migrate
// --down`.
func Down(dsn string) error {
	m, err := open(dsn)
	if err != nil {
		return err
	}
	defer closeMigrate(m)
	if err := m.Down(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrations: down: %w", err)
	}
	return nil
}

// To applies or reverts migrations until version is the applied one (0 =
// none). Used by tests of one migration over data of the schema before it.
func To(dsn string, version uint) error {
	m, err := open(dsn)
	if err != nil {
		return err
	}
	defer closeMigrate(m)
	if version == 0 {
		err = m.Down()
	} else {
		err = m.Migrate(version)
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrations: to version %d: %w", version, err)
	}
	return nil
}

// Version reports the applied version and whether a failed migration left
// the schema dirty.
func Version(dsn string) (version uint, dirty bool, err error) {
	m, err := open(dsn)
	if err != nil {
		return 0, false, err
	}
	defer closeMigrate(m)
	v, d, err := m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	return v, d, err
}

func open(dsn string) (*migrate.Migrate, error) {
	src, err := iofs.New(files, ".")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	cfg, err := pgxConnConfig(dsn)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	drv, err := pgx.WithInstance(db, &pgx.Config{MigrationsTable: "analytics_schema_migrations"})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrations: connect: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return m, nil
}

func closeMigrate(m *migrate.Migrate) {
	_, _ = m.Close()
}
