// Package ctl is the logic of analyticsctl, the operator's command-line tool:
// migrate the PostgreSQL schema, verify that the Redis counters equal the
// PostgreSQL rollups (and the rollups the raw events), rebuild the Redis
// counters of a period from PostgreSQL, and replay rejected events through
// the current catalog. cmd/analyticsctl is a thin main around Run, the argv
// front end; Verify is verify as a Go function with a typed result.
package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// Exit codes of Run.
const (
	ExitOK          = 0 // success; verify: Redis equals PostgreSQL
	ExitDifferences = 1 // verify found differences
	ExitError       = 2 // bad usage, a backend unreachable, a refused rebuild, any other failure
)

// Options are the settings every subcommand shares. Each has a flag and an
// environment variable (the flag wins).
type Options struct {
	PostgresDSN   string        // --postgres-dsn, ANALYTICS_POSTGRES_DSN
	RedisAddr     string        // --redis-addr, ANALYTICS_REDIS_ADDR; several comma-separated addresses = Redis Cluster
	RedisDB       int           // --redis-db, ANALYTICS_REDIS_DB
	RedisUsername string        // --redis-username, ANALYTICS_REDIS_USERNAME
	RedisPassword string        // --redis-password, ANALYTICS_REDIS_PASSWORD
	KeyPrefix     string        // --key-prefix, ANALYTICS_REDIS_PREFIX
	Timezone      string        // --timezone, ANALYTICS_TIMEZONE (business time zone)
	DailyTTL      time.Duration // --daily-ttl, ANALYTICS_REDIS_DAILY_TTL
	MonthlyTTL    time.Duration // --monthly-ttl, ANALYTICS_REDIS_MONTHLY_TTL
	ClaimTTL      time.Duration // --claim-ttl, ANALYTICS_REDIS_CLAIM_TTL
	CatalogFile   string        // --catalog, ANALYTICS_CATALOG_FILE
	CatalogMode   string        // --catalog-mode, ANALYTICS_CATALOG_MODE: extend (default) or replace
}

// Env looks up an environment variable (os.Getenv in main; a map in tests).
type Env func(key string) string

// DefaultOptions returns the defaults overridden by the environment.
func DefaultOptions(getenv Env) (Options, error) {
	o := Options{
		// The analytics exporter's defaults (internal/counters); a
		// monthly hash never expires.
		PostgresDSN: counters.DefaultPostgresDSN,
		RedisAddr:   counters.DefaultRedisAddr,
		KeyPrefix:   counters.DefaultPrefix,
		Timezone:    counters.DefaultTimeZone,
		DailyTTL:    counters.DefaultDailyTTL,
		ClaimTTL:    counters.DefaultClaimTTL,
		CatalogMode: "extend",
	}
	if getenv == nil {
		return o, nil
	}
	var errs []error
	str := func(key string, dst *string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	dur := func(key string, dst *time.Duration) {
		if v := getenv(key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", key, err))
				return
			}
			*dst = d
		}
	}
	str("ANALYTICS_POSTGRES_DSN", &o.PostgresDSN)
	str("ANALYTICS_REDIS_ADDR", &o.RedisAddr)
	if v := getenv("ANALYTICS_REDIS_DB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ANALYTICS_REDIS_DB: %w", err))
		}
		o.RedisDB = n
	}
	str("ANALYTICS_REDIS_USERNAME", &o.RedisUsername)
	str("ANALYTICS_REDIS_PASSWORD", &o.RedisPassword)
	str("ANALYTICS_REDIS_PREFIX", &o.KeyPrefix)
	str("ANALYTICS_TIMEZONE", &o.Timezone)
	dur("ANALYTICS_REDIS_DAILY_TTL", &o.DailyTTL)
	dur("ANALYTICS_REDIS_MONTHLY_TTL", &o.MonthlyTTL)
	dur("ANALYTICS_REDIS_CLAIM_TTL", &o.ClaimTTL)
	str("ANALYTICS_CATALOG_FILE", &o.CatalogFile)
	str("ANALYTICS_CATALOG_MODE", &o.CatalogMode)
	return o, errors.Join(errs...)
}

// register adds the common flags to fs, defaulting to o's current values.
func (o *Options) register(fs *flag.FlagSet) {
	fs.Var(secret{&o.PostgresDSN, redactDSN}, "postgres-dsn", "PostgreSQL `dsn`, a postgres:// URL or key=value string (env ANALYTICS_POSTGRES_DSN)")
	fs.StringVar(&o.RedisAddr, "redis-addr", o.RedisAddr, "Redis host:port; comma-separated addresses for Redis Cluster (env ANALYTICS_REDIS_ADDR)")
	fs.IntVar(&o.RedisDB, "redis-db", o.RedisDB, "Redis database number (env ANALYTICS_REDIS_DB)")
	fs.StringVar(&o.RedisUsername, "redis-username", o.RedisUsername, "Redis ACL user name (env ANALYTICS_REDIS_USERNAME)")
	fs.Var(secret{&o.RedisPassword, func(string) string { return "" }}, "redis-password", "Redis `password` (env ANALYTICS_REDIS_PASSWORD)")
	fs.StringVar(&o.KeyPrefix, "key-prefix", o.KeyPrefix, "prefix of every Redis key (env ANALYTICS_REDIS_PREFIX)")
	fs.StringVar(&o.Timezone, "timezone", o.Timezone, "business time zone that cuts days and months (env ANALYTICS_TIMEZONE)")
	fs.DurationVar(&o.DailyTTL, "daily-ttl", o.DailyTTL, "expiry of the daily Redis hashes, this long after the day has ended (not renewed by writes); rebuild and replay-rejected do not write a day past it, verify does not compare it; 0 = never (env ANALYTICS_REDIS_DAILY_TTL)")
	fs.DurationVar(&o.MonthlyTTL, "monthly-ttl", o.MonthlyTTL, "TTL of the monthly Redis hashes; 0 = never (env ANALYTICS_REDIS_MONTHLY_TTL)")
	fs.DurationVar(&o.ClaimTTL, "claim-ttl", o.ClaimTTL, "minimum age of a leftover outbox claim before the collector's claim sweep deletes it (claims have no TTL); analyticsctl's commands do not sweep (env ANALYTICS_REDIS_CLAIM_TTL)")
	fs.StringVar(&o.CatalogFile, "catalog", o.CatalogFile, "custom catalog YAML file, as the eventcatalog processor's catalog.file (env ANALYTICS_CATALOG_FILE)")
	fs.StringVar(&o.CatalogMode, "catalog-mode", o.CatalogMode, "extend (the file's events are added to the built-in ones) or replace (env ANALYTICS_CATALOG_MODE)")
}

// secret is a string flag whose value is shown redacted in usage output (a
// default taken from the environment may hold a password).
type secret struct {
	p      *string
	redact func(string) string
}

func (s secret) String() string {
	if s.p == nil {
		return ""
	}
	return s.redact(*s.p)
}

func (s secret) Set(v string) error {
	*s.p = v
	return nil
}

// redactDSN hides the password of a postgres:// URL; a key=value DSN is
// shown only when it has no password.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	if strings.Contains(dsn, "password") {
		return "(set)"
	}
	return dsn
}

// Layout is the Redis key layout the options describe.
func (o Options) Layout() counters.Layout {
	return counters.Layout{Prefix: o.KeyPrefix, DailyTTL: o.DailyTTL, MonthlyTTL: o.MonthlyTTL, ClaimTTL: o.ClaimTTL}
}

// Location loads the business time zone.
func (o Options) Location() (*time.Location, error) {
	loc, err := time.LoadLocation(o.Timezone)
	if err != nil {
		return nil, fmt.Errorf("--timezone %q: %w", o.Timezone, err)
	}
	return loc, nil
}

// Catalog is the built-in catalog, extended or replaced by --catalog.
func (o Options) Catalog() (*catalog.Catalog, error) {
	def := catalog.Default()
	switch o.CatalogMode {
	case "extend", "replace":
	default:
		return nil, fmt.Errorf("--catalog-mode %q: want extend or replace", o.CatalogMode)
	}
	if o.CatalogFile == "" {
		return def, nil
	}
	c, err := catalog.Load(o.CatalogFile)
	if err != nil {
		return nil, err
	}
	if o.CatalogMode == "replace" {
		return c, nil
	}
	return def.Extend(c), nil
}

func (o Options) validate() error {
	var errs []error
	if o.PostgresDSN == "" {
		errs = append(errs, errors.New("--postgres-dsn is empty"))
	}
	if o.RedisAddr == "" {
		errs = append(errs, errors.New("--redis-addr is empty"))
	}
	if o.KeyPrefix == "" {
		errs = append(errs, errors.New("--key-prefix is empty"))
	}
	if o.DailyTTL < 0 || o.MonthlyTTL < 0 || o.ClaimTTL < 0 {
		errs = append(errs, errors.New("--daily-ttl, --monthly-ttl and --claim-ttl must not be negative"))
	}
	return errors.Join(errs...)
}

// connectPostgres opens a small pool and checks that PostgreSQL answers.
func (o Options) connectPostgres(ctx context.Context) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(o.PostgresDSN)
	if err != nil {
		return nil, fmt.Errorf("--postgres-dsn: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres at %s:%d does not answer: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// connectRedis opens a client (a cluster client for several addresses) and
// checks that Redis answers.
func (o Options) connectRedis(ctx context.Context) (redis.UniversalClient, error) {
	var addrs []string
	for a := range strings.SplitSeq(o.RedisAddr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	uo := &redis.UniversalOptions{Addrs: addrs, DB: o.RedisDB, Username: o.RedisUsername, Password: o.RedisPassword}
	if len(addrs) > 1 {
		uo.IsClusterMode = true
	}
	rdb := counters.NewClient(uo)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis at %s does not answer: %w", o.RedisAddr, err)
	}
	return rdb, nil
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, o *Options, args []string, stdout, stderr io.Writer) (int, error)
}

var commands = []command{
	{"migrate", "apply the PostgreSQL schema migrations (--down reverts them, --version prints the version)", runMigrate},
	{"verify", "compare the Redis counters with the PostgreSQL rollups and the rollups with the raw events", runVerify},
	{"rebuild", "rewrite the Redis counters of a period from the PostgreSQL rollups", runRebuild},
	{"replay-rejected", "run rejected events through the current catalog again and store those that now pass", runReplay},
}

func usage(w io.Writer) {
	printLine(w, "usage: analyticsctl [common flags] <command> [flags]")
	printLine(w, "\ncommands:")
	for _, c := range commands {
		printf(w, "  %-16s %s\n", c.name, c.summary)
	}
	printLine(w, "\ncommon flags (also accepted after the command):")
	o, _ := DefaultOptions(nil)
	fs := flag.NewFlagSet("analyticsctl", flag.ContinueOnError)
	fs.SetOutput(w)
	o.register(fs)
	fs.PrintDefaults()
	printLine(w, "\n`analyticsctl <command> -h` lists a command's own flags.")
}

// Run runs analyticsctl with args (without the program name) and returns the
// process exit code. Output goes to stdout, errors and usage to stderr.
func Run(ctx context.Context, args []string, getenv Env, stdout, stderr io.Writer) int {
	o, err := DefaultOptions(getenv)
	if err != nil {
		printLine(stderr, "analyticsctl:", err)
		return ExitError
	}
	global := flag.NewFlagSet("analyticsctl", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	o.register(global)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return ExitOK
		}
		printLine(stderr, "analyticsctl:", err)
		usage(stderr)
		return ExitError
	}
	rest := global.Args()
	if len(rest) == 0 {
		usage(stderr)
		return ExitError
	}
	name := rest[0]
	if name == "help" {
		usage(stdout)
		return ExitOK
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		out := &reportWriter{w: stdout}
		code, err := c.run(ctx, &o, rest[1:], out, stderr)
		if err == nil && out.err != nil {
			err = fmt.Errorf("write the output: %w", out.err)
		}
		var ue usageError
		switch {
		case errors.Is(err, flag.ErrHelp):
			return ExitOK
		case errors.As(err, &ue):
			return ExitError // the flag package has printed it with the usage
		case err != nil:
			printf(stderr, "analyticsctl %s: %v\n", name, err)
			if code == ExitOK {
				code = ExitError
			}
		}
		return code
	}
	printf(stderr, "analyticsctl: unknown command %q\n", name)
	usage(stderr)
	return ExitError
}

// reportWriter is the stdout Run gives a command. It keeps the first write
// error, which Run reports, so that a command whose output was lost (a full
// disk, say) does not exit 0.
type reportWriter struct {
	w   io.Writer
	err error
}

func (r *reportWriter) Write(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.w.Write(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// printf and printLine print where a write error is either checked later (a
// command's stdout is a *reportWriter, checked by Run) or has nowhere to be
// reported (stderr, and the usage text).
func printf(w io.Writer, format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }

func printLine(w io.Writer, a ...any) { _, _ = fmt.Fprintln(w, a...) }

// newFlagSet returns the flag set of a subcommand with the common flags.
func newFlagSet(name string, o *Options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("analyticsctl "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	o.register(fs)
	return fs
}

// usageError is a flag error the flag package has already printed.
type usageError struct{ error }

// parse parses a subcommand's flags; extra positional arguments are errors.
func parse(fs *flag.FlagSet, o *Options, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o.validate()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
