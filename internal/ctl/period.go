package ctl

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/otelcol-analytics/otelcol-analytics/internal/counters"
)

// maxPeriodDays bounds a period so that a typo (--from 2025 --to 9025) does
// not start a job of millions of keys.
const maxPeriodDays = 20 * 366

// monthList is a repeatable --month flag: YYYY-MM or a range YYYY-MM..YYYY-MM.
type monthList []string

func (m *monthList) String() string { return strings.Join(*m, ",") }

func (m *monthList) Set(v string) error {
	*m = append(*m, v)
	return nil
}

// Period selects business days: the days From..To and the whole Months;
// the union is taken. It is what the --from, --to and --month flags set,
// and its errors name those flags.
type Period struct {
	From   string   // first business day, YYYY-MM-DD
	To     string   // last business day, YYYY-MM-DD; "" = From
	Months []string // a month YYYY-MM or a range YYYY-MM..YYYY-MM each
}

func (p *Period) register(fs *flag.FlagSet) {
	fs.StringVar(&p.From, "from", "", "first business day, YYYY-MM-DD")
	fs.StringVar(&p.To, "to", "", "last business day, YYYY-MM-DD (default: --from)")
	fs.Var((*monthList)(&p.Months), "month", "a business month YYYY-MM or a range YYYY-MM..YYYY-MM; repeatable")
}

// period is a set of business days and the months they touch, both sorted.
type period struct {
	days   []string
	months []string
	// daysOf lists, per month, the days of the period in it.
	daysOf map[string][]string
}

func parseDay(flagName, s string) (time.Time, error) {
	t, err := time.Parse(counters.DateLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want a day as YYYY-MM-DD", flagName, s)
	}
	return t, nil
}

func parseMonth(s string) (time.Time, error) {
	t, err := time.Parse(counters.MonthLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--month %q: want YYYY-MM or YYYY-MM..YYYY-MM", s)
	}
	return t, nil
}

// resolve turns p into a period. At least one of From or Months is
// required; both may be given (the union is taken).
func (p *Period) resolve() (*period, error) {
	set := map[string]bool{}
	addRange := func(lo, hi time.Time) error {
		if hi.Before(lo) {
			return fmt.Errorf("empty period: %s is after %s", lo.Format(counters.DateLayout), hi.Format(counters.DateLayout))
		}
		if hi.Sub(lo) > maxPeriodDays*24*time.Hour {
			return fmt.Errorf("period %s..%s is longer than %d days", lo.Format(counters.DateLayout), hi.Format(counters.DateLayout), maxPeriodDays)
		}
		for d := lo; !d.After(hi); d = d.AddDate(0, 0, 1) {
			set[d.Format(counters.DateLayout)] = true
		}
		return nil
	}
	if p.From == "" && p.To != "" {
		return nil, errors.New("--to needs --from")
	}
	if p.From != "" {
		lo, err := parseDay("--from", p.From)
		if err != nil {
			return nil, err
		}
		hi := lo
		if p.To != "" {
			if hi, err = parseDay("--to", p.To); err != nil {
				return nil, err
			}
		}
		if err := addRange(lo, hi); err != nil {
			return nil, err
		}
	}
	for _, m := range p.Months {
		a, b, isRange := strings.Cut(m, "..")
		if !isRange {
			b = a
		}
		lo, err := parseMonth(a)
		if err != nil {
			return nil, err
		}
		hi, err := parseMonth(b)
		if err != nil {
			return nil, err
		}
		if err := addRange(lo, hi.AddDate(0, 1, -1)); err != nil {
			return nil, err
		}
	}
	if len(set) == 0 {
		return nil, errors.New("no period: give --from YYYY-MM-DD [--to YYYY-MM-DD] or --month YYYY-MM")
	}
	if len(set) > maxPeriodDays {
		return nil, fmt.Errorf("period of %d days is longer than %d days", len(set), maxPeriodDays)
	}
	return newPeriod(set), nil
}

func newPeriod(set map[string]bool) *period {
	pd := &period{daysOf: map[string][]string{}}
	for d := range set {
		pd.days = append(pd.days, d)
	}
	slices.Sort(pd.days)
	for _, d := range pd.days {
		m := counters.MonthOf(d)
		if _, ok := pd.daysOf[m]; !ok {
			pd.months = append(pd.months, m)
		}
		pd.daysOf[m] = append(pd.daysOf[m], d)
	}
	return pd
}

// monthBounds returns the first day of month m and of the month after.
func monthBounds(m string) (lo, hi time.Time, err error) {
	lo, err = time.Parse(counters.MonthLayout, m)
	if err != nil {
		return lo, hi, fmt.Errorf("bad month %q: %w", m, err)
	}
	return lo, lo.AddDate(0, 1, 0), nil
}

// describe is "2025-12-01..2025-12-31" for a contiguous period, else the
// first and last day with the count.
func (pd *period) describe() string {
	first, last := pd.days[0], pd.days[len(pd.days)-1]
	if first == last {
		return first
	}
	return first + ".." + last
}
