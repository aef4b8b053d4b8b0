package trackreceiver

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTextProblem(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		off   int // -1: none
		where string
	}{
		{"ascii", `{"a":"b"}`, -1, ""},
		{"utf-8", `{"a":"é☕😀"}`, -1, ""},
		{"U+FFFD sent as is", "{\"a\":\"\uFFFD\"}", -1, ""},
		{"pair", `"\ud83d\ude00"`, -1, ""},
		{"pair, upper case", `"\uD83D\uDE00"`, -1, ""},
		{"highest pair", `"\udbff\udfff"`, -1, ""},
		{"not surrogates", `"\u0041\uffff\ud7ff\ue000"`, -1, ""},
		{"escaped backslash", `"\\ud800"`, -1, ""},
		{"other escapes", `"\n\"\/\\\t"`, -1, ""},
		{"lone high", `"\ud800"`, 1, `lone UTF-16 surrogate escape \ud800 at offset 1`},
		{"lone high at the end", `"x\ud800`, 2, `lone UTF-16 surrogate escape \ud800 at offset 2`},
		{"high then high", `"\ud800\ud800\udc00"`, 1, `lone UTF-16 surrogate escape \ud800 at offset 1`},
		{"high then not a surrogate", `"\ud800\u0041"`, 1, `lone UTF-16 surrogate escape \ud800 at offset 1`},
		{"high then text", `"\ud800x"`, 1, `lone UTF-16 surrogate escape \ud800 at offset 1`},
		{"lone low", `"ab\uDC00"`, 3, `lone UTF-16 surrogate escape \uDC00 at offset 3`},
		{"escaped backslash then lone", `"\\\ud800"`, 3, `lone UTF-16 surrogate escape \ud800 at offset 3`},
		{"pair then lone", `"\ud83d\ude00\ude00"`, 13, `lone UTF-16 surrogate escape \ude00 at offset 13`},
		{"invalid byte", "\"a\xffb\"", 2, "byte 0xff at offset 2"},
		{"truncated rune", "\"\xe2\x98\"", 1, "byte 0xe2 at offset 1"},
		{"encoded surrogate", "\"\xed\xa0\x80\"", 1, "byte 0xed at offset 1"},
		{"overlong", "\"\xc0\xaf\"", 1, "byte 0xc0 at offset 1"},
		{"invalid byte before a lone escape", "\"\xff\\ud800\"", 1, "byte 0xff at offset 1"},
		{"lone escape before an invalid byte", "\"\\ud800\xff\"", 1, `lone UTF-16 surrogate escape \ud800 at offset 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, where, bad := textProblem([]byte(tt.raw))
			assert.Equal(t, tt.off >= 0, bad)
			assert.Equal(t, tt.off, off)
			assert.Equal(t, tt.where, where)
		})
	}
}

func TestMemberAt(t *testing.T) {
	raw := `{"event":"e", "properties" : {"k":"v"},"ctx":[1]}`
	tests := []struct {
		off  int
		want string
	}{
		{strings.Index(raw, `"e"`) + 1, "event"},
		{strings.Index(raw, `"v"`), "properties"},
		{strings.Index(raw, `[1]`) + 1, "ctx"},
		{2, ""}, // in a key
		{len(raw), ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, memberAt([]byte(raw), tt.off), tt.off)
	}
	assert.Empty(t, memberAt([]byte(`["event"]`), 2), "not an object")
}
