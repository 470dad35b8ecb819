package floodgate

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// requests_total counted through the kept counters gives each (class, action, rule) its own
// count, from many goroutines at once, as WithLabelValues would.
func TestRequestCounters(t *testing.T) {
	c := requestCounters{vec: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total"}, []string{"class", "action", "rule"})}
	counts := []struct {
		class  string
		action rules.Action
		rule   string
		n      int
	}{
		{"browser", rules.ActionNone, "browsers", 300},
		{"browser", rules.ActionThrottle, "browsers", 70},
		{"ai", rules.ActionThrottle, "ai-crawlers", 50},
		{"ai", rules.ActionThrottle, "", 20},
		{"browser", rules.ActionNone, "", 10},
	}
	var wg sync.WaitGroup
	for _, k := range counts {
		for range 4 {
			wg.Go(func() {
				for range k.n / 4 {
					c.inc(k.class, k.action, k.rule)
				}
				for range k.n % 4 {
					c.inc(k.class, k.action, k.rule)
				}
			})
		}
	}
	wg.Wait()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.vec)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gathered %d families, %v", len(mfs), err)
	}
	got := map[string]float64{}
	for _, m := range mfs[0].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		got[l["class"]+" "+l["action"]+" "+l["rule"]] = m.GetCounter().GetValue()
	}
	for _, k := range counts {
		key := k.class + " " + k.action.String() + " " + k.rule
		if want := float64(4*(k.n/4) + 4*(k.n%4)); got[key] != want {
			t.Errorf("%s: %v, want %v", key, got[key], want)
		}
	}
	if len(got) != len(counts) {
		t.Errorf("%d series, want %d: %v", len(got), len(counts), got)
	}
}
