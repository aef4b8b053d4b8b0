package normalize

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-analytics/otelcol-analytics/internal/catalog"
)

// checkContentSequential is checks 0 to 3 as separate walks, one check
// after the other: the reference checkContent must agree with.
func (n *Normalizer) checkContentSequential(name, product string, attrs pcommon.Map, body, idVal pcommon.Value, hasID bool) *rejection {
	if r := n.checkDepth(attrs, body); r != nil {
		return r
	}
	if r := textProblem(FieldEventName, "the event name", name); r != nil {
		return r
	}
	if r := textProblem(FieldProduct, "resource attribute service.name", product); r != nil {
		return r
	}
	var rej *rejection
	attrs.Range(func(k string, v pcommon.Value) bool {
		if badText(k) {
			rej = textProblem(safeField(k), "attribute name "+quote(k), k)
			return false
		}
		if k == catalog.WireEventID {
			return true
		}
		if r := valueText(v); r != "" {
			what := "attribute " + quote(k)
			if v.Type() != pcommon.ValueTypeStr {
				what = "a value nested in attribute " + quote(k)
			}
			rej = textProblem(safeField(k), what, r)
			return false
		}
		return true
	})
	if rej != nil {
		return rej
	}
	if hasID {
		if r := checkEventID(idVal); r != nil {
			return r
		}
	}
	return n.checkSize(name, product, attrs, body)
}

func randText(r *rand.Rand, maxLen int) string {
	var b strings.Builder
	for range r.IntN(maxLen + 1) {
		switch r.IntN(40) {
		case 0:
			b.WriteByte(0)
		case 1:
			b.WriteByte(0xff)
		case 2:
			b.WriteString("é")
		default:
			b.WriteByte(byte('a' + r.IntN(26)))
		}
	}
	return b.String()
}

func randKey(r *rand.Rand) string {
	switch r.IntN(12) {
	case 0:
		return catalog.WireEventID
	case 1:
		return strings.Repeat("k", 250+r.IntN(10))
	}
	return randText(r, 6)
}

func randValue(r *rand.Rand, v pcommon.Value, depth int) {
	kind := r.IntN(8)
	if depth <= 0 && kind >= 6 {
		kind = r.IntN(6)
	}
	switch kind {
	case 0, 1:
		v.SetStr(randText(r, 12))
	case 2:
		v.SetStr(strings.Repeat("v", r.IntN(80)))
	case 3:
		v.SetInt(r.Int64())
	case 4:
		v.SetEmptyBytes().FromRaw(make([]byte, r.IntN(80)))
	case 5:
		if r.IntN(2) == 0 {
			v.SetBool(true)
		} // else: left empty
	case 6:
		m := v.SetEmptyMap()
		for range r.IntN(4) {
			randValue(r, m.PutEmpty(randKey(r)), depth-1)
		}
	case 7:
		s := v.SetEmptySlice()
		for range r.IntN(4) {
			randValue(r, s.AppendEmpty(), depth-1)
		}
	}
}

func TestCheckContentMatchesSequentialChecks(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	reasons := map[catalog.Reason]int{}
	fields := map[string]int{}
	cat := catalog.Default()
	for i := range 50000 {
		n := New(cat, Limits{
			MaxAttributes: 1 + r.IntN(8), MaxValueBytes: 1 + r.IntN(100),
			MaxRecordBytes: 1 + r.IntN(600), MaxDepth: 1 + r.IntN(4),
		})
		attrs := pcommon.NewMap()
		for range r.IntN(9) {
			randValue(r, attrs.PutEmpty(randKey(r)), 6)
		}
		body := pcommon.NewValueEmpty()
		if r.IntN(2) == 0 {
			randValue(r, body, 6)
		}
		name, product := randText(r, 10), randText(r, 10)
		if r.IntN(30) == 0 {
			name = strings.Repeat("n", 257)
		}
		if r.IntN(30) == 0 {
			product = strings.Repeat("p", 257)
		}
		idVal, hasID := attrs.Get(catalog.WireEventID)
		want := n.checkContentSequential(name, product, attrs, body, idVal, hasID)
		got := n.checkContent(name, product, attrs, body, idVal, hasID)
		if (want == nil) != (got == nil) || (want != nil && *want != *got) {
			t.Fatalf("case %d: checkContent = %+v, the checks one after the other = %+v\nattrs %v\nbody %v", i, got, want, attrs.AsRaw(), body.AsRaw())
		}
		if want != nil {
			reasons[want.reason]++
			if want.reason == catalog.ReasonTooLarge {
				fields[want.field]++
			}
		} else {
			reasons["ok"]++
		}
	}
	t.Log(reasons, fields[FieldAttributes], fields[FieldRecord], fields[FieldEventName], fields[FieldProduct])
	if fields[FieldRecord] < 100 {
		t.Errorf("only %d records over max_record_bytes", fields[FieldRecord])
	}
	for _, reason := range []catalog.Reason{
		"ok", catalog.ReasonTooDeep, catalog.ReasonNulByte, catalog.ReasonInvalidUTF8,
		catalog.ReasonInvalidEventID, catalog.ReasonTooLarge,
	} {
		if reasons[reason] < 100 {
			t.Errorf("only %d cases of %s: the generator does not cover it", reasons[reason], reason)
		}
	}
}

func TestBadTextMatchesFullCheck(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "b", "\x00", "é", "€", "\xff", "\xc3", "\xe2\x82", "𝄞", "\x7f", "\x80"}
	for i := range 200000 {
		var b strings.Builder
		for range r.IntN(40) {
			if r.IntN(6) == 0 {
				b.WriteString(alphabet[r.IntN(len(alphabet))])
			} else {
				b.WriteByte(byte(' ' + r.IntN(90)))
			}
		}
		s := b.String()
		if got, want := badText(s), badTextFrom(s); got != want {
			t.Fatalf("case %d: badText(%q) = %v, want %v", i, s, got, want)
		}
	}
}

func TestKeyOrderIsStable(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 20000 {
		var a, b []kv
		for j := range r.IntN(40) {
			k := string(rune('a' + r.IntN(6)))
			if r.IntN(3) == 0 {
				k += string(rune('a' + r.IntN(3)))
			}
			a = append(a, kv{k, pcommon.NewValueInt(int64(j))})
			b = append(b, kv{k, pcommon.NewValueInt(int64(j))})
		}
		var buf [16]uint8
		order := keyOrder(a, &buf)
		slices.SortStableFunc(b, cmpKV)
		for j := range a {
			e := a[j]
			if order != nil {
				e = a[order[j]]
			}
			if e.k != b[j].k || e.v.Int() != b[j].v.Int() {
				t.Fatalf("case %d: keyOrder at %d: %s/%d, want %s/%d", i, j, e.k, e.v.Int(), b[j].k, b[j].v.Int())
			}
		}
	}
}
