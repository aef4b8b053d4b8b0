// Package python holds the Python tracker package otelcol_analytics (a
// drop-in for the seed's services/analytics tracker, sending to the track
// receiver) and the Go test that runs its tests: `go test ./sdk/python`
// runs `python3 -m unittest discover -s tests`. See README.md.
//
// otelcol_analytics/events_gen.py is generated from the built-in catalog by
// cmd/bizeventsgen; after a change to the catalog run
// `go generate ./sdk/python` (a test of cmd/bizeventsgen fails until you do).
package python

//go:generate go run ../../cmd/bizeventsgen --lang python --out otelcol_analytics/events_gen.py
