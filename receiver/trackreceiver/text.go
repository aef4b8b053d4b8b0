package trackreceiver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// utf8Advice ends the message of an invalid_utf8 refusal.
const utf8Advice = ": send it as UTF-8; text that is not is refused, never rewritten"

// checkCallText refuses a call whose JSON text encoding/json would silently
// rewrite (it decodes both invalid UTF-8 and lone surrogate escapes to
// U+FFFD): the field is the top-level member holding the first problem, ""
// when it is in a key of the call itself.
func checkCallText(raw []byte) *callError {
	off, where, bad := textProblem(raw)
	if !bad {
		return nil
	}
	field := memberAt(raw, off)
	if field != "" {
		where += " in " + quote(field)
	}
	return &callError{reasonInvalidUTF8, field, "the call is not valid UTF-8 (" + where + ")" + utf8Advice}
}

// textProblem finds the first spot of the JSON text raw that does not
// decode to the text sent: a byte sequence that is not UTF-8, or a \u escape
// of a UTF-16 surrogate that is not half of a high–low pair. where
// describes it for a message ("byte 0xff at offset 12").
func textProblem(raw []byte) (off int, where string, bad bool) {
	off = -1
	if !utf8.Valid(raw) {
		off = firstInvalidByte(raw)
		where = fmt.Sprintf("byte %#02x at offset %d", raw[off], off)
	}
	if esc := loneSurrogate(raw); esc >= 0 && (off < 0 || esc < off) {
		off = esc
		where = "lone UTF-16 surrogate escape " + string(raw[esc:esc+6]) + " at offset " + strconv.Itoa(esc)
	}
	return off, where, off >= 0
}

// firstInvalidByte is the offset of the first byte of b that does not
// start a UTF-8 sequence (-1 if none).
func firstInvalidByte(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// loneSurrogate is the offset of the first \uXXXX escape of the JSON text
// raw that is a surrogate not forming a pair (a high one, \ud800–\udbff,
// followed at once by a low one, \udc00–\udfff), or -1. Backslashes occur
// only inside strings in JSON, so no string tracking is needed; other
// escapes (\\, \", \n, …) are stepped over whole.
func loneSurrogate(raw []byte) int {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			return -1
		}
		i += j
		r, ok := unicodeEscape(raw[i:])
		switch {
		case !ok:
			i += 2
		case !utf16.IsSurrogate(r):
			i += 6
		case r < 0xdc00:
			if r2, ok := unicodeEscape(raw[i+6:]); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
				i += 12
				continue
			}
			return i
		default:
			return i
		}
	}
	return -1
}

// unicodeEscape reads a \uXXXX escape at the start of b.
func unicodeEscape(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// memberAt names the member of the JSON object raw whose value holds
// offset off: "" when raw is not an object or off is not in a member's
// value (e.g. it is in a key).
func memberAt(raw []byte, off int) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil || dec.InputOffset() > int64(off) {
			return ""
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return ""
		}
		if dec.InputOffset() > int64(off) {
			return key
		}
	}
	return ""
}
