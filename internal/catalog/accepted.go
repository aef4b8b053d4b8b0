package catalog

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Stamped is what the normalised form says of an accepted record: its event
// name, product, event id and event time (Unix nanoseconds).
type Stamped struct {
	Name, Product, ID string
	TimeUnixNano      int64
}

// Accepted reads the normalised form of an accepted record lr of resource
// res. To keep the record small in the collector's queue, the eventcatalog
// processor does not stamp an accepted record with what the record carries
// itself, unchanged; so each value is its stamp when there is one, else the
// record's own field:
//
//   - the name: AttrEventName, else the record's EventName;
//   - the product: AttrProduct, else the resource's service.name;
//   - the id: AttrEventID (a derived id), else the event.id attribute;
//   - the time: AttrEventTime (taken from ObservedTimestamp or the time
//     received), else the record's Timestamp.
//
// A record stamped in full (by an older processor) reads the same. A value
// found in neither place is left empty (0 for the time); the caller tells
// what is missing.
func Accepted(res pcommon.Resource, lr plog.LogRecord) Stamped {
	attrs := lr.Attributes()
	var e Stamped
	if e.Name = str(attrs, AttrEventName); e.Name == "" {
		e.Name = lr.EventName()
	}
	if e.Product = str(attrs, AttrProduct); e.Product == "" {
		e.Product = str(res.Attributes(), "service.name")
	}
	if e.ID = str(attrs, AttrEventID); e.ID == "" {
		e.ID = str(attrs, WireEventID)
	}
	if v, ok := attrs.Get(AttrEventTime); ok && v.Type() == pcommon.ValueTypeInt {
		e.TimeUnixNano = v.Int()
	} else {
		e.TimeUnixNano = int64(lr.Timestamp()) //nolint:gosec // an accepted record's Timestamp is before 2262
	}
	return e
}

func str(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}
