package store

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// refAggregate is aggregate as it was before its sums went into a slice
// (commit 4d843e7), to check that aggregate sums and sorts the same.
func refAggregate(events []eventRow, fresh []int32) []counters.Row {
	type cell struct {
		day          int32
		agent, event string
	}
	sums := map[cell]*counters.Values{}
	add := func(c cell, e *eventRow) {
		v, ok := sums[c]
		if !ok {
			v = &counters.Values{}
			sums[c] = v
		}
		v.Events++
		if e.hasMeasure {
			v.MeasureCount++
			v.MeasureSumMicro = v.MeasureSumMicro.Add(counters.SumOf(e.measure))
		}
		if e.hasFlag && e.flag {
			v.FlagTrue++
		}
	}
	for _, i := range fresh {
		e := &events[i]
		add(cell{day: e.day, event: e.name}, e)
		if e.agentID != "" {
			add(cell{day: e.day, agent: e.agentID, event: e.name}, e)
		}
	}
	rows := make([]counters.Row, 0, len(sums))
	days := map[int32]string{}
	for c, v := range sums {
		day, ok := days[c.day]
		if !ok {
			day = dayTime(c.day).Format(counters.DateLayout)
			days[c.day] = day
		}
		rows = append(rows, counters.Row{Cell: counters.Cell{Date: day, AgentID: c.agent, Event: c.event}, Values: *v})
	}
	counters.SortRows(rows)
	return rows
}

func TestAggregateSameAsBefore(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	var q *Batch
	for k := range 3 {
		c := Convert(loc, benchRequest(t, k))
		if q == nil {
			q = c
		} else {
			q = q.Merge(c)
		}
	}
	events := q.events
	// Odd agents and names, measures past 64 bits, days of other years.
	for i, agent := range []string{"a<b", "zz", "", "é", "agent-1"} {
		for j, name := range []string{"x", "session.start", "y\\"} {
			e := eventRow{day: int32(i*400 - 800), agentID: agent, name: name, measure: math.MaxInt64 - int64(j), hasMeasure: j != 1, flag: i%2 == 0, hasFlag: j != 2}
			events = append(events, e, e)
		}
	}
	fresh := make([]int32, 0, len(events))
	for i := range events {
		if i%7 != 3 {
			fresh = append(fresh, int32(i))
		}
	}
	require.Equal(t, refAggregate(events, fresh), aggregate(events, fresh))
	require.Equal(t, refAggregate(events, nil), aggregate(events, nil))
}

// refLedgerCopy is the ledger COPY as it was built before ledgerReader
// (commit 4d843e7): in one buffer.
// (ledgerCopy returned) the binary COPY of the ledger rows of events[order[...]]:
// product, event id, business day and content hash (NULL when unknown).
func refLedgerCopy(events []eventRow, order []int32) []byte {
	size := len(copyHeader) + len(copyTrailer)
	for _, i := range order {
		size += 2 + 4 + len(events[i].product) + 4 + len(events[i].eventID) + 4 + 4 + 4 + contentHashSize
	}
	b := make([]byte, 0, size)
	b = append(b, copyHeader...)
	for _, i := range order {
		e := &events[i]
		b = appendInt16(b, 4)
		b = appendText(b, e.product)
		b = appendText(b, e.eventID)
		b = appendDate(b, e.day)
		if e.hasHash {
			b = appendInt32(b, contentHashSize)
			b = append(b, e.hash[:]...)
		} else {
			b = appendNull(b)
		}
	}
	return append(b, copyTrailer...)
}

func TestLedgerReader(t *testing.T) {
	q := Convert(benchLocation(t), benchRequest(t, 0))
	events := append(q.events, q.events...) // more than one chunk
	events[3].hasHash = false
	order := sortedOrder(events)
	for _, o := range [][]int32{order, order[:1], order[:0], order[:300]} {
		want := refLedgerCopy(events, o)
		for _, size := range []int{1, 7, 100, 64 << 10} {
			require.Equal(t, want, readBy(t, newLedgerReader(events, o), size), size)
		}
	}
}

// refPrepare is prepare as it was (commit 4d843e7): what a write decides about q's rows besides the ledger: an
// accepted record of a business month the Store knows is retired becomes a
// rejected row (beyond_retention), and a later record of a product and id of
// the batch is a repeat of the first (see addRepeat). q does not change.
func (s *Store) refPrepare(q *Batch) *batch {
	b := &batch{events: make([]eventRow, 0, len(q.events)), rejected: q.rejected[:len(q.rejected):len(q.rejected)]}
	seen := make(map[idKey]int, len(q.events)) // → index in b.events
	lastMonth, lastState, lastRetired := int32(-1), monthState{}, false
	for i := range q.events {
		row := &q.events[i]
		if row.month != lastMonth { // one look-up per run of a month
			lastMonth = row.month
			lastState, lastRetired = s.retiredState(row.month)
		}
		if lastRetired {
			b.rejected = append(b.rejected, s.beyondRetention(row, lastState))
			continue
		}
		k := idKey{product: row.product, id: row.eventID}
		if j, dup := seen[k]; dup {
			if !b.events[j].addRepeat(*row) {
				b.duplicates++
			}
			continue
		}
		seen[k] = len(b.events)
		b.events = append(b.events, *row)
	}
	return b
}

func TestSortByKey(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func(s ...string) string { return s[rnd.IntN(len(s))] }
	for round := range 200 {
		n := 1 + rnd.IntN(60)
		events := make([]eventRow, n)
		prefix := pick("", "0190f3a2-", "0190f3a2-1b2c-7abc-8def-", "x")
		for i := range events {
			events[i].product = pick("ai_chatbot", "agent_workbench", "a", "", "ai_chatbot\x00")
			tail := make([]byte, rnd.IntN(20))
			for k := range tail {
				tail[k] = pick("a", "b", "\x00", "\xff", "0")[0]
			}
			events[i].eventID = prefix + string(tail)
			if i > 0 && rnd.IntN(4) == 0 { // repeats
				events[i].eventID, events[i].product = events[i-1].eventID, events[i-1].product
			}
		}
		idx := make([]int32, 0, n)
		for i := range int32(n) {
			if round%3 != 0 || i%5 != 2 { // a subset, as prepare passes
				idx = append(idx, i)
			}
		}
		want := slices.Clone(idx)
		slices.SortStableFunc(want, func(a, b int32) int {
			return cmp.Or(strings.Compare(events[a].product, events[b].product), strings.Compare(events[a].eventID, events[b].eventID))
		})
		sortByKey(events, idx)
		require.Equal(t, want, idx, round)
	}
}

func TestPrepareSameAsBefore(t *testing.T) {
	loc := benchLocation(t)
	one := Convert(loc, benchRequest(t, 0))
	two := Convert(loc, benchRequest(t, 1))
	resent := one.Merge(two).Merge(one) // duplicates
	// Repeats with other content hashes.
	other := Convert(loc, benchRequest(t, 1))
	for i := range other.events {
		if i%3 == 0 {
			other.events[i].hash[0]++
		}
		if i%5 == 0 {
			other.events[i].hasHash = false
		}
	}
	s := New(nil, nil, Config{Location: loc})
	retired := one.events[7].month
	for name, q := range map[string]*Batch{"new": one.Merge(two), "resent": resent, "conflicts": two.Merge(other).Merge(other), "retired": one.Merge(one)} {
		t.Run(name, func(t *testing.T) {
			if name == "retired" {
				s.months.Store(retired, monthState{retired: true})
				defer s.months.Delete(retired)
			}
			want, got := s.refPrepare(q), s.prepare(q)
			require.Equal(t, want.events, got.events)
			require.Equal(t, want.rejected, got.rejected)
			require.Equal(t, want.duplicates, got.duplicates)
			reps := 0
			for i := range got.events {
				reps += len(got.events[i].repeats)
			}
			switch name {
			case "resent":
				require.Equal(t, 1000, got.duplicates)
			case "conflicts":
				require.NotZero(t, reps)
				require.NotZero(t, got.duplicates)
			case "retired":
				require.Greater(t, len(got.rejected), len(q.rejected))
			}
			require.Equal(t, sortedOrder(got.events), got.order)
			order := make([]int32, len(got.events))
			for i := range order {
				order[i] = int32(i)
			}
			slices.SortFunc(order, func(a, b int32) int {
				return cmp.Or(strings.Compare(got.events[a].product, got.events[b].product), strings.Compare(got.events[a].eventID, got.events[b].eventID))
			})
			require.Equal(t, order, got.order)
		})
	}
}

func TestOutboxJSON(t *testing.T) {
	big := counters.SumOf(math.MaxInt64).Add(counters.SumOf(math.MaxInt64))
	rows := []counters.Row{
		{Cell: counters.Cell{Date: "2026-11-01", Event: "session.start"}, Values: counters.Values{Events: 1}},
		{Cell: counters.Cell{Date: "2026-11-01", AgentID: "agent-7", Event: "ticket.closed"}, Values: counters.Values{Events: 3, MeasureCount: 2, MeasureSumMicro: counters.SumOf(-5), FlagTrue: 1}},
		{Cell: counters.Cell{Date: "2026-11-02", AgentID: "a<b>&c\\\"d", Event: "e\n\t\x01\x7f"}, Values: counters.Values{Events: -1, MeasureSumMicro: big}},
		{Cell: counters.Cell{Date: "", AgentID: "\xff\xfe bad", Event: "中文 \u2028 \u2029"}, Values: counters.Values{MeasureCount: math.MinInt64, FlagTrue: math.MaxInt64}},
		{Cell: counters.Cell{Date: "2026-11-03", Event: "x"}, Values: counters.Values{Events: 2, MeasureSumMicro: counters.SumOf(0).Add(counters.SumOf(-1)).Add(counters.SumOf(-1)).Add(big)}},
	}
	for n := 0; n <= len(rows); n++ {
		want, err := counters.EncodeRows(rows[:n])
		require.NoError(t, err)
		got, err := outboxJSON(rows[:n])
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
	want, _ := counters.EncodeRows(nil)
	got, _ := outboxJSON(nil)
	require.Equal(t, string(want), string(got))
}

// TestArrayLiterals checks that PostgreSQL reads the text[] and numeric[]
// literals of finishBatchArgs as the arrays pgx would have sent.
func TestArrayLiterals(t *testing.T) {
	e := newEnv(t)
	big := counters.SumOf(math.MaxInt64).Add(counters.SumOf(math.MaxInt64))
	rows := []counters.Row{
		{Cell: counters.Cell{Date: "2026-11-01", AgentID: "", Event: "session.start"}},
		{Cell: counters.Cell{Date: "NULL", AgentID: `a"b\c,d{e}f`, Event: " spaced "}, Values: counters.Values{MeasureSumMicro: counters.SumOf(-5)}},
		{Cell: counters.Cell{Date: "", AgentID: "中文 é", Event: "\t\n'"}, Values: counters.Values{MeasureSumMicro: big}},
		{Cell: counters.Cell{Date: "x", AgentID: "null", Event: `\\`}, Values: counters.Values{MeasureSumMicro: counters.SumOf(0).Add(counters.SumOf(-1)).Add(big.Add(big))}},
	}
	for n := 0; n <= len(rows); n++ {
		for _, text := range []func(*counters.Row) string{
			func(r *counters.Row) string { return r.Date },
			func(r *counters.Row) string { return r.AgentID },
			func(r *counters.Row) string { return r.Event },
		} {
			want := make([]string, n)
			for i := range want {
				want[i] = text(&rows[i])
			}
			var got []string
			require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT $1::text[]`, textArray(n, func(i int) string { return text(&rows[i]) })).Scan(&got))
			require.Equal(t, want, got)
		}
		var got, want []string
		sums := make([]counters.Sum, n)
		for i := range sums {
			sums[i] = rows[i].MeasureSumMicro
		}
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT $1::numeric[]::text[]`, numericArray(rows[:n])).Scan(&got))
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT $1::numeric[]::text[]`, sums).Scan(&want))
		require.Equal(t, want, got)
	}
	// A NUL byte cannot be in a literal: a []string.
	_, ok := textArray(1, func(int) string { return "a\x00" }).([]string)
	require.True(t, ok)
}

// TestPgDay compares pgDay with the days time.Date counts (its previous
// implementation), months and days out of range included.
func TestPgDay(t *testing.T) {
	ref := func(y int, m time.Month, d int) int32 {
		return int32(floorDiv(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix(), 86400) - pgEpochDays)
	}
	for y := 1600; y <= 2400; y++ {
		for m := time.Month(-13); m <= 26; m++ {
			for _, d := range []int{-400, -31, -1, 0, 1, 2, 15, 27, 28, 29, 30, 31, 32, 60, 400} {
				if got, want := pgDay(y, m, d), ref(y, m, d); got != want {
					t.Fatalf("pgDay(%d, %d, %d) = %d, want %d", y, m, d, got, want)
				}
			}
		}
	}
	for _, y := range []int{-1, 0, 1, 399, 400, 401, 9999, 10000} {
		require.Equal(t, ref(y, 3, 1), pgDay(y, 3, 1))
		require.Equal(t, ref(y, 2, 29), pgDay(y, 2, 29))
	}
}
