package normalize

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// depth is the nesting depth of v (a scalar 0, a map or slice of scalars 1),
// counted no further than limit+1: the result is then > limit.
func depth(v pcommon.Value, limit int) int {
	if limit < 0 {
		return 1
	}
	d := 0
	switch v.Type() {
	case pcommon.ValueTypeMap:
		for _, nv := range v.Map().All() {
			if d = max(d, depth(nv, limit-1)); d > limit-1 {
				break
			}
		}
	case pcommon.ValueTypeSlice:
		for _, nv := range v.Slice().All() {
			if d = max(d, depth(nv, limit-1)); d > limit-1 {
				break
			}
		}
	default:
		return 0
	}
	return d + 1
}

// mapDepth is the deepest value of m (0 for a map of scalars), with the
// first key that reaches it; counted no further than limit+1.
func mapDepth(m pcommon.Map, limit int) (int, string) {
	deepest, key := 0, ""
	for k, v := range m.All() {
		if d := depth(v, limit); d > deepest {
			deepest, key = d, k
			if d > limit {
				break
			}
		}
	}
	return deepest, key
}

// checkDepth rejects an attribute or body nested deeper than MaxDepth.
func (n *Normalizer) checkDepth(attrs pcommon.Map, body pcommon.Value) *rejection {
	limit := n.lim.MaxDepth
	if d, k := mapDepth(attrs, limit); d > limit {
		return attrTooDeep(k, limit)
	}
	if depth(body, limit) > limit {
		return bodyTooDeep(limit)
	}
	return nil
}

func attrTooDeep(k string, limit int) *rejection {
	return &rejection{
		catalog.ReasonTooDeep, safeField(k),
		"attribute " + quote(k) + " is nested more than " + itoa(limit) +
			" levels deep (maps and arrays), the limit of max_depth; flatten it",
	}
}

func bodyTooDeep(limit int) *rejection {
	return &rejection{
		catalog.ReasonTooDeep, FieldBody,
		"the body is nested more than " + itoa(limit) + " levels deep (maps and arrays), the limit of max_depth; flatten it",
	}
}

// Cut replaces the content of lr by the start of its OTLP/JSON (as a plog.Logs
// holding res, scope and lr alone): every attribute is removed, the body
// becomes the first CutBytes of the JSON (valid UTF-8) and
// catalog.AttrRawSize, AttrRawSHA256 and AttrRawTruncated describe the whole.
// Event name, timestamps, flags and trace context stay. A cut record is
// shallow and small, so the persistent queue can carry it and the rejected
// table can hold it, whatever it held before.
func Cut(res pcommon.Resource, scope pcommon.InstrumentationScope, lr plog.LogRecord) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res.CopyTo(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	scope.CopyTo(sl.Scope())
	lr.CopyTo(sl.LogRecords().AppendEmpty())
	var m plog.JSONMarshaler
	full, err := m.MarshalLogs(ld)
	if err != nil { // not expected: pdata always marshals
		full = []byte(`{"error":` + strconv.Quote(err.Error()) + `}`)
	}
	sum := sha256.Sum256(full)
	head := full
	if len(full) > CutBytes {
		head = full[:CutBytes]
		for len(head) > 0 && !utf8.RuneStart(full[len(head)]) { // cut between characters
			head = head[:len(head)-1]
		}
	}
	text := strings.ToValidUTF8(string(head), "\uFFFD")

	attrs := lr.Attributes()
	attrs.Clear()
	lr.Body().SetStr(text)
	attrs.PutInt(catalog.AttrRawSize, int64(len(full)))
	attrs.PutStr(catalog.AttrRawSHA256, hex.EncodeToString(sum[:]))
	attrs.PutBool(catalog.AttrRawTruncated, true)
}

// GuardQueue makes every record of ld fit the persistent queue: a record
// whose attributes or body are nested deeper than QueueMaxDepth is cut and
// marked rejected (too_deep), and a resource or scope attribute nested that
// deep is replaced by a note, the records under it rejected likewise. The
// eventcatalog processor already rejects anything deeper than its max_depth
// (at most QueueMaxDepth), so behind it this finds nothing; it is the last
// line before the queue, for records that did not pass the processor.
//
// ld is not modified (the pipeline may share it): when something must be
// cut, GuardQueue returns a guarded copy. It returns ld itself and 0 when
// nothing is too deep, else the copy and the number of records rejected.
func GuardQueue(ld plog.Logs) (plog.Logs, int) {
	if !tooDeepForQueue(ld) {
		return ld, 0
	}
	out := plog.NewLogs()
	ld.CopyTo(out)
	guarded := 0
	for _, rl := range out.ResourceLogs().All() {
		resDeep := cutDeepAttrs(rl.Resource().Attributes())
		for _, sl := range rl.ScopeLogs().All() {
			scopeDeep := cutDeepAttrs(sl.Scope().Attributes())
			for _, lr := range sl.LogRecords().All() {
				field := ""
				switch {
				case resDeep != "":
					field = "resource." + resDeep
				case scopeDeep != "":
					field = "scope." + scopeDeep
				default:
					if d, k := mapDepth(lr.Attributes(), QueueMaxDepth); d > QueueMaxDepth {
						field = safeField(k)
					} else if depth(lr.Body(), QueueMaxDepth) > QueueMaxDepth {
						field = FieldBody
					}
				}
				if field == "" {
					continue
				}
				guarded++
				keep := keepBookkeeping(rl.Resource(), lr)
				Cut(rl.Resource(), sl.Scope(), lr)
				attrs := lr.Attributes()
				for k, v := range keep {
					attrs.PutStr(k, v)
				}
				attrs.PutStr(catalog.AttrStatus, catalog.StatusRejected)
				attrs.PutStr(catalog.AttrRejectReason, string(catalog.ReasonTooDeep))
				attrs.PutStr(catalog.AttrRejectField, field)
				attrs.PutStr(catalog.AttrRejectMessage, field+" is nested more than "+itoa(QueueMaxDepth)+
					" levels deep (maps and arrays), more than the persistent queue can carry; flatten it")
			}
		}
	}
	return out, guarded
}

// tooDeepForQueue reports whether anything in ld is nested deeper than
// QueueMaxDepth.
func tooDeepForQueue(ld plog.Logs) bool {
	for _, rl := range ld.ResourceLogs().All() {
		if d, _ := mapDepth(rl.Resource().Attributes(), QueueMaxDepth); d > QueueMaxDepth {
			return true
		}
		for _, sl := range rl.ScopeLogs().All() {
			if d, _ := mapDepth(sl.Scope().Attributes(), QueueMaxDepth); d > QueueMaxDepth {
				return true
			}
			for _, lr := range sl.LogRecords().All() {
				if d, _ := mapDepth(lr.Attributes(), QueueMaxDepth); d > QueueMaxDepth {
					return true
				}
				if depth(lr.Body(), QueueMaxDepth) > QueueMaxDepth {
					return true
				}
			}
		}
	}
	return false
}

// keepBookkeeping returns the name, product and id already resolved on a
// record, to be put back after a cut: an accepted record's as
// catalog.Accepted reads them (its stamps, else its own fields), any other
// record's stamps.
func keepBookkeeping(res pcommon.Resource, lr plog.LogRecord) map[string]string {
	attrs := lr.Attributes()
	keep := map[string]string{}
	if v, ok := attrs.Get(catalog.AttrStatus); ok && v.Str() == catalog.StatusAccepted {
		ev := catalog.Accepted(res, lr)
		for k, v := range map[string]string{catalog.AttrEventName: ev.Name, catalog.AttrProduct: ev.Product, catalog.AttrEventID: ev.ID} {
			if v != "" {
				keep[k] = v
			}
		}
		return keep
	}
	for _, k := range [...]string{catalog.AttrEventName, catalog.AttrProduct, catalog.AttrEventID} {
		if v, ok := attrs.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
			keep[k] = v.Str()
		}
	}
	return keep
}

// cutDeepAttrs replaces every value of m nested deeper than QueueMaxDepth by
// a string saying so; it returns the first key replaced, "" if none.
func cutDeepAttrs(m pcommon.Map) string {
	first := ""
	for k, v := range m.All() {
		if depth(v, QueueMaxDepth) > QueueMaxDepth {
			if first == "" {
				first = k
			}
			v.SetStr("(removed: nested more than " + itoa(QueueMaxDepth) + " levels deep)")
		}
	}
	return first
}
