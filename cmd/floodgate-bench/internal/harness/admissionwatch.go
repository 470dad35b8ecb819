package harness

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// AdmissionPoint is floodgate's adaptive admission at one moment (GET /floodgate/admission
// on the proxy's admin endpoint).
type AdmissionPoint struct {
	// At is the time from the start of the run, in seconds.
	At float64 `json:"at_s"`
	// Proxy numbers the proxy of the arm (0 for the first).
	Proxy int `json:"proxy"`
	// Limit is the learned concurrency limit of the backend.
	Limit int `json:"limit"`
	// BaselineMs is the healthy latency it learned.
	BaselineMs float64 `json:"baseline_ms"`
	// ProxyDelayMs is the latency the proxy's own CPU added to each backend answer, as
	// the limit measured it (absent before floodgate measured it).
	ProxyDelayMs float64 `json:"proxy_delay_ms,omitempty"`
	// Inflight and Waiting count requests at that moment.
	Inflight int `json:"inflight"`
	// Waiting counts requests waiting for the backend.
	Waiting int `json:"waiting"`
}

// WatchAdmission polls each admin endpoint every period until ctx ends, and returns what
// it read (a proxy without the endpoint gives nothing). start is the run's start.
func WatchAdmission(ctx context.Context, admins []string, start time.Time, period time.Duration) func() []AdmissionPoint {
	var mu sync.Mutex
	var out []AdmissionPoint
	done := make(chan struct{})
	// A read may take longer than a period (a loaded machine, the race detector): it then
	// delays the next tick rather than being lost.
	client := &http.Client{Timeout: max(period, time.Second)}
	go func() {
		defer close(done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for i, a := range admins {
				p, ok := readAdmission(ctx, client, a)
				if !ok {
					continue
				}
				p.At, p.Proxy = round2(time.Since(start).Seconds()), i
				mu.Lock()
				out = append(out, p)
				mu.Unlock()
			}
		}
	}()
	return func() []AdmissionPoint {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

func readAdmission(ctx context.Context, c *http.Client, admin string) (AdmissionPoint, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/floodgate/admission", nil)
	if err != nil {
		return AdmissionPoint{}, false
	}
	resp, err := c.Do(req)
	if err != nil {
		return AdmissionPoint{}, false
	}
	defer resp.Body.Close()
	var p AdmissionPoint
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&p) != nil {
		return AdmissionPoint{}, false
	}
	return p, true
}

// LimitSummary is the learned limit over the phases of a run: its median in the second half
// of the calm phase and over the flood, and its least in the flood.
type LimitSummary struct {
	// Calm is the median limit over the second half of the calm phase.
	Calm float64 `json:"calm"`
	// Flood is the median limit over the flood phase; FloodMin its least.
	Flood float64 `json:"flood"`
	// FloodMin is the least limit in the flood phase.
	FloodMin int `json:"flood_min"`
	// BaselineMs is the median healthy latency over the flood.
	BaselineMs float64 `json:"baseline_ms"`
}

// SummarizeLimit summarises the first proxy's points of a run with a calm phase of calm.
func SummarizeLimit(points []AdmissionPoint, calm time.Duration) (LimitSummary, bool) {
	var c, f, base []float64
	least := -1
	for _, p := range points {
		if p.Proxy != 0 {
			continue
		}
		switch at := p.At; {
		case at >= calm.Seconds()/2 && at < calm.Seconds():
			c = append(c, float64(p.Limit))
		case at >= calm.Seconds():
			f = append(f, float64(p.Limit))
			base = append(base, p.BaselineMs)
			if least < 0 || p.Limit < least {
				least = p.Limit
			}
		}
	}
	if len(f) == 0 {
		return LimitSummary{}, false
	}
	return LimitSummary{Calm: Median(c), Flood: Median(f), FloodMin: least, BaselineMs: round2(Median(base))}, true
}
