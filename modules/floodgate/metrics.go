package floodgate

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are floodgate's Prometheus metrics, registered on Caddy's registry for each config
// load. Labels are bounded: class, action and rule names come from the rule files; never an
// IP or a host.
type metrics struct {
	requests    *prometheus.CounterVec
	storeErrors prometheus.Counter
	delayed     prometheus.Gauge
}

// healthReporter is a store that can say whether its backend is reachable.
type healthReporter interface{ Healthy() bool }

func newMetrics(reg *prometheus.Registry, st sharedStore) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "floodgate", Name: "requests_total",
			Help: "Requests seen by floodgate, by client class, action taken and deciding rule (identity rule when nothing acted).",
		}, []string{"class", "action", "rule"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "floodgate", Name: "store_errors_total",
			Help: "Budget counts that failed (the request was let through).",
		}),
		delayed: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "floodgate", Name: "delayed_requests",
			Help: "Requests held by a delay budget right now.",
		}),
	}
	cs := []prometheus.Collector{m.requests, m.storeErrors, m.delayed}
	if h, ok := st.(healthReporter); ok {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "floodgate", Name: "store_healthy",
			Help: "1 when the shared counter store (Redis) is reachable, 0 while floodgate counts locally only.",
		}, func() float64 {
			if h.Healthy() {
				return 1
			}
			return 0
		}))
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
