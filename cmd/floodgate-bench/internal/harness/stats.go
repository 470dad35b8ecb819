package harness

import (
	"math"
	"sort"
)

// LatencySummary describes a set of latencies, in milliseconds.
type LatencySummary struct {
	// Count is the number of samples.
	Count int `json:"count"`
	// Mean is the arithmetic mean.
	Mean float64 `json:"mean_ms"`
	// P50, P95 and P99 are nearest-rank percentiles.
	P50 float64 `json:"p50_ms"`
	// P95 is the 95th percentile.
	P95 float64 `json:"p95_ms"`
	// P99 is the 99th percentile.
	P99 float64 `json:"p99_ms"`
	// Max is the largest sample.
	Max float64 `json:"max_ms"`
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted (ascending) values by the
// nearest-rank method: the smallest value such that at least p% of the values are at most
// it. It returns 0 for no values; p is clamped to [0, 100].
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if math.IsNaN(p) || p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// Summarize returns the summary of ms (which it does not modify).
func Summarize(ms []float64) LatencySummary {
	if len(ms) == 0 {
		return LatencySummary{}
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	return LatencySummary{
		Count: len(s),
		Mean:  round2(sum / float64(len(s))),
		P50:   round2(Percentile(s, 50)),
		P95:   round2(Percentile(s, 95)),
		P99:   round2(Percentile(s, 99)),
		Max:   round2(s[len(s)-1]),
	}
}

// Median returns the median of xs (the mean of the two middle values for an even count), 0
// for none. It does not modify xs.
func Median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratio returns a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// round2 rounds to two decimals, so reports stay readable.
func round2(v float64) float64 { return math.Round(v*100) / 100 }

// round4 rounds to four decimals.
func round4(v float64) float64 { return math.Round(v*10000) / 10000 }
