// Command bizeventsgen generates typed Go emitters of business events from
// an event catalog (the built-in one unless --catalog names a file), or with
// --lang python the typed helpers of the Python tracker (sdk/python).
//
//	go run ./cmd/bizeventsgen --out sdk/bizevents/events_gen.go
//	go run ./cmd/bizeventsgen --lang python --out sdk/python/otelcol_analytics/events_gen.py
//	go run github.com/otelcol-analytics/otelcol-analytics/cmd/bizeventsgen \
//	    --catalog my-catalog.yaml --package events --out internal/events/events_gen.go
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/otelcol-analytics/otelcol-analytics/internal/bizeventsgen"
	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bizeventsgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bizeventsgen", flag.ContinueOnError)
	catalogPath := fs.String("catalog", "", "catalog YAML file (default: the built-in catalog); with --extend, extends the built-in one")
	extend := fs.Bool("extend", false, "add the --catalog file's events to the built-in catalog instead of replacing it")
	pkg := fs.String("package", "bizevents", "Go package name of the generated file")
	out := fs.String("out", "", "output file (default: standard output)")
	scope := fs.String("scope", bizeventsgen.DefaultScope, "instrumentation scope name of the emitter's logger")
	lang := fs.String("lang", "go", "output language: go (typed emitters) or python (the helpers of sdk/python); --package and --scope are Go's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c := catalog.Default()
	source := "the built-in catalog"
	if *catalogPath != "" {
		custom, err := catalog.Load(*catalogPath)
		if err != nil {
			return err
		}
		source = *catalogPath
		if *extend {
			c = c.Extend(custom)
			source = "the built-in catalog extended by " + *catalogPath
		} else {
			c = custom
		}
	}
	var src []byte
	var err error
	switch *lang {
	case "go":
		src, err = bizeventsgen.Generate(c, bizeventsgen.Options{Package: *pkg, Source: source, Scope: *scope})
	case "python":
		src, err = generatePython(c, source)
	default:
		return fmt.Errorf("--lang %q: want go or python", *lang)
	}
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = os.Stdout.Write(src)
		return err
	}
	return os.WriteFile(*out, src, 0o644) //nolint:gosec // generated source is world-readable like any source file
}
