package counters

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"
)

// Sum is a signed 128-bit integer: the sum of a measure in millionths. One
// event's measure is at most catalog.MaxMeasure (10^12 units, 10^18
// millionths), so a Sum holds the sum of more than 10^20 such events: no
// input the ingest side lets through can overflow it, whatever the traffic.
// The rollup tables keep it as numeric; Redis keeps it as a 64-bit integer
// and refuses, whole and visibly, a batch that would leave that range
// (ErrOverflow).
//
// The zero value is 0; Sums compare with ==.
type Sum struct {
	hi int64
	lo uint64
}

// SumOf returns v as a Sum.
func SumOf(v int64) Sum {
	s := Sum{lo: uint64(v)} //nolint:gosec // two's complement on purpose
	if v < 0 {
		s.hi = -1
	}
	return s
}

// Add returns s + o. It wraps at ±2^127, which no sum of bounded measures
// reaches (see Sum).
func (s Sum) Add(o Sum) Sum {
	lo, carry := bits.Add64(s.lo, o.lo, 0)
	return Sum{hi: s.hi + o.hi + int64(carry), lo: lo} //nolint:gosec // carry is 0 or 1
}

// Int64 returns s as an int64 and whether it fits.
func (s Sum) Int64() (int64, bool) {
	v := int64(s.lo) //nolint:gosec // two's complement on purpose
	return v, (s.hi == 0 && v >= 0) || (s.hi == -1 && v < 0)
}

// Big returns s as a big.Int.
func (s Sum) Big() *big.Int {
	b := new(big.Int).SetInt64(s.hi)
	b.Lsh(b, 64)
	return b.Add(b, new(big.Int).SetUint64(s.lo))
}

// Rat returns s / 10^6 exactly: the sum in the measure's unit.
func (s Sum) Rat() *big.Rat { return new(big.Rat).SetFrac(s.Big(), big.NewInt(1_000_000)) }

// Float64 returns s / 10^6 rounded to the nearest float64.
func (s Sum) Float64() float64 {
	f, _ := s.Rat().Float64()
	return f
}

var (
	two127    = new(big.Int).Lsh(big.NewInt(1), 127)
	minSum    = new(big.Int).Neg(two127)
	mask64    = new(big.Int).SetUint64(math.MaxUint64)
	errRange  = errors.New("counters: sum outside the signed 128-bit range")
	errFormat = errors.New("counters: a sum must be an integer")
)

// SumFromBig returns b as a Sum; it fails when b does not fit 128 bits.
func SumFromBig(b *big.Int) (Sum, error) {
	if b.Cmp(two127) >= 0 || b.Cmp(minSum) < 0 {
		return Sum{}, errRange
	}
	lo := new(big.Int).And(b, mask64).Uint64() // two's complement low word
	hi := new(big.Int).Rsh(b, 64).Int64()      // arithmetic shift: floor
	return Sum{hi: hi, lo: lo}, nil
}

// ParseSum parses a decimal integer.
func ParseSum(s string) (Sum, error) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return SumOf(v), nil
	}
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return Sum{}, fmt.Errorf("counters: %q is not a decimal integer", s)
	}
	return SumFromBig(b)
}

// String returns s in decimal.
func (s Sum) String() string {
	if v, ok := s.Int64(); ok {
		return strconv.FormatInt(v, 10)
	}
	return s.Big().String()
}

// MarshalJSON encodes s as a JSON number (the outbox's deltas).
func (s Sum) MarshalJSON() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalJSON decodes a JSON integer (also one written as an int64 before
// Sum existed).
func (s *Sum) UnmarshalJSON(data []byte) error {
	v, err := ParseSum(string(data))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// IsZero reports whether s is 0 (for encoding/json's omitzero).
func (s Sum) IsZero() bool { return s == Sum{} }

// ScanNumeric lets pgx scan a numeric (or bigint) column into s.
func (s *Sum) ScanNumeric(n pgtype.Numeric) error {
	if !n.Valid {
		*s = Sum{}
		return nil
	}
	if n.NaN || n.InfinityModifier != pgtype.Finite {
		return errFormat
	}
	b := new(big.Int).Set(n.Int)
	if n.Exp > 0 {
		b.Mul(b, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n.Exp)), nil))
	} else if n.Exp < 0 {
		q, r := new(big.Int).QuoRem(b, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-n.Exp)), nil), new(big.Int))
		if r.Sign() != 0 {
			return errFormat
		}
		b = q
	}
	v, err := SumFromBig(b)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// NumericValue lets pgx send s as a numeric parameter.
func (s Sum) NumericValue() (pgtype.Numeric, error) {
	return pgtype.Numeric{Int: s.Big(), Valid: true}, nil
}

// ScanInt64 lets pgx scan a bigint column (or a sum cast to bigint) into s.
func (s *Sum) ScanInt64(v pgtype.Int8) error {
	*s = SumOf(v.Int64) // NULL (v.Valid false) is 0
	return nil
}
