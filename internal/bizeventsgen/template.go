package bizeventsgen

// fileText is the template of the generated file. The fixed part (Emitter,
// common options, emit) is the same for every catalog; the per-event part is
// generated from the model.
const fileText = `{{.Header}}
// Source: {{.Source}}.

package {{.Package}}

import (
	"context"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
)

// ScopeName is the instrumentation scope name of the Emitter's logger.
const ScopeName = "{{.Scope}}"

// AttributeEventID is the attribute that carries an event's id.
const AttributeEventID = "event.id"

// The products of the catalog. A product is the service.name of the resource
// of the LoggerProvider that emits its events.
const (
{{- range .Products}}
	{{.Name}} = "{{.Value}}"
{{- end}}
)

// The event names of the catalog.
const (
{{- range .EventConsts}}
	{{.Name}} = "{{.Value}}"
{{- end}}
)
{{- if .Values}}

// Allowed values of string attributes.
const (
{{- range .Values}}
	// {{.Doc}}
	{{.Name}} = {{printf "%q" .Value}}
{{- end}}
)
{{- end}}

var productOf = map[string]string{
{{- range .Events}}
	{{.EventConst}}: {{.ProductConst}},
{{- end}}
}

// ProductOf returns the product that sends the named event.
func ProductOf(event string) (product string, ok bool) {
	product, ok = productOf[event]
	return product, ok
}

// EventNames returns the event names of the catalog, sorted.
func EventNames() []string {
	return []string{
{{- range .Events}}
		{{.EventConst}},
{{- end}}
	}
}

// Emitter emits the catalog's business events as OpenTelemetry log records
// through one log.Logger: EventName set to the event name, the attribute
// event.id (a UUIDv7 unless WithEventID is given), the event's attributes with
// the catalog's types, the timestamp (now unless WithTime is given) and the
// trace context of the ctx passed to each method.
//
// The product of an event is not an attribute: it is the service.name of the
// resource of the LoggerProvider behind the Emitter. A process that emits the
// events of two products needs one LoggerProvider, and one Emitter, per
// product (see ProductOf). An Emitter is safe for concurrent use.
type Emitter struct {
	logger log.Logger
	newID  func() string
	now    func() time.Time
}

// EmitterOption configures an Emitter.
type EmitterOption func(*Emitter)

// WithIDGenerator replaces NewEventID as the source of event ids (for
// example with a deterministic one in a simulator).
func WithIDGenerator(f func() string) EmitterOption {
	return func(e *Emitter) { e.newID = f }
}

// WithClock replaces time.Now as the source of event timestamps.
func WithClock(now func() time.Time) EmitterOption {
	return func(e *Emitter) { e.now = now }
}

// NewEmitter returns an Emitter whose logger is lp.Logger(ScopeName).
func NewEmitter(lp log.LoggerProvider, opts ...EmitterOption) *Emitter {
	return NewEmitterFromLogger(lp.Logger(ScopeName), opts...)
}

// NewEmitterFromLogger returns an Emitter that emits through l.
func NewEmitterFromLogger(l log.Logger, opts ...EmitterOption) *Emitter {
	e := &Emitter{logger: l, newID: NewEventID, now: time.Now}
	for _, o := range opts {
		o(e)
	}
	return e
}

// NewEventID returns a new UUIDv7 (time-ordered) as a string.
func NewEventID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

type eventConfig struct {
	time  time.Time
	id    string
	attrs []attribute.KeyValue
}

// CommonOption is an option every event method accepts.
type CommonOption struct {
	apply func(*eventConfig)
}

func (o CommonOption) applyEvent(c *eventConfig) { o.apply(c) }

// WithTime sets the event's timestamp (default: now). The collector counts
// an event in the business day of this time.
func WithTime(t time.Time) CommonOption {
	return CommonOption{func(c *eventConfig) { c.time = t }}
}

// WithEventID sets the event's id (default: a new UUIDv7). Resend an event
// with the id it had the first time and the collector counts it once.
func WithEventID(id string) CommonOption {
	return CommonOption{func(c *eventConfig) { c.id = id }}
}

// WithAttributes adds attributes the catalog does not define; the collector
// keeps them with the event.
func WithAttributes(kv ...attribute.KeyValue) CommonOption {
	return CommonOption{func(c *eventConfig) { c.attrs = append(c.attrs, kv...) }}
}

// emit builds and emits the record and returns the event id.
func (e *Emitter) emit(ctx context.Context, name string, c *eventConfig) string {
	id := c.id
	if id == "" {
		id = e.newID()
	}
	ts := c.time
	if ts.IsZero() {
		ts = e.now()
	}
	var r log.Record
	r.SetEventName(name)
	r.SetTimestamp(ts)
	r.SetSeverity(log.SeverityInfo)
	r.SetSeverityText("INFO")
	r.AddAttributes(attribute.String(AttributeEventID, id))
	r.AddAttributes(c.attrs...)
	e.logger.Emit(ctx, r)
	return id
}
{{range .Events}}
// {{.GoName}}Option is an option of {{.GoName}}: WithTime, WithEventID,
// WithAttributes{{range .Optional}}, {{.Func}}{{end}}.
type {{.GoName}}Option interface {
	applyEvent(*eventConfig)
	{{.Marker}}()
}

func (CommonOption) {{.Marker}}() {}

// {{.GoName}} emits {{.Name}} (product {{.Product}}) and returns its event id.
{{- if .Required}}
//
// Required attributes:
{{- range .Required}}
//   - {{.Attr}} ({{.Type}})
{{- end}}
{{- end}}
{{- if .Optional}}
//
// Optional attributes:
{{- range .Optional}}
//   - {{.Attr}} ({{.Type}}): {{.Func}}
{{- end}}
{{- end}}
{{- if .Measure}}
//
// The collector keeps the sum and count of {{.Measure}} (an average).
{{- end}}
{{- if .Flag}}
//
// The collector counts the events whose {{.Flag}} is true.
{{- end}}
func (e *Emitter) {{.GoName}}(ctx context.Context{{range .Required}}, {{.Param}} {{.Go}}{{end}}, opts ...{{.GoName}}Option) string {
	c := eventConfig{attrs: make([]attribute.KeyValue, 0, {{len .Required}}+len(opts))}
{{- if .Required}}
	c.attrs = append(c.attrs{{range .Required}},
		{{.Ctor}}("{{.Attr}}", {{.Param}}){{end}},
	)
{{- end}}
	for _, o := range opts {
		o.applyEvent(&c)
	}
	return e.emit(ctx, {{.EventConst}}, &c)
}
{{end}}
{{- range .AttrOptions}}
// {{.TypeName}} sets the optional attribute {{.Attr}} ({{.Type}}) of
{{- range $i, $e := .Events}}{{if $i}},{{end}} {{$e.Name}}{{end}}.
type {{.TypeName}} struct{ v {{.Go}} }

// {{.Func}} sets the optional attribute {{.Attr}} ({{.Type}}).
func {{.Func}}(v {{.Go}}) {{.TypeName}} { return {{.TypeName}}{v} }

func (o {{.TypeName}}) applyEvent(c *eventConfig) {
	c.attrs = append(c.attrs, {{.Ctor}}("{{.Attr}}", o.v))
}
{{- $t := .TypeName}}
{{range .Events}}
func ({{$t}}) {{.Marker}}() {}
{{- end}}
{{end}}`
