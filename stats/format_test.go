package stats

import (
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("bad rat " + s)
	}
	return r
}

func TestFormatPercent(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0.853", "85.3%"},
		{"0.8535", "85.4%"},  // half up (binary floats would say 85.3)
		{"0.8525", "85.3%"},  // half up, not half even
		{"0.85249", "85.2%"}, // below the half
		{"7/12", "58.3%"},    // 58.333…
		{"1", "100.0%"},
		{"0", "0.0%"},
		{"0.0005", "0.1%"},
		{"0.00049", "0.0%"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			assert.Equal(t, tc.want, FormatPercent(rat(tc.in)))
		})
	}
}

func TestFormatResponseTime(t *testing.T) {
	for _, tc := range []struct{ ms, zh, en, spaced string }{
		{"1500", "1.5秒", "1.5 s", "1.5 秒"},
		{"1450", "1.5秒", "1.5 s", "1.5 秒"}, // 1.45 s: half up
		{"1449.999", "1.4秒", "1.4 s", "1.4 秒"},
		{"2000", "2.0秒", "2.0 s", "2.0 秒"}, // one decimal always
		{"49", "0.0秒", "0.0 s", "0.0 秒"},
		{"50", "0.1秒", "0.1 s", "0.1 秒"},
		{"123456", "123.5秒", "123.5 s", "123.5 秒"}, // stays in seconds
	} {
		t.Run(tc.ms, func(t *testing.T) {
			assert.Equal(t, tc.zh, FormatResponseTime(rat(tc.ms), LangZH).String())
			assert.Equal(t, tc.en, FormatResponseTime(rat(tc.ms), LangEN).String())
			assert.Equal(t, tc.spaced, FormatResponseTime(rat(tc.ms), LangZH).Spaced())
		})
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct{ seconds, zh, en string }{
		{"30", "30秒", "30 s"},
		{"0", "0秒", "0 s"},
		{"30.5", "31秒", "31 s"}, // half up
		{"30.49", "30秒", "30 s"},
		{"59.4", "59秒", "59 s"},
		{"59.5", "1分钟", "1 min"}, // rounds to 60 s: minutes
		{"60", "1分钟", "1 min"},
		{"480", "8分钟", "8 min"}, // ".0" dropped
		{"792", "13.2分钟", "13.2 min"},
		{"513", "8.6分钟", "8.6 min"},    // 8.55 min: half up
		{"510", "8.5分钟", "8.5 min"},    // 8.5 min exactly
		{"3596", "59.9分钟", "59.9 min"}, // 59.933…
		{"3597", "1小时", "1 h"},         // 59.95 min rounds to 60.0: hours
		{"3600", "1小时", "1 h"},
		{"14400", "4小时", "4 h"},
		{"21960", "6.1小时", "6.1 h"},
		{"22140", "6.2小时", "6.2 h"}, // 6.15 h: half up
		{"360000", "100小时", "100 h"},
	} {
		t.Run(tc.seconds, func(t *testing.T) {
			assert.Equal(t, tc.zh, FormatDuration(rat(tc.seconds), LangZH).String())
			assert.Equal(t, tc.en, FormatDuration(rat(tc.seconds), LangEN).String())
		})
	}
}

func TestFormatHours(t *testing.T) {
	for _, tc := range []struct{ hours, zh, en string }{
		{"4", "4小时", "4 h"},
		{"4.25", "4.3小时", "4.3 h"},
		{"6.1", "6.1小时", "6.1 h"},
		{"0.5", "30分钟", "30 min"},
		{"0.01", "36秒", "36 s"},
	} {
		t.Run(tc.hours, func(t *testing.T) {
			assert.Equal(t, tc.zh, FormatHours(rat(tc.hours), LangZH).String())
			assert.Equal(t, tc.en, FormatHours(rat(tc.hours), LangEN).String())
		})
	}
}

func TestFormatMoney(t *testing.T) {
	for _, tc := range []struct{ yuan, zh, en string }{
		{"54200", "¥54,200", "CNY 54,200"},
		{"0", "¥0", "CNY 0"},
		{"999", "¥999", "CNY 999"},
		{"1000", "¥1,000", "CNY 1,000"},
		{"8641.5", "¥8,642", "CNY 8,642"}, // half up
		{"8641.49", "¥8,641", "CNY 8,641"},
		{"1234567890", "¥1,234,567,890", "CNY 1,234,567,890"},
	} {
		t.Run(tc.yuan, func(t *testing.T) {
			assert.Equal(t, tc.zh, FormatMoney(rat(tc.yuan), LangZH))
			assert.Equal(t, tc.en, FormatMoney(rat(tc.yuan), LangEN))
		})
	}
}

func TestFormatCount(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0"}, {12, "12"}, {999, "999"}, {1000, "1,000"}, {5420, "5,420"}, {123456, "123,456"}, {1234567, "1,234,567"}, {-5420, "-5,420"}} {
		t.Run(tc.want, func(t *testing.T) { assert.Equal(t, tc.want, FormatCount(tc.n)) })
	}
}

func TestFormatPeriod(t *testing.T) {
	for _, tc := range []struct{ month, zh, en string }{
		{"2025-12", "2025年12月", "December 2025"},
		{"2026-01", "2026年1月", "January 2026"},
	} {
		t.Run(tc.month, func(t *testing.T) {
			m, err := ParseMonth(tc.month)
			require.NoError(t, err)
			assert.Equal(t, tc.zh, FormatPeriod(m, LangZH))
			assert.Equal(t, tc.en, FormatPeriod(m, LangEN))
		})
	}
}

func TestNoDataAndLang(t *testing.T) {
	assert.Equal(t, "暂无数据", NoData(LangZH))
	assert.Equal(t, "no data", NoData(LangEN))
	for _, tc := range []struct {
		in   string
		want Lang
		err  string
	}{
		{"", LangZH, ""},
		{"zh", LangZH, ""},
		{"en", LangEN, ""},
		{"fr", "", `invalid lang "fr": want zh or en`},
		{"ZH", "", `invalid lang "ZH": want zh or en`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			l, err := ParseLang(tc.in)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, l)
		})
	}
}

func TestParseMonth(t *testing.T) {
	m, err := ParseMonth("2025-12")
	require.NoError(t, err)
	assert.Equal(t, Month{Year: 2025, Month: 12}, m)
	assert.Equal(t, 31, m.Days())
	assert.Equal(t, "2026-01", m.Next().String())
	feb, _ := ParseMonth("2024-02")
	assert.Equal(t, 29, feb.Days())

	for _, tc := range []struct{ in, err string }{
		{"2025-13", `invalid month "2025-13": the month must be 01 to 12`},
		{"2025-00", `invalid month "2025-00": the month must be 01 to 12`},
		{"abc", `invalid month "abc": want YYYY-MM, e.g. 2025-12`},
		{"2025-1", `invalid month "2025-1": want YYYY-MM, e.g. 2025-12`},
		{"2025-12' OR 1=1--", `invalid month "2025-12' OR 1=1--": want YYYY-MM, e.g. 2025-12`},
		{"1969-12", `invalid month "1969-12": the year must be 1970 or later`},
		{"", `invalid month "": want YYYY-MM, e.g. 2025-12`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseMonth(tc.in)
			require.EqualError(t, err, tc.err)
		})
	}
}

func TestRatioAndAverage(t *testing.T) {
	assert.Nil(t, ratio(5, 0))
	assert.Nil(t, avgMicro(counters.SumOf(0), 0))
	assert.Equal(t, "7/12", ratio(7, 12).String())
	// 5,800 ms over 4 messages, in millionths: exactly 1450 ms.
	assert.Equal(t, "1450/1", avgMicro(counters.SumOf(5_800_000_000), 4).String())
	// Sums far past float64's exact range stay exact.
	assert.Equal(t, "4611686018427387903/2000000", avgMicro(counters.SumOf(1<<62-1), 2).String())
	past64, err := counters.ParseSum("30000000000000000000") // 3e19 millionths over 3 events
	require.NoError(t, err)
	assert.Equal(t, "10000000000000", avgMicro(past64, 3).FloatString(0))
}
