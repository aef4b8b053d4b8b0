package store

import (
	"encoding/binary"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// The Convert of before the one walk over a record's attributes (commit
// 4d843e7), kept to check that Convert builds the same rows.

func refConvert(loc *time.Location, ld plog.Logs) *Batch {
	n := ld.LogRecordCount()
	b := &Batch{events: make([]eventRow, 0, n)}
	// Every tuple goes into one buffer, and so does every row's kinds;
	// rows get their slice at the end (the buffers may move as they grow).
	arena := make([]byte, 0, n*tupleSizeHint)
	ends := make([]int, 0, n)
	var kinds []byte
	kindEnds := make([]int, 0, n)
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			var grp *group
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				src := source{rl: rl, sl: sl, lr: lrs.At(k)}
				status, _ := src.lr.Attributes().Get(catalog.AttrStatus)
				switch status.Str() {
				case catalog.StatusAccepted:
					row, problem := refEventRowOf(loc, src)
					if problem != "" {
						b.rejected = append(b.rejected, notNormalised(src, problem))
						continue
					}
					arena = refAppendTuple(arena, &row)
					ends = append(ends, len(arena))
					if grp == nil {
						grp = newGroup(rl, sl)
					}
					kinds = row.refSetRest(kinds, grp)
					kindEnds = append(kindEnds, len(kinds))
					row.src = source{}
					b.events = append(b.events, row)
				case catalog.StatusRejected:
					b.rejected = append(b.rejected, rejectedFromRecord(src))
				default:
					b.rejected = append(b.rejected, notNormalised(src, ""))
				}
			}
		}
	}
	all := string(kinds)
	start, kstart := 0, 0
	for i, end := range ends {
		b.events[i].tuple = arena[start:end:end]
		b.events[i].rest.kinds = all[kstart:kindEnds[i]]
		start, kstart = end, kindEnds[i]
	}
	return b
}

func (row *eventRow) refSetRest(kinds []byte, grp *group) []byte {
	lr := row.src.lr
	r := recordRest{grp: grp}
	start := len(kinds)
	exact := func() []byte {
		row.rest = recordRest{exact: marshalOne(row.src)}
		return kinds[:start]
	}
	if lr.DroppedAttributesCount() != 0 {
		return exact()
	}
	switch lr.Body().Type() {
	case pcommon.ValueTypeEmpty:
	case pcommon.ValueTypeStr:
		r.hasBody, r.body = true, lr.Body().Str()
	default:
		return exact()
	}
	for k, v := range lr.Attributes().All() {
		t := v.Type()
		switch {
		case strings.HasPrefix(k, catalog.AttrPrefix):
			if k == catalog.AttrRawTruncated {
				return exact() // setRaw reads the record's body as its cut raw form
			}
			continue // not in the raw form; the reject key is kept below
		case k == catalog.WireEventID:
			if t != pcommon.ValueTypeStr || v.Str() != row.eventID {
				return exact()
			}
			kinds = append(kinds, kindWireID)
			continue
		case k == catalog.WireEventName:
			if t != pcommon.ValueTypeStr || v.Str() != row.name {
				return exact()
			}
			kinds = append(kinds, kindWireName)
			continue
		case t == pcommon.ValueTypeStr && (k == catalog.KeySessionID || k == catalog.KeyAgentID || k == catalog.KeyTicketID || k == catalog.KeyCustomerID):
			for i, name := range keyNames {
				if k == name {
					kinds = append(kinds, byte(kindSession+i))
				}
			}
			continue
		}
		switch t {
		case pcommon.ValueTypeStr:
			kinds = append(kinds, kindStr)
		case pcommon.ValueTypeInt:
			kinds = append(kinds, kindInt)
		case pcommon.ValueTypeDouble:
			kinds = append(kinds, kindDouble)
		case pcommon.ValueTypeBool:
			kinds = append(kinds, kindBool)
		case pcommon.ValueTypeBytes:
			kinds = append(kinds, kindBytes)
		case pcommon.ValueTypeEmpty:
			kinds = append(kinds, kindEmpty)
		default: // map, slice: their values' types are not in the JSON
			return exact()
		}
	}
	r.given, r.hasGiven = givenKey(row.src)
	if r.nameSame = lr.EventName() == row.name; !r.nameSame {
		r.eventName = lr.EventName()
	}
	if r.tsSame = int64(lr.Timestamp()) == row.eventTime; !r.tsSame { //nolint:gosec // compared as the row's int64
		r.ts = uint64(lr.Timestamp())
	}
	r.observed = uint64(lr.ObservedTimestamp())
	r.sevNum, r.sevText, r.flags = int32(lr.SeverityNumber()), lr.SeverityText(), uint32(lr.Flags())
	row.rest = r
	return kinds
}

func refEventRowOf(loc *time.Location, src source) (row eventRow, problem string) {
	attrs := src.lr.Attributes()
	row.src = src
	ev := catalog.Accepted(src.rl.Resource(), src.lr)
	switch {
	case ev.ID == "":
		return row, "accepted record without " + catalog.AttrEventID + " or " + catalog.WireEventID
	case ev.Name == "":
		return row, "accepted record without " + catalog.AttrEventName + " or an EventName"
	case ev.Product == "":
		return row, "accepted record without " + catalog.AttrProduct + " or a service.name"
	case ev.TimeUnixNano == 0:
		return row, "accepted record without " + catalog.AttrEventTime + " or a Timestamp"
	}
	row.eventID, row.name, row.product, row.eventTime = ev.ID, ev.Name, ev.Product, ev.TimeUnixNano
	if v, ok := attrs.Get(catalog.AttrContentHash); ok {
		// Absent = unknown (a processor from before content hashes).
		if v.Type() != pcommon.ValueTypeBytes || v.Bytes().Len() != contentHashSize {
			return row, "accepted record with an " + catalog.AttrContentHash + " that is not 16 bytes"
		}
		for i := range contentHashSize { // no copy of the slice (AsRaw allocates)
			row.hash[i] = v.Bytes().At(i)
		}
		row.hasHash = true
	}
	y, m, d := time.Unix(0, row.eventTime).In(loc).Date()
	row.day = pgDay(y, m, d)
	row.month = int32(y*12 + int(m) - 1) //nolint:gosec // y is 1677..2262 (int64 nanoseconds)
	return row, ""
}

func refAppendTuple(b []byte, row *eventRow) []byte {
	b = appendInt16(b, eventFields)
	b = appendText(b, row.eventID)
	b = appendText(b, row.name)
	b = appendText(b, row.product)
	b = appendTimestamptz(b, row.eventTime)
	b = appendDate(b, row.day)
	if tid := row.src.lr.TraceID(); !tid.IsEmpty() {
		b = appendHex(b, tid[:])
	} else {
		b = appendNull(b)
	}
	if sid := row.src.lr.SpanID(); !sid.IsEmpty() {
		b = appendHex(b, sid[:])
	} else {
		b = appendNull(b)
	}

	// attributes: jsonb version 1, then every other attribute as JSON; the
	// length is filled in at the end.
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0, 1, '{')
	var keys [4]string // session_id, agent_id, ticket_id, customer_id
	var has [4]bool
	first := true
	for k, v := range row.src.lr.Attributes().All() {
		switch {
		case k == catalog.AttrMeasureMicro && v.Type() == pcommon.ValueTypeInt:
			row.measure, row.hasMeasure = v.Int(), true
			continue
		case k == catalog.AttrFlag && v.Type() == pcommon.ValueTypeBool:
			row.flag, row.hasFlag = v.Bool(), true
			continue
		case strings.HasPrefix(k, catalog.AttrPrefix), k == catalog.WireEventName, k == catalog.WireEventID:
			continue
		case v.Type() == pcommon.ValueTypeStr && (k == catalog.KeySessionID || k == catalog.KeyAgentID || k == catalog.KeyTicketID || k == catalog.KeyCustomerID):
			i := 3
			switch k {
			case catalog.KeySessionID:
				i = 0
			case catalog.KeyAgentID:
				i = 1
			case catalog.KeyTicketID:
				i = 2
			}
			keys[i], has[i] = v.Str(), true
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONValue(b, v)
	}
	b = append(b, '}')
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(b)-lenAt-4)) //nolint:gosec // a field's length, non-negative and < 2 GiB
	for i := range keys {
		if has[i] {
			b = appendText(b, keys[i])
		} else {
			b = appendNull(b)
		}
	}
	row.agentID = keys[1]
	return b
}
