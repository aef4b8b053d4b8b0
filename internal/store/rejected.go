package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// MaxRawBytes bounds the raw form stored with a rejected record: of a longer
// OTLP/JSON only the first MaxRawBytes bytes are stored (raw_truncated), with
// the size and sha256 of the whole (raw_size, raw_sha256), so a rejected row
// costs at most this much whatever was sent, and a person can still tell
// what it was. A record the eventcatalog processor cut already
// (catalog.AttrRawTruncated) keeps the processor's size and sha256.
const MaxRawBytes = 64 << 10

// The text columns of a rejected row are cut (with "…") to these sizes, so
// the row is bounded too; the record's own values stay in raw.
const (
	maxRejectedText    = 1 << 10 // field, event_name, product, event_id
	maxRejectedMessage = 4 << 10 // message
)

// rejectKeySize is the size of dedup_key (and of catalog.AttrRejectKey).
const rejectKeySize = 16

// msgNotNormalised is the message of a record that reached the exporter
// without the normalised attributes.
const msgNotNormalised = "the eventcatalog processor must run before the analytics exporter"

// rejectedRow is one record for analytics_rejected_events. Every text field
// is sanitised (valid UTF-8, no NUL) and bounded so that its insert cannot
// fail; dedupKey makes a resent record land on the row stored before.
type rejectedRow struct {
	reason       string
	field        string
	message      string
	eventName    string // "" = NULL
	product      string // "" = NULL
	eventID      string // "" = NULL
	eventTime    time.Time
	hasTime      bool
	raw          []byte // at most MaxRawBytes, or a note (fallback)
	rawSize      int64  // size of the whole raw form
	rawSHA256    []byte // sha256 of the whole raw form; nil = not known
	rawTruncated bool   // raw is not the whole raw form
	dedupKey     [rejectKeySize]byte
	fallback     bool // the stand-in of a row PostgreSQL refused (see fallbackRow)
}

// rejectedFromRecord builds the rejected row of a record the eventcatalog
// processor marked rejected. Its dedup key is the processor's
// catalog.AttrRejectKey, or (from a processor without one) the store's key
// of its content.
func rejectedFromRecord(src source) rejectedRow {
	attrs := src.lr.Attributes()
	r := rejectedRow{
		reason:    strAttr(attrs, catalog.AttrRejectReason),
		field:     strAttr(attrs, catalog.AttrRejectField),
		message:   strAttr(attrs, catalog.AttrRejectMessage),
		eventName: strAttr(attrs, catalog.AttrEventName),
		product:   strAttr(attrs, catalog.AttrProduct),
		eventID:   strAttr(attrs, catalog.AttrEventID),
	}
	if r.reason == "" {
		r.reason = "unspecified"
	}
	if v, ok := attrs.Get(catalog.AttrEventTime); ok && v.Type() == pcommon.ValueTypeInt {
		r.eventTime, r.hasTime = time.Unix(0, v.Int()).UTC(), true
	}
	r.sanitise()
	whole := r.setRaw(src)
	if k, ok := givenKey(src); ok {
		r.dedupKey = k
	} else {
		r.dedupKey = rejectKey(r.reason, r.product, r.eventID, whole)
	}
	return r
}

// givenKey returns the record's catalog.AttrRejectKey, if it has a usable
// one. On a rejected record the processor set it; on an accepted record
// analyticsctl replay-rejected did: it is the key of the rejected row the
// record was read from, so a refusal or conflict of the replayed record
// lands on that row instead of adding one.
func givenKey(src source) (k [rejectKeySize]byte, ok bool) {
	v, ok := src.lr.Attributes().Get(catalog.AttrRejectKey)
	if !ok || v.Type() != pcommon.ValueTypeBytes || v.Bytes().Len() != rejectKeySize {
		return k, false
	}
	for i := range rejectKeySize {
		k[i] = v.Bytes().At(i)
	}
	return k, true
}

// notNormalised builds the rejected row of a record without (or with
// broken) normalised attributes. It keeps what the wire form tells.
func notNormalised(src source, problem string) rejectedRow {
	attrs := src.lr.Attributes()
	name := src.lr.EventName()
	if name == "" {
		name = strAttr(attrs, catalog.WireEventName)
	}
	product := ""
	if v, ok := src.rl.Resource().Attributes().Get("service.name"); ok {
		product = v.AsString()
	}
	msg := msgNotNormalised
	if problem != "" {
		msg += " (" + problem + ")"
	}
	r := rejectedRow{
		reason:    string(catalog.ReasonNotNormalised),
		message:   msg,
		eventName: name,
		product:   product,
		eventID:   strAttr(attrs, catalog.WireEventID),
	}
	if ts := src.lr.Timestamp(); ts != 0 {
		r.eventTime, r.hasTime = ts.AsTime().UTC(), true
	}
	r.sanitise()
	r.dedupKey = rejectKey(r.reason, r.product, r.eventID, r.setRaw(src))
	return r
}

// refused turns an event row PostgreSQL refused into a rejected row (its key:
// of its raw form, or, replayed, the key given).
func refused(e *eventRow, pgMessage string) rejectedRow {
	return eventRejected(e, catalog.ReasonStorageRefused, "", pgMessage, false)
}

// conflictRow is the rejected row of e, an accepted record whose product and
// id were stored (on business day storedDay, or earlier in the batch) with a
// different content. Its dedup key is of its content hash, so the same
// conflicting record resent is stored once (or, replayed, the key given).
func conflictRow(e *eventRow, storedDay int32) rejectedRow {
	return eventRejected(e, catalog.ReasonDuplicateConflict, catalog.WireEventID,
		fmt.Sprintf("event.id %q of product %s was already stored with different content (first stored on business day %s); "+
			"the stored event is kept and counted once — send a new event.id for a new event",
			e.eventID, e.product, dayTime(storedDay).Format(time.DateOnly)), true)
}

// eventRejected is the rejected row of event row e (a record the processor
// accepted) for reason, field and message. Its dedup key: the key given, for
// a replayed record; else, with byHash, of e's content hash when it has one
// (the same record resent is stored once); else of its raw form.
func eventRejected(e *eventRow, reason catalog.Reason, field, message string, byHash bool) rejectedRow {
	r := rejectedRow{
		reason:    string(reason),
		field:     field,
		message:   message,
		eventName: e.name,
		product:   e.product,
		eventID:   e.eventID,
		eventTime: time.Unix(0, e.eventTime).UTC(),
		hasTime:   true,
	}
	r.sanitise()
	src := e.source()
	whole := r.setRaw(src)
	switch k, ok := givenKey(src); {
	case ok: // a replayed record
		r.dedupKey = k
	case byHash && e.hasHash:
		r.dedupKey = rejectKey(r.reason, r.product, r.eventID, e.hash[:])
	default:
		r.dedupKey = rejectKey(r.reason, r.product, r.eventID, whole)
	}
	return r
}

// fallbackRow stands in for r when PostgreSQL refused to store r itself
// (with pgMessage): it keeps r's reason, dedup key and raw size and sha256,
// and in raw a short JSON note of what r said (cut), instead of the record;
// every other column is empty. Nothing in it depends on what was sent but
// the reason.
func fallbackRow(r *rejectedRow, pgMessage string) rejectedRow {
	const maxNoteText = 256
	note := struct {
		Note         string `json:"note"`
		Field        string `json:"field,omitempty"`
		Message      string `json:"message,omitempty"`
		EventName    string `json:"event_name,omitempty"`
		Product      string `json:"product,omitempty"`
		EventID      string `json:"event_id,omitempty"`
		EventTime    string `json:"event_time,omitempty"`
		RawSize      int64  `json:"raw_size"`
		RawSHA256    string `json:"raw_sha256,omitempty"`
		RawTruncated bool   `json:"raw_truncated,omitempty"`
	}{
		Note:         "PostgreSQL refused to store this rejected record; this note stands in for it",
		Field:        cutText(r.field, maxNoteText),
		Message:      cutText(r.message, maxNoteText),
		EventName:    cutText(r.eventName, maxNoteText),
		Product:      cutText(r.product, maxNoteText),
		EventID:      cutText(r.eventID, maxNoteText),
		RawSize:      r.rawSize,
		RawSHA256:    hex.EncodeToString(r.rawSHA256),
		RawTruncated: r.rawTruncated,
	}
	if r.hasTime {
		note.EventTime = r.eventTime.Format(time.RFC3339Nano)
	}
	js, err := json.Marshal(note)
	if err != nil { // not expected: strings and numbers only
		js = []byte(`{"note":"PostgreSQL refused to store this rejected record"}`)
	}
	f := rejectedRow{
		reason: r.reason,
		message: "PostgreSQL refused to store this rejected record (" + pgMessage + "); raw holds a note instead: " +
			"what the record said (cut), and the size and sha256 of its raw form",
		raw:          js,
		rawSize:      r.rawSize,
		rawSHA256:    r.rawSHA256,
		rawTruncated: true,
		dedupKey:     r.dedupKey,
		fallback:     true,
	}
	f.sanitise()
	return f
}

// setRaw sets r's raw form from src, bounded (see MaxRawBytes), and returns
// the whole raw form as far as the store has it (the key's content).
func (r *rejectedRow) setRaw(src source) []byte {
	attrs := src.lr.Attributes()
	if v, ok := attrs.Get(catalog.AttrRawTruncated); ok && v.Type() == pcommon.ValueTypeBool && v.Bool() &&
		src.lr.Body().Type() == pcommon.ValueTypeStr {
		// Cut by the processor: the body holds the first bytes of the
		// record's OTLP/JSON, the attributes describe the whole.
		cut := []byte(src.lr.Body().Str())
		r.rawSize, r.rawTruncated = int64(len(cut)), true
		if v, ok := attrs.Get(catalog.AttrRawSize); ok && v.Type() == pcommon.ValueTypeInt && v.Int() >= int64(len(cut)) {
			r.rawSize = v.Int()
		}
		if v, ok := attrs.Get(catalog.AttrRawSHA256); ok && v.Type() == pcommon.ValueTypeStr {
			if sum, err := hex.DecodeString(v.Str()); err == nil && len(sum) == sha256.Size {
				r.rawSHA256 = sum
			}
		}
		r.raw = cut
		if len(cut) > MaxRawBytes {
			r.raw = bytes.Clone(cut[:MaxRawBytes])
		}
		return cut
	}
	whole := rawJSON(src)
	sum := sha256.Sum256(whole)
	r.rawSize, r.rawSHA256, r.raw = int64(len(whole)), sum[:], whole
	if len(whole) > MaxRawBytes {
		r.raw, r.rawTruncated = bytes.Clone(whole[:MaxRawBytes]), true
	}
	return whole
}

// rejectKey is the dedup key of a rejected row the store builds itself: the
// first 16 bytes of sha256(reason, NUL, product, NUL, eventID, NUL,
// content), with the row's stored (sanitised, cut) texts. Migration 006's
// analytics_rejected_key computes the same in SQL.
func rejectKey(reason, product, eventID string, content []byte) [rejectKeySize]byte {
	h := sha256.New()
	for _, s := range [...]string{reason, product, eventID} {
		_, _ = h.Write([]byte(s)) // a hash.Hash never fails
		_, _ = h.Write([]byte{0})
	}
	_, _ = h.Write(content)
	var k [rejectKeySize]byte
	copy(k[:], h.Sum(nil))
	return k
}

// sanitise makes the text fields storable and bounded.
func (r *rejectedRow) sanitise() {
	r.reason = cutText(sanitise(r.reason), maxRejectedText)
	r.field = cutText(sanitise(r.field), maxRejectedText)
	r.message = cutText(sanitise(r.message), maxRejectedMessage)
	r.eventName = cutText(sanitise(r.eventName), maxRejectedText)
	r.product = cutText(sanitise(r.product), maxRejectedText)
	r.eventID = cutText(sanitise(r.eventID), maxRejectedText)
}

// cutText returns s (valid UTF-8) cut to at most n bytes on a character
// boundary, ending in "…" when it was cut.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	i := n - len(ellipsis)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + ellipsis
}

// sanitise makes s storable in a text column: valid UTF-8, no NUL.
func sanitise(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

func strAttr(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok {
		return v.AsString()
	}
	return ""
}
