package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a number of requests per period, written "60/min" or "600/10min".
type Rate struct {
	Limit  int64
	Period time.Duration
}

var periodUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "second": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute,
	"h": time.Hour, "hour": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour,
}

// MaxRatePeriod is the longest period a rate may count over.
const MaxRatePeriod = 7 * 24 * time.Hour

// ParseRate reads a rate such as "60/min", "5/s", "600/10min" or "10000/day".
func ParseRate(s string) (Rate, error) {
	const expected = `expected a rate such as "60/min" (N/sec, N/min, N/hour, N/day, or N/10min)`
	count, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q has no '/': %s", s, expected)
	}
	count = strings.TrimSpace(count)
	limit, err := strconv.ParseInt(count, 10, 64)
	if err != nil || limit <= 0 {
		return Rate{}, fmt.Errorf("rate %q: %q is not a positive whole number: %s", s, count, expected)
	}
	per = strings.ToLower(strings.TrimSpace(per))
	i := 0
	for i < len(per) && per[i] >= '0' && per[i] <= '9' {
		i++
	}
	mult := int64(1)
	if i > 0 {
		mult, err = strconv.ParseInt(per[:i], 10, 64)
		if err != nil || mult <= 0 {
			return Rate{}, fmt.Errorf("rate %q: bad period multiple %q: %s", s, per[:i], expected)
		}
	}
	name := strings.TrimSpace(per[i:])
	unit, ok := periodUnits[name]
	if !ok && len(name) > 2 {
		// Plurals of the long names: "secs", "minutes", "hours", "days"; not "ms" or "hs".
		unit, ok = periodUnits[strings.TrimSuffix(name, "s")]
	}
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: unknown period %q: %s", s, name, expected)
	}
	if mult > int64(MaxRatePeriod/unit) {
		return Rate{}, fmt.Errorf("rate %q: the period is longer than 7 days: %s", s, expected)
	}
	return Rate{Limit: limit, Period: time.Duration(mult) * unit}, nil
}

// String writes the rate back in rule-file form.
func (r Rate) String() string {
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"day", 24 * time.Hour}, {"hour", time.Hour}, {"min", time.Minute}, {"sec", time.Second}} {
		if r.Period%u.d == 0 {
			n := r.Period / u.d
			if n == 1 {
				return fmt.Sprintf("%d/%s", r.Limit, u.name)
			}
			return fmt.Sprintf("%d/%d%s", r.Limit, n, u.name)
		}
	}
	return fmt.Sprintf("%d/%s", r.Limit, r.Period)
}
