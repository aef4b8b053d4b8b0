package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// A run's places of its own: PostgreSQL schemas and a Redis key prefix,
// made at the start and removed at the end, like internal/testdb does for
// tests.

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// createSchema creates schema in the database of baseDSN and returns a DSN
// whose search_path is that schema.
func createSchema(ctx context.Context, baseDSN, schema string) (string, error) {
	conn, err := pgx.Connect(ctx, baseDSN)
	if err != nil {
		return "", fmt.Errorf("loadgen: PostgreSQL at %s does not answer: %w", baseDSN, err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return "", fmt.Errorf("loadgen: create schema %s: %w", schema, err)
	}
	return testdb.WithSearchPath(baseDSN, schema), nil
}

// dropSchema drops schema and everything in it.
func dropSchema(baseDSN, schema string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseDSN)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

// schemaExists reports whether schema is in the database of baseDSN.
func schemaExists(ctx context.Context, baseDSN, schema string) (bool, error) {
	conn, err := pgx.Connect(ctx, baseDSN)
	if err != nil {
		return false, err
	}
	defer func() { _ = conn.Close(ctx) }()
	var ok bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&ok)
	return ok, err
}

// deletePrefix deletes every key of rdb that starts with prefix and
// returns how many it deleted.
func deletePrefix(rdb redis.UniversalClient, prefix string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keys, err := prefixKeys(ctx, rdb, prefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for len(keys) > 0 {
		m := min(len(keys), 500)
		if err := rdb.Del(ctx, keys[:m]...).Err(); err != nil {
			return n, err
		}
		n += m
		keys = keys[m:]
	}
	return n, nil
}

// prefixKeys lists the keys that start with prefix.
func prefixKeys(ctx context.Context, rdb redis.UniversalClient, prefix string) ([]string, error) {
	var keys []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	return keys, iter.Err()
}
