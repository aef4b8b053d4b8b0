package demo

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// prepare checks that PostgreSQL and Redis answer, drops and recreates the
// schema (ResetSchema) and deletes the prefix's keys (ResetRedis).
func prepare(ctx context.Context, o *Options) error {
	conn, err := pgx.Connect(ctx, o.PostgresDSN)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s does not answer (run `make services`): %w", redact(o.PostgresDSN), err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if o.ResetSchema {
		if err := resetSchema(ctx, conn, o.Schema); err != nil {
			return err
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: o.RedisAddr, Password: o.RedisPassword})
	defer func() { _ = rdb.Close() }()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s does not answer (run `make services`): %w", o.RedisAddr, err)
	}
	if !o.ResetRedis {
		return nil
	}
	deleted, err := deleteKeys(ctx, rdb, o.RedisPrefix)
	if err != nil {
		return err
	}
	if o.ResetSchema || deleted > 0 {
		printf(o.Out, "demo:     schema %q recreated empty, %d old %q keys deleted\n", o.Schema, deleted, o.RedisPrefix)
	}
	return nil
}

// resetSchema drops schema with everything in it and creates it empty.
func resetSchema(ctx context.Context, conn *pgx.Conn, schema string) error {
	id := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+id+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+id); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	return nil
}

// deleteKeys deletes every key that starts with prefix, 500 at a time, and
// returns how many there were.
func deleteKeys(ctx context.Context, rdb *redis.Client, prefix string) (int64, error) {
	var deleted int64
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		n, err := rdb.Del(ctx, keys...).Result()
		deleted += n
		keys = keys[:0]
		return err
	}
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			if err := flush(); err != nil {
				return deleted, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return deleted, err
	}
	return deleted, flush()
}
