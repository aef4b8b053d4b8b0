package migrations

import (
	"fmt"

	"github.com/jackc/pgx/v5"
)

func pgxConnConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("migrations: invalid PostgreSQL DSN: %w", err)
	}
	return cfg, nil
}
