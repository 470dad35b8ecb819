package floodgate

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/floodgate-proxy/floodgate/internal/admission"
	"github.com/floodgate-proxy/floodgate/internal/fleet"
	"github.com/floodgate-proxy/floodgate/internal/pass"
	"github.com/floodgate-proxy/floodgate/internal/protect"
)

// ProtectConfig protects the shared backend. Admission is adaptive and on by default:
// floodgate learns how many requests the backend (and each site) takes at once before its
// latency climbs, admits that many, and ranks the others by trust (internal/admission).
// Nothing here needs setting; the caps are upper bounds. Per-site values come from a rule
// file's sites: section; these are the defaults.
type ProtectConfig struct {
	// BackendMaxInflight is an upper bound on the requests in flight to the backend, all
	// sites together: the learned limit never passes it. 0 (default): no bound.
	BackendMaxInflight int `json:"backend_max_inflight,omitempty"`

	// SiteMaxInflight is an upper bound on one site's requests in flight; a site may set
	// its own (max_inflight). 0 (default): no bound but the site's learned limit.
	SiteMaxInflight int `json:"site_max_inflight,omitempty"`

	// QueueLength is the most requests waiting for the backend, all sites together; a site
	// may fill at most an eighth of it. Past it, a more trusted request takes the place of
	// the least trusted waiting one. Default 1024.
	QueueLength int `json:"queue_length,omitempty"`

	// MaxWait is the longest a request waits for the backend before it is refused (503 for
	// browsers, 429 for automation, with Retry-After). Default 2s.
	MaxWait caddy.Duration `json:"max_wait,omitempty"`

	// UnderAttack sets the automatic under-attack mode.
	UnderAttack UnderAttackConfig `json:"under_attack,omitzero"`
}

// protection is the state that protects the backend, shared by every config load so that a
// reload neither doubles the caps nor lifts quarantines.
type protection struct {
	admission  *admission.Controller
	quarantine *protect.Quarantine
	detector   *protect.Detector
	// fleet is the view shared with the other proxies through Redis (fleet.go); nil
	// without Redis.
	fleet atomic.Pointer[fleet.Fleet]

	// current is the newest config's state, for the detector's callback.
	current atomic.Pointer[state]
	stop    chan struct{}

	mu     sync.Mutex
	labels map[string]bool // site labels given to metrics so far
}

// maxSiteLabels bounds the distinct site labels of the per-site metrics: configured sites
// and quarantined hosts, then "other".
const maxSiteLabels = 500

// siteLabel returns the metric label for a site, bounded in number.
func (p *protection) siteLabel(site string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.labels[site] {
		return site
	}
	if len(p.labels) >= maxSiteLabels {
		return "other"
	}
	p.labels[site] = true
	return site
}

// Destruct stops the detector's clock when no config uses the protection any more.
func (p *protection) Destruct() error {
	close(p.stop)
	return nil
}

var protections = caddy.NewUsagePool()

const protectionKey = "floodgate-protection"

// statusRecorder remembers the status of the response written through it.
// It also notes when the status came: the upstream's time to first byte, for admission.
type statusRecorder struct {
	caddyhttp.ResponseWriterWrapper
	status int
	at     time.Time
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status, s.at = code, time.Now()
	}
	s.ResponseWriterWrapper.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status, s.at = http.StatusOK, time.Now()
	}
	return s.ResponseWriterWrapper.Write(b)
}

// statusOf is the status the client got: the written one, or the one of the error a later
// handler returned (Caddy writes it after us).
func statusOf(rec *statusRecorder, err error) int {
	if rec.status != 0 {
		return rec.status
	}
	if err != nil {
		if he, ok := err.(caddyhttp.HandlerError); ok && he.StatusCode != 0 {
			return he.StatusCode
		}
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

// UnderAttackConfig sets the automatic under-attack mode: while a site is under attack,
// clients that are not known good (no valid pass, not a verified search engine, not allowed
// by a rule) are challenged. A site switches on from backend pressure — its requests queued
// or shed by admission, its latency a multiple of its own healthy latency, its answers 5xx —
// when one signal stays past its trigger for OnAfter, and off when all have been calm (below
// half their trigger) for OffAfter. No trigger needs setting.
type UnderAttackConfig struct {
	// Rate is a fixed rate of page requests of a site that means an attack, such as
	// "50/sec" (static files do not count); a site may set its own (attack_rate). Default
	// off: backend pressure is the signal.
	Rate string `json:"rate,omitempty"`
	// Latency is a fixed upstream latency (90th percentile over 10s) that means an attack.
	// Default off: LatencyFactor is used.
	Latency caddy.Duration `json:"latency,omitempty"`
	// LatencyFactor is how many times its own healthy latency (learned in calm times) a
	// site's mean upstream latency must reach to mean an attack. Default 3.
	LatencyFactor float64 `json:"latency_factor,omitempty"`
	// ErrorShare is the share of upstream answers that are 5xx that means an attack.
	// Default 0.5.
	ErrorShare float64 `json:"error_share,omitempty"`
	// Saturation is the share of a site's requests that met backend pressure — queued or
	// shed by admission — that means an attack. Default 0.5.
	Saturation float64 `json:"saturation,omitempty"`
	// ChallengeLevel is the challenge shown while a site is under attack: cookie (default,
	// no JavaScript needed), script or work. A site may set its own.
	ChallengeLevel string `json:"challenge_level,omitempty"`
	// OnAfter is how long a signal must stay past its trigger, over the last second or
	// the last 10, before the site switches on. Default 500ms (protect.DefaultOnAfter): a
	// site switches on within a second of pressure.
	OnAfter caddy.Duration `json:"on_after,omitempty"`
	// OffAfter is how long all signals must stay calm before the mode switches off, and the
	// shortest time it stays on. Default 60s.
	OffAfter caddy.Duration `json:"off_after,omitempty"`
}

// Defaults of the under-attack mode.
const (
	// DefaultAttackRate is a site's page rate that means an attack: off, since a rate is a
	// number a tech must guess per site; backend pressure is measured instead.
	DefaultAttackRate = "off"
)

// level is the challenge level of sites under attack that set none; pass.LevelNone when the
// config names none (the decider's default).
func (u UnderAttackConfig) level() (pass.Level, error) {
	if u.ChallengeLevel == "" {
		return pass.LevelNone, nil
	}
	l, err := pass.ParseLevel(u.ChallengeLevel)
	if err != nil {
		return pass.LevelNone, fmt.Errorf("under_attack challenge_level %q: expected cookie, script or work", u.ChallengeLevel)
	}
	return l, nil
}

// detectorOptions turns the config into the detector's options; siteRate gives a
// configured site's own attack rate (0: the default).
func (u UnderAttackConfig) detectorOptions(defaultRate float64, siteRate func(string) float64, keep func(string) bool, onSwitch func(string, bool, string)) protect.DetectorOptions {
	return protect.DetectorOptions{
		Defaults: protect.SiteThresholds{
			TriggerRate:          defaultRate,
			TriggerErrorShare:    u.ErrorShare,
			TriggerLatency:       time.Duration(u.Latency),
			TriggerLatencyFactor: u.LatencyFactor,
			TriggerSaturation:    u.Saturation,
		},
		Keep: keep,
		Thresholds: func(site string) protect.SiteThresholds {
			return protect.SiteThresholds{TriggerRate: siteRate(site)}
		},
		OnAfter:  time.Duration(u.OnAfter),
		OffAfter: time.Duration(u.OffAfter),
		MinOn:    time.Duration(u.OffAfter),
		OnSwitch: onSwitch,
	}
}

// newProtection makes the shared protection state and starts the detector's clock.
func newProtection() *protection {
	p := &protection{
		admission:  admission.New(admission.Options{}),
		quarantine: protect.NewQuarantine(0),
		labels:     map[string]bool{},
		stop:       make(chan struct{}),
	}
	p.detector = protect.NewDetector(protect.DetectorOptions{OnSwitch: p.switched})
	go p.tick()
	// Own answers to the lowest tiers are held while the proxy is short of CPU (pace.go).
	go adaptHolds(answers, admission.RuntimeSchedDelay(), func() time.Duration { return p.admission.Stats().Baseline }, p.stop)
	return p
}

// pressed tells the detector that a page of site has just met the admission limit under
// pressure (it waits, or is refused): pressure counts as it is met, not when the request
// ends, so that a flood switches its site on within a second.
func (p *protection) pressed(site string) {
	p.detector.Observe(site, protect.Sample{Pressed: true})
}

// tick calls the detector's Tick at its resolution (a quarter second: a flood shows at the
// first tick after it starts).
func (p *protection) tick() {
	every := p.detector.Resolution()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			p.detector.Tick(now)
			if e := p.detector.Resolution(); e != every {
				every = e
				t.Reset(every)
			}
		case <-p.stop:
			return
		}
	}
}

// switched logs an under-attack switch and sets the metric, with the newest config's logger
// and metrics.
func (p *protection) switched(site string, on bool, reason string) {
	st := p.current.Load()
	if st == nil {
		return
	}
	p.publishSwitch(site, on)
	label := p.siteLabel(site)
	if on {
		st.logger.Warn("site under attack: challenging clients that are not known good", zap.String("site", site), zap.String("reason", reason))
		st.metrics.underAttack.WithLabelValues(label).Set(1)
		st.metrics.underAttackSwitches.WithLabelValues("on").Inc()
	} else {
		st.logger.Info("site no longer under attack", zap.String("site", site), zap.String("reason", reason))
		st.metrics.underAttack.DeleteLabelValues(label)
		st.metrics.underAttackSwitches.WithLabelValues("off").Inc()
	}
}
