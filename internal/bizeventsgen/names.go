package bizeventsgen

import (
	"go/token"
	"strings"
	"unicode"
)

// initialisms are written in upper case inside Go identifiers (Go's naming
// convention: sessionID, not sessionId).
var initialisms = map[string]string{
	"id":   "ID",
	"ids":  "IDs",
	"ai":   "AI",
	"api":  "API",
	"url":  "URL",
	"uri":  "URI",
	"http": "HTTP",
	"sla":  "SLA",
	"ip":   "IP",
	"uuid": "UUID",
	"sku":  "SKU",
	"json": "JSON",
}

// words splits a catalog name (dotted words with underscores, such as
// "agent.session_takeover" or "response_time_ms") into its lower-case words.
func words(name string) []string {
	return strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// exported turns a catalog name into an exported Go identifier:
// "agent.session_takeover" → "AgentSessionTakeover", "session_id" →
// "SessionID".
func exported(name string) string {
	var b strings.Builder
	for _, w := range words(name) {
		if up, ok := initialisms[w]; ok {
			b.WriteString(up)
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	s := b.String()
	if s == "" || !unicode.IsLetter(rune(s[0])) {
		s = "X" + s
	}
	return s
}

// unexported turns a catalog name into an unexported Go identifier:
// "session_id" → "sessionID", "sla_met" → "slaMet".
func unexported(name string) string {
	ws := words(name)
	if len(ws) == 0 {
		return "x"
	}
	first := ws[0]
	if first == "" || !unicode.IsLetter(rune(first[0])) {
		first = "x" + first
	}
	if len(ws) == 1 {
		return first
	}
	return first + exported(strings.Join(ws[1:], "_"))
}

// reservedParams are names a generated method already uses or that would
// shadow something the method body needs.
var reservedParams = map[string]bool{
	"ctx": true, "opts": true, "e": true, "c": true, "cfg": true, "o": true,
	"attribute": true, "log": true, "time": true, "context": true, "uuid": true,
	"string": true, "int64": true, "float64": true, "bool": true,
	"len": true, "append": true, "make": true, "nil": true, "true": true, "false": true,
}

// paramName is the parameter name of a required attribute.
func paramName(attr string) string {
	p := unexported(attr)
	if token.IsKeyword(p) || reservedParams[p] {
		p += "Arg"
	}
	return p
}

// isIdentifierValue reports whether an allowed string value can name a Go
// constant (letters, digits, '_', '-', '.', ' ').
func isIdentifierValue(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		if r > unicode.MaxASCII || (!unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' && r != '.' && r != ' ') {
			return false
		}
	}
	return len(words(v)) > 0
}
