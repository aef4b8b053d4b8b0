package trackreceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// JSON values to pcommon values: the properties and the context of a call
// become attribute values with their JSON types kept.

// valueError is a JSON value that cannot become an attribute value; path
// locates it ("price", "items[2].qty").
type valueError struct {
	path string
	msg  string
}

func (e *valueError) Error() string { return e.path + ": " + e.msg }

func (e *valueError) under(key string) *valueError {
	switch {
	case e.path == "":
		e.path = key
	case strings.HasPrefix(e.path, "["):
		e.path = key + e.path
	default:
		e.path = key + "." + e.path
	}
	return e
}

// fillMap puts the members of the JSON object raw into dst, in order (a
// repeated key: the last value wins, in the first one's place). With
// dropNulls, a null member is left out (and removes an earlier one).
func fillMap(dst pcommon.Map, raw json.RawMessage, dropNulls bool) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return &valueError{msg: err.Error()}
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &valueError{msg: "not a JSON object"}
	}
	return fillObject(dec, dst, dropNulls)
}

func fillObject(dec *json.Decoder, dst pcommon.Map, dropNulls bool) error {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return &valueError{msg: err.Error()}
		}
		k, ok := tok.(string)
		if !ok {
			return &valueError{msg: "object key is not a string"}
		}
		v := dst.PutEmpty(k)
		if err := fillValue(dec, v); err != nil {
			var ve *valueError
			if errors.As(err, &ve) {
				return ve.under(k)
			}
			return err
		}
		if dropNulls && v.Type() == pcommon.ValueTypeEmpty {
			dst.Remove(k)
		}
	}
	_, err := dec.Token() // '}'
	if err != nil {
		return &valueError{msg: err.Error()}
	}
	return nil
}

// fillValue reads the next JSON value of dec into v: string → Str, true and
// false → Bool, an integer written without fraction or exponent that fits
// int64 → Int, any other number → Double, object → Map, array → Slice, null
// → an empty value.
func fillValue(dec *json.Decoder, v pcommon.Value) error {
	tok, err := dec.Token()
	if err != nil {
		return &valueError{msg: err.Error()}
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return fillObject(dec, v.SetEmptyMap(), false)
		case '[':
			s := v.SetEmptySlice()
			for i := 0; dec.More(); i++ {
				if err := fillValue(dec, s.AppendEmpty()); err != nil {
					var ve *valueError
					if errors.As(err, &ve) {
						return ve.under("[" + strconv.Itoa(i) + "]")
					}
					return err
				}
			}
			if _, err := dec.Token(); err != nil { // ']'
				return &valueError{msg: err.Error()}
			}
			return nil
		}
		return &valueError{msg: "unexpected " + t.String()}
	case string:
		v.SetStr(t)
	case bool:
		v.SetBool(t)
	case json.Number:
		return setNumber(v, t)
	case nil:
		// null: left empty
	}
	return nil
}

// setNumber stores a JSON number: Int when written as an integer (no
// fraction, no exponent) that fits int64, else Double. A double is accepted
// where the catalog wants an int only if it is not, so 3 → Int(3) while 3.0
// and 3e0 → Double(3).
func setNumber(v pcommon.Value, n json.Number) error {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			v.SetInt(i)
			return nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if math.IsInf(f, 0) || (err != nil && !errors.Is(err, strconv.ErrRange)) {
		return &valueError{msg: "number " + quote(s) + " is out of range"}
	}
	v.SetDouble(f)
	return nil
}

// mergeMissing copies into dst every entry of src that dst lacks, merging
// maps present in both (dst's values win).
func mergeMissing(dst, src pcommon.Map) {
	for k, sv := range src.All() {
		dv, ok := dst.Get(k)
		if !ok {
			sv.CopyTo(dst.PutEmpty(k))
			continue
		}
		if dv.Type() == pcommon.ValueTypeMap && sv.Type() == pcommon.ValueTypeMap {
			mergeMissing(dv.Map(), sv.Map())
		}
	}
}
