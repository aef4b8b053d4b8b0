package store

import (
	"encoding/binary"
	"io"
	"time"
)

// Binary COPY (https://www.postgresql.org/docs/current/sql-copy.html,
// "Binary Format"), encoded by hand: every accepted record's
// analytics_events tuple is encoded once, while the batch is built, into one
// buffer per batch; the COPY stream then only copies bytes. Each field is an
// int32 length (-1 = NULL) followed by the value in PostgreSQL's binary
// send format: text as its bytes, date as int32 days and timestamptz as
// int64 microseconds since 2000-01-01, jsonb as a version byte (1) and the
// JSON text. PostgreSQL validates everything it receives (UTF-8, no NUL,
// JSON syntax) exactly as for any other client, so a bad record is refused
// there and isolated (see writeItems).

// copyEventsSQL copies new rows into analytics_events; the column order is
// the tuple order of eventRow.tuple.
const copyEventsSQL = `COPY analytics_events (event_id, event_name, product, event_time, business_date,
    trace_id, span_id, attributes, session_id, agent_id, ticket_id, customer_id) FROM STDIN (FORMAT binary)`

// eventFields is the number of fields of an analytics_events tuple.
const eventFields = 12

// copyLedgerSQL copies new ids into the event-id ledger; the column order is
// the tuple order of ledgerCopy.
const copyLedgerSQL = `COPY analytics_event_ids (product, event_id, business_date, content_hash) FROM STDIN (FORMAT binary)`

// copyHeader is the binary COPY signature, flags (0) and header extension
// length (0); copyTrailer ends the stream.
var (
	copyHeader  = []byte("PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00")
	copyTrailer = []byte{0xff, 0xff}
)

const (
	// pgEpochUnix is 2000-01-01T00:00:00Z in Unix seconds, pgEpochDays in
	// days since 1970-01-01.
	pgEpochUnix = 946_684_800
	pgEpochDays = 10_957
)

// The wire format is two's complement big-endian: the signed-to-unsigned
// conversions below reinterpret the bits, which is the point.

func appendInt16(b []byte, v int16) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) } //nolint:gosec // bit reinterpretation
func appendInt32(b []byte, v int32) []byte { return binary.BigEndian.AppendUint32(b, uint32(v)) } //nolint:gosec // bit reinterpretation
func appendInt64(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(v)) } //nolint:gosec // bit reinterpretation

// appendNull appends a NULL field.
func appendNull(b []byte) []byte { return appendInt32(b, -1) }

// appendText appends a text field.
func appendText(b []byte, s string) []byte {
	// A field over 1 GB is refused by PostgreSQL whatever its length word
	// says, and pdata cannot carry a 2 GiB string: the length fits.
	b = appendInt32(b, int32(len(s))) //nolint:gosec // see above
	return append(b, s...)
}

// appendTimestamptz appends Unix nanoseconds as a timestamptz field
// (microseconds, rounded down as pgx does).
func appendTimestamptz(b []byte, unixNano int64) []byte {
	b = appendInt32(b, 8)
	return appendInt64(b, floorDiv(unixNano, 1000)-pgEpochUnix*1_000_000)
}

// appendDate appends a date field; day counts from 2000-01-01.
func appendDate(b []byte, day int32) []byte {
	b = appendInt32(b, 4)
	return appendInt32(b, day)
}

// appendHex appends raw as a text field of lower-case hex digits.
func appendHex(b []byte, raw []byte) []byte {
	b = appendInt32(b, int32(2*len(raw))) //nolint:gosec // trace/span ids: 16 or 8 bytes
	for _, c := range raw {
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// pgDay returns the date y-m-d as days since 2000-01-01 (proleptic
// Gregorian; m and d out of range are normalised as time.Date does). It
// is H. Hinnant's days_from_civil, without time.Date's work.
func pgDay(y int, m time.Month, d int) int32 {
	mo := int(m) - 1 // 0..11 after normalising
	y += floorDivInt(mo, 12)
	mo -= floorDivInt(mo, 12) * 12
	if mo < 2 { // the year starts on March 1: February's leap day is its last
		y--
	}
	era := floorDivInt(y, 400)
	yoe := y - era*400                     // 0..399
	doy := (153*((mo+10)%12)+2)/5 + d - 1  // day of the year from March 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy // day of the era
	// Event times are int64 nanoseconds (years 1677–2262): ±150,000 days.
	return int32(era*146097 + doe - 719468 - pgEpochDays) //nolint:gosec // see above
}

func floorDivInt(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// dayTime returns the midnight UTC of a day counted from 2000-01-01.
func dayTime(day int32) time.Time {
	return time.Unix((int64(day)+pgEpochDays)*86400, 0).UTC()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// eventsReader streams the binary COPY of events[order[...]] into
// analytics_events without assembling it in one more buffer: each Read
// fills p with as many whole or partial tuples as fit.
type eventsReader struct {
	events  []eventRow
	order   []int32
	next    int    // next index into order
	rest    []byte // unread part of the current piece
	trailer bool   // the trailer is in rest or sent
}

func newEventsReader(events []eventRow, order []int32) *eventsReader {
	return &eventsReader{events: events, order: order, rest: copyHeader}
}

func (r *eventsReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.rest) == 0 {
			switch {
			case r.next < len(r.order):
				r.rest = r.events[r.order[r.next]].tuple
				r.next++
			case !r.trailer:
				r.rest, r.trailer = copyTrailer, true
			default:
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
		}
		c := copy(p[n:], r.rest)
		r.rest = r.rest[c:]
		n += c
	}
	return n, nil
}

// ledgerReader streams the binary COPY of the ledger rows of
// events[order[...]] (product, event id, business day and content hash,
// NULL when unknown), encoding a few rows at a time into one small buffer
// instead of the whole COPY into one as big as the batch.
type ledgerReader struct {
	events  []eventRow
	order   []int32
	next    int    // next index into order
	buf     []byte // the rows encoded last
	rest    []byte // unread part of buf
	started bool   // the header is in buf or sent
	trailer bool   // the trailer is in buf or sent
}

// ledgerChunk is about how many bytes of rows ledgerReader encodes at a time.
const ledgerChunk = 16 << 10

func newLedgerReader(events []eventRow, order []int32) *ledgerReader {
	return &ledgerReader{events: events, order: order}
}

func (r *ledgerReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.rest) == 0 {
			if r.trailer {
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
			r.fill()
		}
		c := copy(p[n:], r.rest)
		r.rest = r.rest[c:]
		n += c
	}
	return n, nil
}

// fill encodes the next rows (after the header, before the trailer) into
// r.buf.
func (r *ledgerReader) fill() {
	b := r.buf[:0]
	if b == nil {
		b = make([]byte, 0, ledgerChunk+256)
	}
	if !r.started {
		b, r.started = append(b, copyHeader...), true
	}
	for r.next < len(r.order) && len(b) < ledgerChunk {
		e := &r.events[r.order[r.next]]
		r.next++
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
	if r.next == len(r.order) {
		b, r.trailer = append(b, copyTrailer...), true
	}
	r.buf, r.rest = b, b
}
