package testdb

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGPair is a PostgreSQL primary and a hot standby of the test's own: a
// fresh cluster (initdb) on a free port, and a streaming replica of it made
// by pg_basebackup -R on another free port. Both live in one temp dir and
// are stopped (pg_ctl stop -m immediate) and removed when the test ends.
// fsync is off in both (a test cluster; its data is thrown away).
type PGPair struct {
	// PrimaryDSN and StandbyDSN reach database "test" of each (no
	// search_path: public schema).
	PrimaryDSN, StandbyDSN string
	PrimaryPort            int
	StandbyPort            int
	// BinDir holds initdb, pg_ctl, pg_basebackup (…/postgresql/<v>/bin).
	BinDir string
	dir    string
	tb     testing.TB
	asPG   bool // run the binaries as the postgres OS user (we are root)
}

// PostgresBinDir finds the newest /usr/lib/postgresql/<version>/bin that
// holds initdb ("" if none).
func PostgresBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// StartPGPair makes the primary (wal_level=replica, replication allowed
// from 127.0.0.1 without a password), creates database "test", takes a base
// backup into the standby's directory and starts it as a hot standby, and
// waits until the standby has replayed everything the primary wrote. A
// missing binary skips the test, naming it. PostgreSQL refuses to run as
// root: as root the binaries run as the postgres OS user (runuser).
func StartPGPair(tb testing.TB) *PGPair {
	tb.Helper()
	bin := PostgresBinDir()
	if bin == "" {
		tb.Skip("testdb: no PostgreSQL server binaries: /usr/lib/postgresql/<version>/bin/initdb is missing (apt-get install postgresql)")
	}
	for _, b := range []string{"initdb", "pg_ctl", "pg_basebackup", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			tb.Skipf("testdb: %s is missing: %v", filepath.Join(bin, b), err)
		}
	}
	p := &PGPair{BinDir: bin, tb: tb, asPG: os.Geteuid() == 0}
	if p.asPG {
		if _, err := exec.LookPath("runuser"); err != nil {
			tb.Skipf("testdb: runuser is missing (needed to run PostgreSQL as the postgres user, since we are root): %v", err)
		}
		if _, err := user.Lookup("postgres"); err != nil {
			tb.Skipf("testdb: no postgres OS user to run PostgreSQL as (we are root): %v", err)
		}
	}
	dir, err := os.MkdirTemp("", "testdb-pgpair-")
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	p.dir = dir
	tb.Cleanup(p.stop)
	if p.asPG {
		p.run("chown", nil, "root", "postgres:postgres", dir)
	}
	p.PrimaryPort, p.StandbyPort = freePort(tb), freePort(tb)
	primary, standby := p.dataDir("primary"), p.dataDir("standby")

	p.pg("initdb", "-D", primary, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	p.appendFile(filepath.Join(primary, "postgresql.conf"), fmt.Sprintf(
		"\n# testdb.StartPGPair\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"+
			"wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\nmax_connections = 100\n",
		p.PrimaryPort, dir))
	p.appendFile(filepath.Join(primary, "pg_hba.conf"),
		"\n# testdb.StartPGPair\nhost replication postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n")
	p.pg("pg_ctl", "-D", primary, "-l", filepath.Join(dir, "primary.log"), "-w", "-t", "60", "start")

	p.PrimaryDSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/test?sslmode=disable", p.PrimaryPort)
	p.StandbyDSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/test?sslmode=disable", p.StandbyPort)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, strings.Replace(p.PrimaryDSN, "/test?", "/postgres?", 1))
	if err != nil {
		tb.Fatalf("testdb: connect the primary: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE test"); err != nil {
		tb.Fatalf("testdb: create database test: %v", err)
	}
	_ = conn.Close(ctx)

	p.pg("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(p.PrimaryPort), "-U", "postgres",
		"-D", standby, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
	p.appendFile(filepath.Join(standby, "postgresql.conf"), fmt.Sprintf("\n# standby\nport = %d\n", p.StandbyPort))
	p.pg("pg_ctl", "-D", standby, "-l", filepath.Join(dir, "standby.log"), "-w", "-t", "60", "start")

	var rec bool
	sc := p.connect(ctx, p.StandbyDSN)
	if err := sc.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&rec); err != nil || !rec {
		tb.Fatalf("testdb: the standby is not in recovery (in recovery %v): %v", rec, err)
	}
	_ = sc.Close(ctx)
	if _, err := p.WaitReplayed(ctx, time.Minute); err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	return p
}

func (p *PGPair) dataDir(name string) string { return filepath.Join(p.dir, name) }

// run runs a command (as user, when p runs as root and user is "postgres")
// and fails the test with its output when it fails.
func (p *PGPair) run(name string, env []string, as string, args ...string) {
	p.tb.Helper()
	full := append([]string{name}, args...)
	if as == "postgres" && p.asPG {
		full = append([]string{"runuser", "-u", "postgres", "--"}, full...)
	}
	cmd := exec.Command(full[0], full[1:]...) //nolint:gosec // test harness
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = p.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		p.tb.Fatalf("testdb: %s: %v\n%s%s", strings.Join(full, " "), err, out, p.logTail())
	}
}

// pg runs one of BinDir's programs as the postgres user.
func (p *PGPair) pg(prog string, args ...string) {
	p.tb.Helper()
	p.run(filepath.Join(p.BinDir, prog), []string{"PGHOST=" + p.dir}, "postgres", args...)
}

func (p *PGPair) appendFile(path, text string) {
	p.tb.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0) //nolint:gosec // test harness
	if err != nil {
		p.tb.Fatalf("testdb: %v", err)
	}
	if _, err := f.WriteString(text); err != nil {
		p.tb.Fatalf("testdb: %v", err)
	}
	if err := f.Close(); err != nil {
		p.tb.Fatalf("testdb: %v", err)
	}
}

func (p *PGPair) logTail() string {
	var b strings.Builder
	for _, l := range []string{"primary.log", "standby.log"} {
		data, err := os.ReadFile(filepath.Join(p.dir, l)) //nolint:gosec // test harness
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "\n--- %s (last lines)\n%s", l, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}

func (p *PGPair) connect(ctx context.Context, dsn string) *pgx.Conn {
	p.tb.Helper()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		p.tb.Fatalf("testdb: connect %s: %v%s", dsn, err, p.logTail())
	}
	return c
}

// WaitReplayed waits until the standby has replayed the primary's WAL up
// to the primary's current position (read when it is called) and returns
// how long that took.
func (p *PGPair) WaitReplayed(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	pc, err := pgx.Connect(ctx, p.PrimaryDSN)
	if err != nil {
		return 0, fmt.Errorf("connect the primary: %w", err)
	}
	var lsn string
	err = pc.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn)
	_ = pc.Close(ctx)
	if err != nil {
		return 0, fmt.Errorf("pg_current_wal_lsn: %w", err)
	}
	sc, err := pgx.Connect(ctx, p.StandbyDSN)
	if err != nil {
		return 0, fmt.Errorf("connect the standby: %w", err)
	}
	defer func() { _ = sc.Close(context.Background()) }()
	deadline := start.Add(timeout)
	for {
		var done bool
		var at *string
		if err := sc.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false), pg_last_wal_replay_lsn()::text", lsn).Scan(&done, &at); err != nil {
			return 0, fmt.Errorf("pg_last_wal_replay_lsn: %w", err)
		}
		if done {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the standby has replayed up to %v, not %s, after %s", at, lsn, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PauseReplay stops the standby applying WAL (pg_wal_replay_pause; it
// still receives it) and waits until the pause has taken effect.
func (p *PGPair) PauseReplay(ctx context.Context) {
	p.tb.Helper()
	sc := p.connect(ctx, p.StandbyDSN)
	defer func() { _ = sc.Close(context.Background()) }()
	if _, err := sc.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		p.tb.Fatalf("testdb: pg_wal_replay_pause: %v", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var state string
		if err := sc.QueryRow(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state); err != nil {
			p.tb.Fatalf("testdb: pg_get_wal_replay_pause_state: %v", err)
		}
		if state == "paused" {
			return
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("testdb: replay pause state %q after 30s", state)
		}
	}
}

// ResumeReplay lets the standby apply WAL again.
func (p *PGPair) ResumeReplay(ctx context.Context) {
	p.tb.Helper()
	sc := p.connect(ctx, p.StandbyDSN)
	defer func() { _ = sc.Close(context.Background()) }()
	if _, err := sc.Exec(ctx, "SELECT pg_wal_replay_resume()"); err != nil {
		p.tb.Fatalf("testdb: pg_wal_replay_resume: %v", err)
	}
}

func (p *PGPair) stop() {
	for _, d := range []string{"standby", "primary"} {
		if _, err := os.Stat(filepath.Join(p.dataDir(d), "postmaster.pid")); err != nil {
			continue
		}
		args := []string{filepath.Join(p.BinDir, "pg_ctl"), "-D", p.dataDir(d), "-m", "immediate", "-w", "stop"}
		if p.asPG {
			args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
		}
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil { //nolint:gosec // test harness
			p.tb.Errorf("testdb: stop the %s: %v\n%s", d, err, out)
		}
	}
	if err := os.RemoveAll(p.dir); err != nil {
		p.tb.Errorf("testdb: remove %s: %v", p.dir, err)
	}
}

// String implements fmt.Stringer.
func (p *PGPair) String() string {
	return fmt.Sprintf("PostgreSQL primary 127.0.0.1:%d, hot standby 127.0.0.1:%d (%s)", p.PrimaryPort, p.StandbyPort, p.BinDir)
}
