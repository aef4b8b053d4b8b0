package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDryRunWritesExpectation(t *testing.T) {
	out := filepath.Join(t.TempDir(), "expect.json")
	var stderr strings.Builder
	err := run(context.Background(), []string{
		"--from", "2025-12-01", "--to", "2025-12-02", "--scale", "30", "--seed", "4",
		"--resend-fraction", "0.1", "--dry-run", "--expect-out", out,
	}, &stderr)
	require.NoError(t, err, stderr.String())
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	var exp struct {
		EventsSent   int64          `json:"events_sent"`
		UniqueEvents int64          `json:"unique_events"`
		Resent       int64          `json:"resent"`
		Month        string         `json:"month"`
		Raw          map[string]any `json:"raw"`
		CaseStudy    map[string]any `json:"case_study"`
	}
	require.NoError(t, json.Unmarshal(data, &exp))
	assert.Equal(t, exp.EventsSent, exp.UniqueEvents+exp.Resent)
	assert.Positive(t, exp.Resent)
	assert.Equal(t, "2025-12", exp.Month)
	assert.Positive(t, exp.Raw["total_customers_served"])
	assert.Equal(t, "2025年12月", exp.CaseStudy["period"])
	assert.Contains(t, stderr.String(), "simulate: done: ")
	assert.Contains(t, stderr.String(), "expectation written to "+out)
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--month", "2025-13"},
		{"--month", "2025-12", "--from", "2025-12-01", "--to", "2025-12-02"},
		{"--from", "2025-12-01"},
		{"--month", "2025-12", "--scale", "0"},
		{"--month", "2025-12", "--resend-fraction", "2"},
		{"--month", "2025-12", "--timezone", "Mars/Base"},
		{"--month", "2025-12", "--protocol", "smoke"},
	} {
		var stderr strings.Builder
		assert.Error(t, run(context.Background(), args, &stderr), "%v", args)
	}
}
