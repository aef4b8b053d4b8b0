package stats

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Month is a calendar month in the business time zone.
type Month struct {
	Year  int
	Month time.Month
}

var (
	monthRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}$`)
	dateRE  = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// quoteInput quotes a user-supplied value for an error message, cut short
// so that a 5,000-character value does not come back whole.
func quoteInput(s string) string {
	const maxShown = 32
	r := []rune(s)
	if len(r) > maxShown {
		return strconv.Quote(string(r[:maxShown])) + fmt.Sprintf("… (%d characters)", len(r))
	}
	return strconv.Quote(s)
}

// ParseMonth validates a month query parameter: exactly YYYY-MM with a
// month 01–12 and a year from 1970 on.
func ParseMonth(s string) (Month, error) {
	if !monthRE.MatchString(s) {
		return Month{}, fmt.Errorf("invalid month %s: want YYYY-MM, e.g. 2025-12", quoteInput(s))
	}
	y, _ := strconv.Atoi(s[:4])
	m, _ := strconv.Atoi(s[5:])
	if m < 1 || m > 12 {
		return Month{}, fmt.Errorf("invalid month %s: the month must be 01 to 12", quoteInput(s))
	}
	if y < 1970 {
		return Month{}, fmt.Errorf("invalid month %s: the year must be 1970 or later", quoteInput(s))
	}
	return Month{Year: y, Month: time.Month(m)}, nil
}

// MonthOf returns the month of t in loc.
func MonthOf(t time.Time, loc *time.Location) Month {
	t = t.In(loc)
	return Month{Year: t.Year(), Month: t.Month()}
}

// String formats the month as YYYY-MM.
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// FirstDay is the month's first business day as a date (midnight UTC, the
// form pgx uses for PostgreSQL date values).
func (m Month) FirstDay() time.Time { return time.Date(m.Year, m.Month, 1, 0, 0, 0, 0, time.UTC) }

// Next is the following month.
func (m Month) Next() Month {
	t := m.FirstDay().AddDate(0, 1, 0)
	return Month{Year: t.Year(), Month: t.Month()}
}

// Days is the number of days in the month.
func (m Month) Days() int { return m.Next().FirstDay().AddDate(0, 0, -1).Day() }

// Start is the instant the month begins in loc.
func (m Month) Start(loc *time.Location) time.Time {
	return time.Date(m.Year, m.Month, 1, 0, 0, 0, 0, loc)
}

// End is the instant the month ends in loc (the next month's start).
func (m Month) End(loc *time.Location) time.Time { return m.Next().Start(loc) }

// ParseDate validates a date query parameter: YYYY-MM-DD, a real day.
func ParseDate(name, s string) (time.Time, error) {
	if !dateRE.MatchString(s) {
		return time.Time{}, fmt.Errorf("invalid %s %s: want YYYY-MM-DD, e.g. 2025-12-01", name, quoteInput(s))
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid %s %s: not a calendar day", name, quoteInput(s))
	}
	if t.Year() < 1970 {
		return time.Time{}, fmt.Errorf("invalid %s %s: the year must be 1970 or later", name, quoteInput(s))
	}
	return t, nil
}
