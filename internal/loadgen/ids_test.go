package loadgen

import (
	"context"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/testdb"
)

func TestIDSpace(t *testing.T) {
	sp := IDSpace{UnixMilli: 1764520200123, Phase: 0x0a3, Salt: 0x1abc}
	var ids []string
	for _, seq := range []uint64{0, 1, 2, 999, 1000, 1 << 20, 1<<40 + 7, MaxSeq} {
		id := sp.ID(seq)
		ids = append(ids, id)
		require.Len(t, id, 36)
		assert.Equal(t, "7"+PhaseHex(sp.Phase), id[14:18], id)
		phase, got, err := ParseSeq(id)
		require.NoError(t, err, id)
		assert.Equal(t, sp.Phase, phase, id)
		assert.Equal(t, seq, got, id)
	}
	assert.True(t, sort.StringsAreSorted(ids), "time-ordered: ids grow with the sequence number: %v", ids)

	other := sp
	other.Phase = 0x0a4
	assert.NotEqual(t, sp.ID(5), other.ID(5), "another phase, another id")
	other = sp
	other.Salt = 0x1abd
	assert.NotEqual(t, sp.ID(5), other.ID(5), "another run, another id")

	_, _, err := ParseSeq("3f1c2a9e-0001-4000-8000-000000000001")
	require.Error(t, err, "a UUIDv4 is not ours")
	_, _, err = ParseSeq("run0-123")
	require.Error(t, err)
}

// TestIDSQL: PostgreSQL reads the phase and sequence number back as Go does.
func TestIDSQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testdb.BaseDSN())
	require.NoError(t, err)
	defer func() { assert.NoError(t, conn.Close(ctx)) }()
	sp := IDSpace{UnixMilli: 1764520200123, Phase: 0x0ff, Salt: 7}
	for _, seq := range []uint64{0, 4711, 1<<47 + 3, MaxSeq} {
		var phase string
		var got int64
		require.NoError(t, conn.QueryRow(ctx, `SELECT `+PhaseSQL+`, `+SeqSQL+` FROM (VALUES ($1::text)) AS v(event_id)`, sp.ID(seq)).Scan(&phase, &got))
		assert.Equal(t, PhaseHex(sp.Phase), phase)
		assert.Equal(t, int64(seq), got) //nolint:gosec // below 2^48
	}
}
