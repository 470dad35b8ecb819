package harness

import (
	"math"
	"testing"
)

func TestPercentile(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	tests := []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"empty", nil, 50, 0},
		{"one value", []float64{7}, 99, 7},
		{"p50 of ten is the 5th", ten, 50, 5},
		{"p95 of ten rounds up to the 10th", ten, 95, 10},
		{"p90 of ten is the 9th", ten, 90, 9},
		{"p0 is the minimum", ten, 0, 1},
		{"negative p is the minimum", ten, -5, 1},
		{"p100 is the maximum", ten, 100, 10},
		{"above 100 is the maximum", ten, 250, 10},
		{"NaN is the minimum", ten, math.NaN(), 1},
		{"p99 of 100", hundred, 99, 99},
		{"p95 of 100", hundred, 95, 95},
		{"p50 of 100", hundred, 50, 50},
		{"p99.9 of 100", hundred, 99.9, 100},
		{"p1 of 100", hundred, 1, 1},
	}
	for _, tt := range tests {
		if got := Percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: Percentile(p=%v) = %v, want %v", tt.name, tt.p, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	in := []float64{30, 10, 20, 40, 1000}
	s := Summarize(in)
	want := LatencySummary{Count: 5, Mean: 220, P50: 30, P95: 1000, P99: 1000, Max: 1000}
	if s != want {
		t.Errorf("Summarize = %+v, want %+v", s, want)
	}
	if in[0] != 30 || in[4] != 1000 {
		t.Errorf("Summarize sorted its input in place: %v", in)
	}
	if z := Summarize(nil); z != (LatencySummary{}) {
		t.Errorf("Summarize(nil) = %+v, want zero", z)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{0.9, 1.1}, 1},
	}
	for _, tt := range tests {
		if got := Median(tt.in); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
