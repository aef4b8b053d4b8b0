package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

// TestBenchSmoke is `make bench-e2e` made small, as a check that the
// harness works (no timing is asserted): the built binary with the default
// configuration, 10,000 events over OTLP/HTTP and 10,000 over OTLP gRPC
// (20,000 in all) in the sustained phase, a short fixed-rate phase, the raw
// COPY baseline; zero loss, zero duplicates, every report field filled,
// everything cleaned up. `make test` sets OTELCOL_ANALYTICS_BIN.
func TestBenchSmoke(t *testing.T) {
	t.Parallel()
	bin := os.Getenv("OTELCOL_ANALYTICS_BIN")
	if bin == "" {
		t.Skip("OTELCOL_ANALYTICS_BIN is not set: run `make test`, which builds bin/otelcol-analytics with ocb and runs this smoke run of the bench-e2e harness")
	}
	config, err := filepath.Abs(filepath.Join("..", "..", "otelcol-config.yaml"))
	require.NoError(t, err)
	for _, transport := range []string{TransportHTTP, TransportGRPC} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var out bytes.Buffer
			o := BenchOptions{
				Binary: bin, Config: config, Transport: transport,
				Senders: 2, PerRequest: 500, Events: 10_000, RawEvents: 5_000, RawBatch: 1000,
				Rates: []float64{5000}, RateDuration: time.Second, DrainTimeout: 2 * time.Minute,
				Out: &out,
			}
			if transport == TransportHTTP {
				o.CPUProfile, o.ProfileSeconds = filepath.Join(t.TempDir(), "cpu.pprof"), 1
			}
			rep, err := Bench(ctx, o)
			require.NoError(t, err, "output:\n%s", out.String())
			var table bytes.Buffer
			require.NoError(t, rep.WriteTable(&table))
			t.Logf("%s\n%s", out.String(), table.String())

			assert.True(t, rep.OK, "problems: %v", rep.Problems)
			v := rep.Verification
			require.NotNil(t, v)
			assert.Equal(t, int64(10_000+5000), v.Acked, "every event acknowledged")
			assert.Equal(t, v.Acked, v.Stored, "zero loss")
			assert.Equal(t, v.Stored, v.Distinct, "zero duplicates")
			assert.Equal(t, v.Acked, v.Ledger)
			assert.Equal(t, v.Acked, v.RedisEvents, "Redis counts every event once")
			assert.Zero(t, v.Lost+v.Duplicates+v.Unexpected+v.Rejected+v.Outbox)

			assert.Equal(t, int64(10_000), rep.Sustained.Events)
			assert.Equal(t, 20, rep.Sustained.Requests)
			assert.Positive(t, rep.Sustained.EventsPerSec)
			assert.Positive(t, rep.Sustained.ElapsedSec)
			assert.GreaterOrEqual(t, rep.Sustained.AckedPerSec, rep.Sustained.EventsPerSec, "acknowledged before stored")
			assert.Positive(t, rep.Sustained.AckP99)
			assert.Positive(t, rep.Sustained.PeakRSS)
			require.NotNil(t, rep.RawCopy)
			require.NotNil(t, rep.RawCopyBatches)
			assert.Equal(t, 5000, rep.RawCopy.Events)
			assert.Positive(t, rep.RawCopy.EventsPerSec)
			assert.Equal(t, 1000, rep.RawCopyBatches.Batch)
			assert.InDelta(t, rep.Sustained.EventsPerSec/rep.RawCopy.EventsPerSec, rep.RatioRawCopy, 1e-9)
			require.Len(t, rep.Rates, 1)
			r := rep.Rates[0]
			assert.Equal(t, 10, r.Requests)
			assert.Equal(t, 10, r.Samples, "one sample per request")
			assert.Zero(t, r.MissingPG+r.MissingRedis)
			assert.Positive(t, r.Achieved)
			assert.Positive(t, r.PGP50)
			assert.GreaterOrEqual(t, r.PGP99, r.PGP50)
			assert.GreaterOrEqual(t, r.RedisP50, r.PGP50, "Redis is applied after the commit")
			assert.Positive(t, r.Polls)
			assert.Positive(t, r.PeakRSS)
			assert.GreaterOrEqual(t, rep.PeakRSS, rep.Sustained.PeakRSS)
			assert.NotEmpty(t, rep.LoadStart)
			assert.NotEmpty(t, rep.LoadEnd)
			assert.NotNil(t, rep.Retried)
			assert.Empty(t, rep.Refused)
			if o.CPUProfile != "" {
				st, err := os.Stat(o.CPUProfile)
				require.NoError(t, err)
				assert.Positive(t, st.Size())
				assert.Equal(t, o.CPUProfile, rep.Profile)
				assert.Contains(t, rep.ProfileTop, "flat%", rep.ProfileTop)
			}

			// The JSON line has the figures.
			var js bytes.Buffer
			require.NoError(t, rep.WriteJSON(&js))
			assert.Equal(t, 1, strings.Count(js.String(), "\n"))
			var back map[string]any
			require.NoError(t, json.Unmarshal(js.Bytes(), &back))
			for _, k := range []string{"sustained", "raw_copy", "ratio_to_raw_copy", "rates", "peak_rss_bytes", "retried", "refused", "verification", "loadavg_start", "loadavg_end", "ok"} {
				assert.Contains(t, back, k)
			}
			assert.Equal(t, true, back["ok"])

			// Cleaned up: schema dropped, Redis keys deleted.
			exists, err := schemaExists(ctx, testdb.BaseDSN(), rep.Schema)
			require.NoError(t, err)
			assert.False(t, exists, "schema %s dropped", rep.Schema)
			rdb := redis.NewClient(&redis.Options{Addr: testdb.RedisAddr()})
			defer func() { assert.NoError(t, rdb.Close()) }()
			keys, err := prefixKeys(ctx, rdb, rep.RedisPrefix)
			require.NoError(t, err)
			assert.Empty(t, keys, "Redis keys %s* deleted", rep.RedisPrefix)
			assert.NoDirExists(t, strings.TrimSpace(strings.SplitN(strings.SplitN(out.String(), "work dir ", 2)[1], "\n", 2)[0]))
		})
	}
}
