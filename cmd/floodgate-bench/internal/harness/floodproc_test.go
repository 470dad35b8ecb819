package harness

import (
	"strings"
	"testing"
)

// A run split in two processes sends every request once: the flood process the flood's
// populations, the harness the people and Googlebot.
func TestPartsSplitTheTraffic(t *testing.T) {
	for _, c := range Classes {
		if !AllTraffic.sends(c) {
			t.Errorf("a whole run does not send %s", c)
		}
		if FloodOnly.sends(c) == WithoutFlood.sends(c) {
			t.Errorf("%s: sent by the flood process %v, by the harness %v: want exactly one", c, FloodOnly.sends(c), WithoutFlood.sends(c))
		}
	}
	if FloodOnly.sends(Humans) || FloodOnly.sends(SearchEngine) || !FloodOnly.sends(StealthScrapers) {
		t.Error("the flood process sends people or Googlebot, or not the stealth scrapers")
	}
}

// People's time splits into the backend's part (as it said) and the rest; requests the
// backend did not serve, and other populations, are left out.
func TestTimeSplit(t *testing.T) {
	samples := []Sample{
		{Class: Humans, Phase: Flood, Outcome: OK, Latency: 100, Backend: 60},
		{Class: Humans, Phase: Flood, Outcome: OK, Latency: 30, Backend: 40}, // clocks differ: the rest is never negative
		{Class: Humans, Phase: Flood, Outcome: OK, Latency: 5, Backend: -1},  // answered by the proxy
		{Class: Humans, Phase: Flood, Outcome: GatewayTimeout, Latency: 500, Backend: -1},
		{Class: StealthScrapers, Phase: Flood, Outcome: OK, Latency: 900, Backend: 10},
	}
	ts := timeSplit(samples, func(s *Sample) bool { return s.Phase == Flood })
	if ts.Requests != 2 || ts.Total.Max != 100 || ts.Backend.Max != 60 || ts.Rest.Max != 40 || ts.Rest.P50 != 0 {
		t.Errorf("split %+v: want 2 requests, total max 100, backend max 60, rest 0 and 40", ts)
	}
}

// The flood process runs under nice only when asked (-flood-nice, a measurement): by default
// it is the bench binary itself, as every figure before the flag was measured.
func TestFloodCommandNice(t *testing.T) {
	for _, c := range []struct {
		niceness int
		want     string
	}{
		{0, "/tmp/bench " + FloodWorkerFlag},
		{19, "nice -n 19 /tmp/bench " + FloodWorkerFlag},
		{-5, "nice -n -5 /tmp/bench " + FloodWorkerFlag},
	} {
		cmd := floodCommand("/tmp/bench", c.niceness)
		if got := strings.Join(cmd.Args, " "); got != c.want {
			t.Errorf("niceness %d: command %q, want %q", c.niceness, got, c.want)
		}
	}
}
