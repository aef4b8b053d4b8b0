package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/otelcol-analytics/otelcol-analytics/migrations"
)

// runMigrate: `migrate` applies every migration not yet applied; `--down`
// (with `--yes`) reverts them all; `--version` prints the applied version.
func runMigrate(_ context.Context, o *Options, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("migrate", o, stderr)
	down := fs.Bool("down", false, "revert every migration: DROPS ALL analytics tables and their data (needs --yes)")
	yes := fs.Bool("yes", false, "confirm --down")
	version := fs.Bool("version", false, "print the applied schema version and whether it is dirty, change nothing")
	if err := parse(fs, o, args); err != nil {
		return ExitError, err
	}
	if *down && *version {
		return ExitError, errors.New("--down and --version exclude each other")
	}
	switch {
	case *version:
	case *down:
		if !*yes {
			return ExitError, errors.New("--down drops every analytics table and all its data; add --yes to confirm")
		}
		if err := migrations.Down(o.PostgresDSN); err != nil {
			return ExitError, err
		}
		printLine(stdout, "migrate: every migration reverted")
	default:
		if err := migrations.Up(o.PostgresDSN); err != nil {
			return ExitError, err
		}
	}
	v, dirty, err := migrations.Version(o.PostgresDSN)
	if err != nil {
		return ExitError, fmt.Errorf("read version: %w", err)
	}
	switch {
	case dirty:
		printf(stdout, "migrate: version %d (dirty: a migration failed half-way; fix the schema by hand, then force the version)\n", v)
		return ExitError, nil
	case v == 0:
		printLine(stdout, "migrate: no migration applied")
	default:
		printf(stdout, "migrate: version %d\n", v)
	}
	return ExitOK, nil
}
