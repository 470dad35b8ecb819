package floodgate

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ulule/limiter/v3"

	"github.com/floodgate-proxy/floodgate/internal/admission"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
)

// metrics are floodgate's Prometheus metrics, registered on Caddy's registry for each config
// load. Labels are bounded: class, action and rule names come from the rule files; never an
// IP or a host.
type metrics struct {
	requests    *prometheus.CounterVec
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
	admissions          *prometheus.CounterVec
}

// healthReporter is a store that can say whether its backend is reachable.
type healthReporter interface{ Healthy() bool }

func newMetrics(reg *prometheus.Registry, st limiter.Store, decider *verdict.Decider) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "floodgate", Name: "requests_total",
			Help: "Requests seen by floodgate, by client class, action taken and deciding rule (identity rule when nothing acted).",
		}, []string{"class", "action", "rule"}),
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
	admissions, admissionState := newAdmissionMetrics(func() *admission.Controller {
		if p := currentProtection.Load(); p != nil {
			return p.admission
		}
		return nil
	})
	m.admissions = admissions
	cs := []prometheus.Collector{m.requests, m.storeErrors, m.delayed, m.challengesIssued, m.challengesPassed, m.challengesFailed, m.passesRefused,
		m.quarantines, m.quarantineRefusals, m.underAttack, m.underAttackSwitches, m.backendBusy, m.admissions, admissionState}
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
