// Package counters is the counter model shared by the analytics exporter,
// analyticsctl and the stats service: one Row per (business day, agent,
// event) with the four numbers the rollup tables and the Redis hashes keep,
// the Redis key layout, and the exactly-once application of a committed
// batch's deltas to Redis.
package counters

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// The shared defaults: the one place each is written. Every component
// (exporter, stats, analyticsctl, demo, simulator, load generator) takes its
// default from here.
const (
	// DefaultTimeZone is the business time zone days and months are cut in.
	DefaultTimeZone = "Asia/Shanghai"
	// DefaultPrefix starts every Redis key.
	DefaultPrefix = "analytics:"
	// DefaultDailyTTL is how long after its day a daily hash is kept (400 days).
	DefaultDailyTTL = 9600 * time.Hour
	// DefaultClaimTTL is the minimum age of a leftover claim the sweep deletes.
	DefaultClaimTTL = 168 * time.Hour
	// DefaultRedisAddr is the local Redis.
	DefaultRedisAddr = "127.0.0.1:6379"
	// DefaultPostgresDSN is the local PostgreSQL database the stats
	// service, analyticsctl and the demo read and write when given none.
	DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/analytics?sslmode=disable"
)

// DateLayout and MonthLayout format business days and months in keys.
const (
	DateLayout  = "2006-01-02"
	MonthLayout = "2006-01"
)

// Values are the four numbers kept per counter cell. Sums are in integer
// millionths of the measure's unit (see Micro) so every store adds exactly
// the same integers; a sum is a 128-bit Sum, which no bounded input can
// overflow, the counts 64-bit (one per event).
type Values struct {
	Events          int64 `json:"n"`
	MeasureCount    int64 `json:"mc,omitempty"`
	MeasureSumMicro Sum   `json:"ms,omitzero"`
	FlagTrue        int64 `json:"f,omitempty"`
}

// Add adds o to v.
func (v *Values) Add(o Values) {
	v.Events += o.Events
	v.MeasureCount += o.MeasureCount
	v.MeasureSumMicro = v.MeasureSumMicro.Add(o.MeasureSumMicro)
	v.FlagTrue += o.FlagTrue
}

// IsZero reports whether every number is zero.
func (v Values) IsZero() bool { return v == Values{} }

// Cell identifies one counter cell. AgentID is "" for the all-agents rows
// (analytics_daily_rollup); a non-empty AgentID is a per-agent row
// (analytics_agent_daily_rollup).
type Cell struct {
	Date    string `json:"d"` // business day, DateLayout
	AgentID string `json:"a,omitempty"`
	Event   string `json:"e"`
}

// Row is one cell with its values.
type Row struct {
	Cell
	Values
}

// Aggregator sums rows by cell.
type Aggregator struct {
	cells map[Cell]*Values
}

// NewAggregator returns an empty Aggregator.
func NewAggregator() *Aggregator { return &Aggregator{cells: map[Cell]*Values{}} }

// Add adds v to the cell c.
func (a *Aggregator) Add(c Cell, v Values) {
	if cur, ok := a.cells[c]; ok {
		cur.Add(v)
		return
	}
	vv := v
	a.cells[c] = &vv
}

// Rows returns the non-zero cells, sorted by date, agent, event (the lock
// order the exporter uses for rollup upserts).
func (a *Aggregator) Rows() []Row {
	rows := make([]Row, 0, len(a.cells))
	for c, v := range a.cells {
		if !v.IsZero() {
			rows = append(rows, Row{Cell: c, Values: *v})
		}
	}
	SortRows(rows)
	return rows
}

// SortRows sorts rows by date, agent, event.
func SortRows(rows []Row) {
	slices.SortFunc(rows, func(x, y Row) int {
		return cmp.Or(cmp.Compare(x.Date, y.Date), cmp.Compare(x.AgentID, y.AgentID), cmp.Compare(x.Event, y.Event))
	})
}

// EncodeRows encodes rows for the outbox's deltas column.
func EncodeRows(rows []Row) ([]byte, error) { return json.Marshal(rows) }

// DecodeRows decodes an outbox deltas column.
func DecodeRows(data []byte) ([]Row, error) {
	var rows []Row
	if err := json.Unmarshal(data, &rows); err != nil {
		return nil, fmt.Errorf("counters: bad outbox deltas: %w", err)
	}
	return rows, nil
}

// MonthOf returns the business month of a business day ("2025-12-01" →
// "2025-12").
func MonthOf(date string) string {
	if len(date) >= 7 {
		return date[:7]
	}
	return date
}

// BusinessDate returns the day of t in loc, formatted with DateLayout.
func BusinessDate(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(DateLayout)
}
