package stats

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// Lang is the language of display strings and the story.
type Lang string

// The supported languages. zh is the default.
const (
	LangZH Lang = "zh"
	LangEN Lang = "en"
)

// ParseLang validates a lang query parameter; "" is zh.
func ParseLang(s string) (Lang, error) {
	switch s {
	case "", "zh":
		return LangZH, nil
	case "en":
		return LangEN, nil
	}
	if len(s) > 16 {
		s = s[:16] + "…"
	}
	return "", fmt.Errorf("invalid lang %q: want zh or en", s)
}

// NoData is the display string of a metric whose denominator is zero.
func NoData(l Lang) string {
	if l == LangEN {
		return "no data"
	}
	return "暂无数据"
}

var bigTen = big.NewInt(10)

// roundHalfUp returns r × 10^decimals rounded half away from zero (half up
// for the non-negative numbers every metric is).
func roundHalfUp(r *big.Rat, decimals int) *big.Int {
	scale := new(big.Int).Exp(bigTen, big.NewInt(int64(decimals)), nil)
	num := new(big.Int).Mul(r.Num(), scale)
	den := r.Denom()
	neg := num.Sign() < 0
	num.Abs(num)
	// floor((2·num + den) / (2·den)) = round half up of num/den.
	num.Mul(num, big.NewInt(2)).Add(num, den)
	q := num.Quo(num, new(big.Int).Mul(den, big.NewInt(2)))
	if neg {
		q.Neg(q)
	}
	return q
}

// decimalString formats n / 10^decimals with exactly `decimals` digits after
// the point; with dropZero a fractional part of all zeros is left out.
func decimalString(n *big.Int, decimals int, dropZero bool) string {
	s := new(big.Int).Abs(n).String()
	sign := ""
	if n.Sign() < 0 {
		sign = "-"
	}
	if decimals == 0 {
		return sign + s
	}
	for len(s) <= decimals {
		s = "0" + s
	}
	ip, fp := s[:len(s)-decimals], s[len(s)-decimals:]
	if dropZero && strings.Trim(fp, "0") == "" {
		return sign + ip
	}
	return sign + ip + "." + fp
}

// groupThousands inserts a comma every three digits of an integer string.
func groupThousands(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	if len(s) <= 3 {
		return sign + s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return sign + b.String()
}

// FormatCount formats a count with thousands separators: 5420 → "5,420".
func FormatCount(n int64) string { return groupThousands(strconv.FormatInt(n, 10)) }

// FormatPercent formats a ratio (0.853 = 85.3 %) with one decimal, half
// up: "85.3%". The same in both languages.
func FormatPercent(ratio *big.Rat) string {
	pct := new(big.Rat).Mul(ratio, big.NewRat(100, 1))
	return decimalString(roundHalfUp(pct, 1), 1, false) + "%"
}

// Quantity is a number with its unit, so that the same value can be shown
// as "1.5秒" (JSON), "1.5 秒" (the Chinese story) and "1.5 s" (English).
type Quantity struct {
	Number string
	Unit   string
	Lang   Lang
}

// String is the display form: no space in Chinese ("1.5秒"), one in
// English ("1.5 s").
func (q Quantity) String() string {
	if q.Lang == LangEN {
		return q.Number + " " + q.Unit
	}
	return q.Number + q.Unit
}

// Spaced is the form the story uses: number, space, unit ("1.5 秒").
func (q Quantity) Spaced() string { return q.Number + " " + q.Unit }

func unitName(l Lang, zh, en string) string {
	if l == LangEN {
		return en
	}
	return zh
}

// FormatResponseTime converts milliseconds to seconds with one decimal,
// half up, the ".0" kept: 1450 ms → "1.5秒" / "1.5 s".
func FormatResponseTime(ms *big.Rat, l Lang) Quantity {
	s := new(big.Rat).Quo(ms, big.NewRat(1000, 1))
	return Quantity{Number: decimalString(roundHalfUp(s, 1), 1, false), Unit: unitName(l, "秒", "s"), Lang: l}
}

// FormatDuration shows a duration given in seconds: under 60 s as whole
// seconds ("30秒"); under an hour as minutes with at most one decimal, a
// ".0" dropped ("8分钟", "13.2分钟"); else hours likewise ("4小时",
// "6.1小时"). Each step rounds half up, and a value that rounds up to the
// next step's threshold moves to that step (59.6 s is "1分钟", not "60秒").
func FormatDuration(seconds *big.Rat, l Lang) Quantity {
	if sec := roundHalfUp(seconds, 0); sec.Cmp(big.NewInt(60)) < 0 {
		return Quantity{Number: sec.String(), Unit: unitName(l, "秒", "s"), Lang: l}
	}
	minutes := new(big.Rat).Quo(seconds, big.NewRat(60, 1))
	if m := roundHalfUp(minutes, 1); m.Cmp(big.NewInt(600)) < 0 {
		return Quantity{Number: decimalString(m, 1, true), Unit: unitName(l, "分钟", "min"), Lang: l}
	}
	hours := new(big.Rat).Quo(seconds, big.NewRat(3600, 1))
	return Quantity{Number: decimalString(roundHalfUp(hours, 1), 1, true), Unit: unitName(l, "小时", "h"), Lang: l}
}

// FormatHours shows a duration given in hours by the FormatDuration rules.
func FormatHours(hours *big.Rat, l Lang) Quantity {
	return FormatDuration(new(big.Rat).Mul(hours, big.NewRat(3600, 1)), l)
}

// FormatMoney shows an amount of yuan as whole yuan, half up, with
// thousands separators: "¥54,200" / "CNY 54,200".
func FormatMoney(yuan *big.Rat, l Lang) string {
	s := groupThousands(roundHalfUp(yuan, 0).String())
	if l == LangEN {
		return "CNY " + s
	}
	return "¥" + s
}

// FormatPeriod names a month: "2025年12月" / "December 2025".
func FormatPeriod(m Month, l Lang) string {
	if l == LangEN {
		return fmt.Sprintf("%s %d", m.Month.String(), m.Year)
	}
	return fmt.Sprintf("%d年%d月", m.Year, int(m.Month))
}

// FormatDay formats a business day (a date at midnight UTC, as ParseDate
// returns it): "2025年12月10日" / "10 December 2025".
func FormatDay(d time.Time, l Lang) string {
	if l == LangEN {
		return fmt.Sprintf("%d %s %d", d.Day(), d.Month().String(), d.Year())
	}
	return fmt.Sprintf("%d年%d月%d日", d.Year(), int(d.Month()), d.Day())
}

// formatTimestamp shows an instant in the business time zone, to the
// second: "2025-12-01 10:00:00".
func formatTimestamp(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04:05")
}

// ratio returns num/den, or nil when den is zero (no data).
func ratio(num, den int64) *big.Rat {
	if den == 0 {
		return nil
	}
	return new(big.Rat).SetFrac(big.NewInt(num), big.NewInt(den))
}

// avgMicro returns the average of a measure kept as a sum of millionths:
// sumMicro / (count × 10⁶), exactly, or nil when count is zero.
func avgMicro(sumMicro counters.Sum, count int64) *big.Rat {
	if count == 0 {
		return nil
	}
	den := new(big.Int).Mul(big.NewInt(count), big.NewInt(1_000_000))
	return new(big.Rat).SetFrac(sumMicro.Big(), den)
}

// ratFloat converts an exact value to the nearest float64 for the raw
// numbers of the JSON; nil stays nil (JSON null).
func ratFloat(r *big.Rat) *float64 {
	if r == nil {
		return nil
	}
	f, _ := r.Float64()
	return &f
}
