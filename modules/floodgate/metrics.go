package floodgate

import (
	"errors"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ulule/limiter/v3"

	"github.com/floodgate-proxy/floodgate/internal/admission"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
)

// metrics are floodgate's Prometheus metrics, registered on Caddy's registry for each config
// load. Labels are bounded: class, action and rule names come from the rule files; never an
// IP or a host.
type metrics struct {
	requests    requestCounters
	storeErrors prometheus.Counter
	delayed     prometheus.GaugeFunc

	challengesIssued *prometheus.CounterVec
	challengesPassed *prometheus.CounterVec
	challengesFailed *prometheus.CounterVec
	passesRefused    *prometheus.CounterVec

	quarantines         *prometheus.CounterVec
	quarantineRefusals  prometheus.Counter
	underAttack         *prometheus.GaugeVec
	underAttackSwitches *prometheus.CounterVec
	backendBusy         *prometheus.CounterVec
	rechecked           *prometheus.CounterVec
	admissions          *prometheus.CounterVec
	admissionWait       *prometheus.HistogramVec
	// admitted holds admissions' counters of requests admitted at once and after a wait
	// (index 1), by tier, made on first use: every allowed request counts in one.
	admitted [admission.NumTiers + 1][2]atomic.Pointer[prometheus.Counter]
}

// admittedCounter is admissions' counter of a request admitted at tier, waited or not
// ("queued" or "admitted"), without WithLabelValues' label hashing after its first use.
func (m *metrics) admittedCounter(tier admission.Tier, waited bool) prometheus.Counter {
	result, i := "admitted", 0
	if waited {
		result, i = "queued", 1
	}
	if !tier.Valid() {
		return m.admissions.WithLabelValues(tier.String(), result)
	}
	slot := &m.admitted[tier][i]
	if c := slot.Load(); c != nil {
		return *c
	}
	c := m.admissions.WithLabelValues(tier.String(), result)
	slot.Store(&c)
	return c
}

// healthReporter is a store that can say whether its backend is reachable.
type healthReporter interface{ Healthy() bool }

func newMetrics(reg *prometheus.Registry, st limiter.Store, decider *verdict.Decider) (*metrics, error) {
	m := &metrics{
		requests: requestCounters{vec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "floodgate", Name: "requests_total",
			Help: "Requests seen by floodgate, by client class, action taken and deciding rule (identity rule when nothing acted).",
		}, []string{"class", "action", "rule"})},
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "floodgate", Name: "store_errors_total",
			Help: "Budget counts that failed (the request was let through).",
		}),
		// The decider counts the requests it holds; the gauge reads that count.
		delayed: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "floodgate", Name: "delayed_requests",
			Help: "Requests held by a delay budget right now.",
		}, func() float64 { return float64(decider.Delayed()) }),
	}
	m.challengesIssued = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "floodgate", Name: "challenges_issued_total",
		Help: "Challenge pages served, by level (cookie, script, work).",
	}, []string{"level"})
	m.challengesPassed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "floodgate", Name: "challenges_passed_total",
		Help: "Challenges answered correctly (a pass was given), by level.",
	}, []string{"level"})
	m.challengesFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "floodgate", Name: "challenges_failed_total",
		Help: "Challenge answers refused, by level and reason.",
	}, []string{"level", "reason"})
	m.passesRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "floodgate", Name: "passes_refused_total",
		Help: "Pass cookies presented but refused, by reason (expired, other_network, other_user_agent, bad_signature, malformed, weaker_level).",
	}, []string{"reason"})
	m.quarantines = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "floodgate", Name: "quarantines_total",
		Help: "Sites quarantined after a POST burst (a compromised site?), by site: call the member.",
	}, []string{"site"})
	m.quarantineRefusals = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "floodgate", Name: "quarantine_refusals_total",
		Help: "POST, PUT, PATCH and DELETE requests refused (429) because their site is quarantined.",
	})
	m.underAttack = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "floodgate", Name: "under_attack",
		Help: "1 for each site in under-attack mode right now.",
	}, []string{"site"})
	m.underAttackSwitches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "floodgate", Name: "under_attack_switches_total",
		Help: "Switches of sites into (on) and out of (off) under-attack mode.",
	}, []string{"to"})
	m.backendBusy = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "floodgate", Name: "backend_busy_total",
		Help: "Requests answered 503 because their site or the backend was at its in-flight cap, by reason (queue_full, wait_timeout).",
	}, []string{"reason"})
	m.rechecked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "floodgate", Name: "rechecked_total",
		Help: "Requests decided again once admitted after waiting for the backend, because their site switched to under-attack mode or was quarantined while they waited, by what they got instead of the backend (challenge, throttle).",
	}, []string{"action"})
	admissions, admissionWait, admissionState := newAdmissionMetrics(func() *admission.Controller {
		if p := currentProtection.Load(); p != nil {
			return p.admission
		}
		return nil
	})
	m.admissions, m.admissionWait = admissions, admissionWait
	cs := []prometheus.Collector{m.requests.vec, m.storeErrors, m.delayed, m.challengesIssued, m.challengesPassed, m.challengesFailed, m.passesRefused,
		m.quarantines, m.quarantineRefusals, m.underAttack, m.underAttackSwitches, m.backendBusy, m.rechecked, m.admissions, m.admissionWait, admissionState}
	cs = append(cs, pacerMetrics()...)
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

// requestCounters is requests_total with the counter of each (class, action, rule) met kept
// at hand: counting a request is then one map read, not WithLabelValues' label hashing,
// checks and locking. The labels are bounded by the rule files, and so is the map.
type requestCounters struct {
	vec *prometheus.CounterVec
	mu  sync.Mutex                                           // writers
	m   atomic.Pointer[map[requestLabels]prometheus.Counter] // copied on write
}

type requestLabels struct {
	class, rule string
	action      rules.Action
}

// inc counts one request.
func (c *requestCounters) inc(class string, action rules.Action, rule string) {
	k := requestLabels{class: class, rule: rule, action: action}
	if m := c.m.Load(); m != nil {
		if ctr, ok := (*m)[k]; ok {
			ctr.Inc()
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[requestLabels]prometheus.Counter
	if m := c.m.Load(); m != nil {
		old = *m
	}
	ctr, ok := old[k]
	if !ok {
		ctr = c.vec.WithLabelValues(class, action.String(), rule)
		m := make(map[requestLabels]prometheus.Counter, len(old)+1)
		maps.Copy(m, old)
		m[k] = ctr
		c.m.Store(&m)
	}
	ctr.Inc()
}
