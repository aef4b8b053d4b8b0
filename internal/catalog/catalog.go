// Package catalog holds the event catalog: which business events exist, which
// product may send each, and the type of every attribute (docs/spec.md §4). It is pure
// data and validation; the eventcatalog processor applies it to log records and
// the analytics exporter reads each event's measure and flag from it.
package catalog

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"

	"go.yaml.in/yaml/v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the built-in catalog file, as shipped.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Type is the type of an event attribute.
type Type string

// The attribute types a catalog may name.
const (
	TypeString Type = "string"
	TypeInt    Type = "int"
	TypeDouble Type = "double" // an int value is accepted and widened
	TypeBool   Type = "bool"
)

func (t Type) valid() bool {
	switch t {
	case TypeString, TypeInt, TypeDouble, TypeBool:
		return true
	}
	return false
}

// Attribute describes one attribute of an event.
type Attribute struct {
	Name     string   `yaml:"name"`
	Type     Type     `yaml:"type"`
	Required bool     `yaml:"required"`
	Values   []string `yaml:"values"` // allowed values of a string attribute; empty means any
	// Min and Max bound an int or double attribute (inclusive); nil means
	// unbounded on that side. A value outside is rejected as invalid_value.
	// NaN and ±Inf are never valid for a double attribute, bounds or not.
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
}

// MaxMeasure is the largest absolute value a measure may have, whatever
// the catalog's bounds: 10^12 units, 10^18 millionths, so that one event's
// measure fits the counters' 64-bit per-batch deltas and no sum of them can
// leave the 128-bit range the rollups keep (counters.Sum).
const MaxMeasure = 1e12

// Micro converts a measure value to integer millionths, rounding half away
// from zero: the one rounding the rollups, Redis and every expectation use.
// NaN, ±Inf and values over MaxMeasure in absolute value give ok=false (the
// eventcatalog processor rejects those as invalid_value).
func Micro(v float64) (micro int64, ok bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > MaxMeasure {
		return 0, false
	}
	return int64(math.Round(v * 1e6)), true
}

// InRange reports whether f is within the attribute's bounds (and, for any
// numeric attribute, finite).
func (a *Attribute) InRange(f float64) bool {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return false
	}
	return (a.Min == nil || f >= *a.Min) && (a.Max == nil || f <= *a.Max)
}

// Event describes one business event.
type Event struct {
	Name       string      `yaml:"name"`
	Product    string      `yaml:"product"`
	Attributes []Attribute `yaml:"attributes"`
	// Measure names the double or int attribute whose sum and count are kept
	// in the rollups (the data behind an average). Empty: none.
	Measure string `yaml:"measure"`
	// Flag names the bool attribute whose true-count is kept in the rollups.
	// Empty: none.
	Flag string `yaml:"flag"`

	byName map[string]*Attribute
}

// Attribute returns the named attribute of the event.
func (e *Event) Attribute(name string) (*Attribute, bool) {
	a, ok := e.byName[name]
	return a, ok
}

// Catalog is a validated set of events. It is immutable once built and safe
// for concurrent use.
type Catalog struct {
	events map[string]*Event
}

type file struct {
	Events []Event `yaml:"events"`
}

// Default returns the built-in catalog of docs/spec.md §4.
func Default() *Catalog {
	c, err := Parse(defaultYAML)
	if err != nil {
		panic("catalog: built-in catalog is invalid: " + err.Error())
	}
	return c
}

// Load reads and validates a catalog file.
func Load(path string) (*Catalog, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the catalog file the operator configured: reading it is the point
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("catalog file %s: %w", path, err)
	}
	return c, nil
}

var (
	eventNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	attrNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
)

// Parse decodes and validates a catalog document. Unknown keys, unknown
// types, duplicate events or attributes and a measure or flag that names a
// missing attribute of the wrong type are all errors, joined so that every
// problem of a file is reported at once.
func Parse(data []byte) (*Catalog, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("invalid catalog YAML: %w", err)
	}
	if len(f.Events) == 0 {
		return nil, errors.New("catalog defines no events (expected a top-level `events:` list)")
	}
	c := &Catalog{events: make(map[string]*Event, len(f.Events))}
	var errs []error
	for i := range f.Events {
		e := f.Events[i]
		if err := e.init(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := c.events[e.Name]; dup {
			errs = append(errs, fmt.Errorf("event %q: defined more than once", e.Name))
			continue
		}
		c.events[e.Name] = &e
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func (e *Event) init() error {
	var errs []error
	if !eventNameRE.MatchString(e.Name) {
		return fmt.Errorf("event %q: name must be lower-case dotted words such as session.start", e.Name)
	}
	if e.Product == "" {
		errs = append(errs, fmt.Errorf("event %q: product is required", e.Name))
	}
	e.byName = make(map[string]*Attribute, len(e.Attributes))
	for i := range e.Attributes {
		a := &e.Attributes[i]
		switch {
		case !attrNameRE.MatchString(a.Name):
			errs = append(errs, fmt.Errorf("event %q: attribute name %q is not a valid identifier", e.Name, a.Name))
			continue
		case !a.Type.valid():
			errs = append(errs, fmt.Errorf("event %q: attribute %q: unknown type %q (want string, int, double or bool)", e.Name, a.Name, a.Type))
		case len(a.Values) > 0 && a.Type != TypeString:
			errs = append(errs, fmt.Errorf("event %q: attribute %q: values are allowed only for type string", e.Name, a.Name))
		case (a.Min != nil || a.Max != nil) && a.Type != TypeInt && a.Type != TypeDouble:
			errs = append(errs, fmt.Errorf("event %q: attribute %q: min and max are allowed only for types int and double", e.Name, a.Name))
		case a.Min != nil && (math.IsNaN(*a.Min) || math.IsInf(*a.Min, 0)), a.Max != nil && (math.IsNaN(*a.Max) || math.IsInf(*a.Max, 0)):
			errs = append(errs, fmt.Errorf("event %q: attribute %q: min and max must be finite numbers", e.Name, a.Name))
		case a.Min != nil && a.Max != nil && *a.Min > *a.Max:
			errs = append(errs, fmt.Errorf("event %q: attribute %q: min %g is greater than max %g", e.Name, a.Name, *a.Min, *a.Max))
		}
		if _, dup := e.byName[a.Name]; dup {
			errs = append(errs, fmt.Errorf("event %q: attribute %q defined more than once", e.Name, a.Name))
		}
		e.byName[a.Name] = a
	}
	if e.Measure != "" {
		if a, ok := e.byName[e.Measure]; !ok || (a.Type != TypeDouble && a.Type != TypeInt) {
			errs = append(errs, fmt.Errorf("event %q: measure %q must name a double or int attribute of the event", e.Name, e.Measure))
		}
	}
	if e.Flag != "" {
		if a, ok := e.byName[e.Flag]; !ok || a.Type != TypeBool {
			errs = append(errs, fmt.Errorf("event %q: flag %q must name a bool attribute of the event", e.Name, e.Flag))
		}
	}
	return errors.Join(errs...)
}

// Lookup returns the definition of the named event.
func (c *Catalog) Lookup(name string) (*Event, bool) {
	e, ok := c.events[name]
	return e, ok
}

// Names returns the event names in sorted order.
func (c *Catalog) Names() []string {
	names := make([]string, 0, len(c.events))
	for n := range c.events {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Extend returns a catalog holding c's events with those of other added;
// an event defined in both is taken from other.
func (c *Catalog) Extend(other *Catalog) *Catalog {
	out := &Catalog{events: make(map[string]*Event, len(c.events)+len(other.events))}
	for n, e := range c.events {
		out.events[n] = e
	}
	for n, e := range other.events {
		out.events[n] = e
	}
	return out
}
