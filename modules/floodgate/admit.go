package floodgate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/floodgate-proxy/floodgate/internal/admission"
	"github.com/floodgate-proxy/floodgate/internal/protect"
)

// admit waits for a slot of the backend for a request of site trusted at tier (adaptive
// admission, see internal/admission), and notes in sample whether it met the limit while its
// site held at least its fair share (queued or shed): backend pressure from this site, for
// the under-attack detector. A refusal is a Caddy error: 503 for
// browsers and better (the backend is busy, come back in a moment), 429 for automation and
// untrusted clients (slow down), with Retry-After either way.
func admit(ctx context.Context, w http.ResponseWriter, st *state, site string, tier admission.Tier, siteCap int, sample *protect.Sample) (admission.Ticket, error) {
	m := st.metrics
	var tk admission.Ticket
	var err error
	if sample.Requests > 0 {
		// The detector hears of pressure as it is met.
		tk, err = st.protection.admission.AcquireNotify(ctx, site, tier, siteCap, st.protection.pressed)
	} else {
		// A static file: not a page the limit learns calm demand from (see AcquireStatic).
		tk, err = st.protection.admission.AcquireStatic(ctx, site, tier, siteCap, nil)
	}
	// Pressure from this site's own traffic (not a moment's wait behind another site's
	// flood); static files count neither as pages nor as pressure.
	pressure := tk.Pressure && sample.Requests > 0
	sample.Queued = pressure
	if tk.Waited {
		m.admissionWait.WithLabelValues(tier.String()).Observe(tk.Wait.Seconds())
	}
	if err == nil {
		m.admittedCounter(tier, tk.Waited).Inc()
		return tk, nil
	}
	if ctx.Err() != nil {
		return tk, err // the client left while waiting
	}
	sample.Shed = pressure
	reason := "wait_timeout"
	switch {
	case errors.Is(err, admission.ErrQueueFull):
		reason = "queue_full"
	case errors.Is(err, admission.ErrShed):
		reason = "shed"
	}
	m.admissions.WithLabelValues(tier.String(), reason).Inc()
	m.backendBusy.WithLabelValues(reason).Inc()
	status, retry := http.StatusServiceUnavailable, "2"
	if tier >= admission.TierAutomation {
		status, retry = http.StatusTooManyRequests, "10"
		refusals.pace(ctx) // the backend is short: a scraper retrying at once waits (pace.go)
	}
	w.Header().Set("Retry-After", retry)
	return tk, refuse(ctx, w, status, fmt.Errorf("floodgate: backend busy for %s requests of site %s: %w", tier, site, err))
}

// outcomeOf says what an answer tells the admission limits: a 502, 503 or 504 from
// upstream is a backend failure (it answers fast, and must not look healthy); a client that
// left says nothing of the backend.
func outcomeOf(ctx context.Context, status int) admission.Outcome {
	switch {
	case ctx.Err() != nil:
		return admission.OutcomeIgnore
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		return admission.OutcomeDropped
	}
	return admission.OutcomeOK
}

// isHTTPS reports whether the client reached the site over HTTPS: directly, or through a
// TLS-terminating proxy that Caddy trusts (trusted_proxies) and that says so in
// X-Forwarded-Proto (its last value: the one the nearest proxy wrote). A Secure cookie on a
// plain-HTTP site would never come back; a cookie without Secure on an HTTPS site could leak.
func isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	if !trusted {
		return false
	}
	vals := r.Header.Values("X-Forwarded-Proto")
	if len(vals) == 0 {
		return false
	}
	last := vals[len(vals)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.EqualFold(strings.TrimSpace(last), "https")
}

// newAdmissionMetrics makes the admission counters, the histogram of the time requests
// waited in its queue, and a collector of the controller's state: the learned limit and
// healthy latency, requests in flight, and waiting by tier.
func newAdmissionMetrics(ctrl func() *admission.Controller) (*prometheus.CounterVec, *prometheus.HistogramVec, prometheus.Collector) {
	admissions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "floodgate", Name: "admission_total",
		Help: "Requests asking for the backend, by trust tier and result (admitted at once, queued then admitted, shed, queue_full, wait_timeout).",
	}, []string{"tier", "result"})
	wait := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "floodgate", Name: "admission_wait_seconds",
		Help:    "Time requests that waited for the backend spent in admission's queue (admitted or refused after waiting), by trust tier.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2},
	}, []string{"tier"})
	return admissions, wait, &admissionCollector{ctrl: ctrl}
}

// admissionCollector reports the admission controller's state at each scrape.
type admissionCollector struct {
	ctrl func() *admission.Controller
}

var (
	admissionLimitDesc = prometheus.NewDesc("floodgate_admission_limit",
		"Requests admitted to the backend at once: the learned concurrency limit (configured caps are upper bounds).", nil, nil)
	admissionBaselineDesc = prometheus.NewDesc("floodgate_admission_baseline_seconds",
		"The backend's healthy latency, learned by adaptive admission.", nil, nil)
	admissionDelayDesc = prometheus.NewDesc("floodgate_admission_proxy_delay_seconds",
		"The latency the proxy's own CPU (goroutines waiting to run) added to each backend answer lately, which the learned limit does not count as the backend's.", nil, nil)
	admissionInflightDesc = prometheus.NewDesc("floodgate_admission_inflight",
		"Requests in flight to the backend.", nil, nil)
	admissionWaitingDesc = prometheus.NewDesc("floodgate_admission_waiting",
		"Requests waiting for the backend, by trust tier.", []string{"tier"}, nil)
	admissionReservedDesc = prometheus.NewDesc("floodgate_admission_reserved",
		"Backend slots a trust tier must leave free for the more trusted tiers' measured demand.", []string{"tier"}, nil)
)

func (c *admissionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- admissionLimitDesc
	ch <- admissionBaselineDesc
	ch <- admissionDelayDesc
	ch <- admissionInflightDesc
	ch <- admissionWaitingDesc
	ch <- admissionReservedDesc
}

func (c *admissionCollector) Collect(ch chan<- prometheus.Metric) {
	ctrl := c.ctrl()
	if ctrl == nil {
		return
	}
	s := ctrl.Stats()
	ch <- prometheus.MustNewConstMetric(admissionLimitDesc, prometheus.GaugeValue, float64(s.Limit))
	ch <- prometheus.MustNewConstMetric(admissionBaselineDesc, prometheus.GaugeValue, s.Baseline.Seconds())
	ch <- prometheus.MustNewConstMetric(admissionDelayDesc, prometheus.GaugeValue, s.Delay.Seconds())
	ch <- prometheus.MustNewConstMetric(admissionInflightDesc, prometheus.GaugeValue, float64(s.Inflight))
	for t := admission.TierTrusted; t <= admission.TierUntrusted; t++ {
		ch <- prometheus.MustNewConstMetric(admissionWaitingDesc, prometheus.GaugeValue, float64(s.WaitingByTier[t]), t.String())
		ch <- prometheus.MustNewConstMetric(admissionReservedDesc, prometheus.GaugeValue, float64(s.Reserved[t]), t.String())
	}
}

// admissionStatus is the JSON of GET /floodgate/admission: what adaptive admission has
// learned and what it holds right now.
type admissionStatus struct {
	Limit         int            `json:"limit"`
	BaselineMs    float64        `json:"baseline_ms"`
	ProxyDelayMs  float64        `json:"proxy_delay_ms"`
	Inflight      int            `json:"inflight"`
	Waiting       int            `json:"waiting"`
	WaitingByTier map[string]int `json:"waiting_by_tier"`
	// ReservedByTier: the slots each tier must leave free for the more trusted tiers'
	// measured demand (none while the limit is in slow start).
	ReservedByTier map[string]int `json:"reserved_by_tier"`
	Sites          int            `json:"sites"`
}

// admission serves GET /floodgate/admission.
func (AdminAPI) admission(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Message: "use GET"}
	}
	p, err := protectionOrError()
	if err != nil {
		return err
	}
	s := p.admission.Stats()
	out := admissionStatus{Limit: s.Limit, BaselineMs: float64(s.Baseline.Microseconds()) / 1000,
		ProxyDelayMs: float64(s.Delay.Microseconds()) / 1000,
		Inflight:     s.Inflight, Waiting: s.Waiting, WaitingByTier: map[string]int{}, ReservedByTier: map[string]int{}, Sites: s.Sites}
	for t := admission.TierTrusted; t <= admission.TierUntrusted; t++ {
		out.WaitingByTier[t.String()] = s.WaitingByTier[t]
		out.ReservedByTier[t.String()] = s.Reserved[t]
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(out)
}

// onOff checks an on/off switch: "", "on" or "off".
func onOff(s string) error {
	switch s {
	case "", "on", "off":
		return nil
	}
	return fmt.Errorf("%q: expected on or off", s)
}
