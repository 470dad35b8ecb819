package floodgate

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/floodgate-proxy/floodgate/internal/challenge"
	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/pass"
	"github.com/floodgate-proxy/floodgate/internal/protect"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler applies floodgate to the requests of a site: it identifies the client, counts the
// request against the budgets of the rules that apply, and passes, delays, throttles (429)
// or blocks (403) it. Refusals are returned as Caddy errors, so handle_errors can shape them.
//
// It sets the placeholders {http.vars.floodgate.class}, .bot, .rule, .asn, .prefix and
// .action, and adds the same fields to the access log.
type Handler struct {
	// Shadow makes this site's floodgate only count and log: nothing is refused or delayed.
	Shadow bool `json:"shadow,omitempty"`

	// ChallengeExempt lists path globs of this site that are never challenged (APIs,
	// webhooks): '*' within a path segment, '**' across segments. robots.txt, /.well-known/
	// and feeds are never challenged anyway. Budgets still count them.
	ChallengeExempt []string `json:"challenge_exempt,omitempty"`

	app    *App
	exempt *challenge.Exempt
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.floodgate",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision finds the floodgate app (configured by the global option, or with defaults).
func (h *Handler) Provision(ctx caddy.Context) error {
	appIface, err := ctx.App("floodgate")
	if err != nil {
		return fmt.Errorf("floodgate handler: %w", err)
	}
	h.app = appIface.(*App)
	if h.exempt, err = challenge.NewExempt(h.ChallengeExempt); err != nil {
		return fmt.Errorf("floodgate handler: challenge_exempt: %w", err)
	}
	// Under a flood, refusal lines are sampled: the first few each second, then none.
	h.logger = ctx.Logger().WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, 1e9, 5, 0)
	}))
	return nil
}

var resultPool = sync.Pool{New: func() any { return new(classify.Result) }}

// ServeHTTP identifies the client, counts the request, acts on the verdict, and passes the
// request on to the backend within its site's share of it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	st := h.app.state
	prot := st.protection
	req := classify.Request{
		IP:        clientIP(r),
		UserAgent: r.Header.Get("User-Agent"),
		Host:      hostOnly(r.Host),
		Method:    r.Method,
		Path:      r.URL.Path,
		Query:     r.URL.RawQuery,
	}
	res := resultPool.Get().(*classify.Result)
	defer resultPool.Put(res)
	st.classifier.Classify(&req, res)
	if st.challenger.IsVerify(r) {
		return h.answer(w, r, st, res)
	}
	site := siteKey(res, req.Host)
	// Every request, refused or not, tells the under-attack detector about its site; static
	// files do not count towards its page rate.
	sample := protect.Sample{Requests: 1}
	if isStatic(req.Path) {
		sample.Requests = 0
	}
	defer func() { prot.detector.Observe(site, sample) }()

	v := st.decider.Decide(r.Context(), &req, res)
	h.quarantine(st, &req, res, &v)
	// Under attack, clients that are not known good are challenged (those with a pass,
	// in spareChallenge below, go through).
	if v.Action < rules.ActionChallenge && v.Action != rules.ActionAllow && !res.Verified && prot.detector.Active(site) {
		v.Action, v.Rule, v.Reason, v.Budget = rules.ActionChallenge, "under-attack", "site under attack", ""
		v.ChallengeLevel = underAttackLevel(res.Site, st.protect)
	}
	if (h.Shadow || st.shadow) && v.Action > rules.ActionLog {
		v.Action, v.Shadowed = rules.ActionLog, true
	}
	passHeld := false
	if v.Action == rules.ActionChallenge && h.spareChallenge(r, st, res, v.ChallengeLevel) {
		v.Action, passHeld = rules.ActionNone, true
	}
	h.report(r, st, &req, res, v)

	switch v.Action {
	case rules.ActionChallenge:
		level, _ := pass.ParseLevel(v.ChallengeLevel)
		st.metrics.challengesIssued.WithLabelValues(level.String()).Inc()
		return st.challenger.Serve(w, r, level, res.Prefix)
	case rules.ActionBlock:
		h.logger.Info("blocked", zap.String("rule", v.Rule), zap.String("reason", v.Reason),
			zap.String("class", res.Class), zap.String("bot", res.Bot), zap.Stringer("ip", req.IP), zap.String("host", req.Host))
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("floodgate: blocked by rule %s (%s)", v.Rule, v.Reason))
	case rules.ActionThrottle:
		w.Header().Set("Retry-After", strconv.Itoa(int(v.RetryAfter.Seconds())))
		return caddyhttp.Error(http.StatusTooManyRequests, fmt.Errorf("floodgate: rule %s (%s) %s", v.Rule, v.Reason, v.Budget))
	case rules.ActionDelay:
		st.decider.Hold(r.Context(), v.Delay)
	}

	// Fair share: the site's and the backend's in-flight caps, known-good clients first.
	siteCap := st.protect.SiteMaxInflight
	if res.Site != nil && res.Site.MaxInflight > 0 {
		siteCap = res.Site.MaxInflight
	}
	if siteCap > 0 || st.protect.BackendMaxInflight > 0 {
		if sample.Requests > 0 {
			sample.Saturated = prot.gate.Saturated(site)
		}
		knownGood := passHeld || res.Verified || v.Action == rules.ActionAllow || h.holdsPass(r, st, res)
		release, err := prot.gate.Acquire(r.Context(), site, siteCap, knownGood)
		if err != nil {
			if r.Context().Err() != nil {
				return err // the client left while waiting
			}
			reason := "wait_timeout"
			if errors.Is(err, protect.ErrQueueFull) {
				reason = "queue_full"
			}
			st.metrics.backendBusy.WithLabelValues(reason).Inc()
			w.Header().Set("Retry-After", "5")
			return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("floodgate: site %s at its share of the backend: %w", site, err))
		}
		defer release()
	}

	rec := &statusRecorder{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	start := time.Now()
	err := next.ServeHTTP(rec, r)
	sample.Latency = time.Since(start)
	status := statusOf(rec, err)
	if status >= 500 {
		sample.Errors5xx = 1
	}
	if res.HasResponseRules {
		st.decider.CountResponse(r.Context(), &req, res, status)
	}
	return err
}

// quarantine starts a site's quarantine when its quarantine budget was passed, and refuses
// the site's POST, PUT, PATCH and DELETE requests while it lasts.
func (h *Handler) quarantine(st *state, req *classify.Request, res *classify.Result, v *verdict.Verdict) {
	q := st.protection.quarantine
	now := time.Now()
	if v.Quarantine > 0 {
		reason := fmt.Sprintf("rule %s: %s", v.Rule, v.Budget)
		if q.Start(req.Host, now.Add(v.Quarantine), reason) {
			st.metrics.quarantines.WithLabelValues(st.protection.siteLabel(req.Host)).Inc()
			st.logger.Warn("site quarantined: its POST rate looks like a compromised site; its POSTs get 429, its pages still flow",
				zap.String("site", req.Host), zap.String("rule", v.Rule), zap.String("budget", v.Budget),
				zap.Duration("cooldown", v.Quarantine), zap.Stringer("last_client", req.IP))
		}
	}
	if !unsafeMethod(req.Method) || v.Action >= rules.ActionThrottle {
		return
	}
	if until, ok := q.Until(req.Host, now); ok {
		v.Action, v.Rule, v.Reason, v.Budget = rules.ActionThrottle, "quarantine", "site quarantined", ""
		v.RetryAfter = until.Sub(now).Truncate(time.Second) + time.Second
		st.metrics.quarantineRefusals.Inc()
	}
}

// report exposes the identity and verdict (variables, log fields, metrics) and logs a budget
// crossing once per key and window.
func (h *Handler) report(r *http.Request, st *state, req *classify.Request, res *classify.Result, v verdict.Verdict) {
	ruleName := v.Rule
	if ruleName == "" {
		ruleName = res.Rule
	}
	h.annotate(r, res, v)
	st.metrics.requests.WithLabelValues(res.Class, v.Action.String(), ruleName).Inc()
	if v.StoreErrors > 0 {
		st.metrics.storeErrors.Add(float64(v.StoreErrors))
	}
	if v.Crossed {
		st.logger.Warn("budget exceeded",
			zap.String("rule", v.Rule), zap.String("budget", v.Budget), zap.String("action", v.Action.String()),
			zap.Bool("shadow", v.Shadowed), zap.String("key", v.Key), zap.String("class", res.Class),
			zap.String("bot", res.Bot), zap.String("host", req.Host), zap.Duration("retry_after", v.RetryAfter))
	}
}

// siteKey names the request's site for the backend's protection: the configured site, or the
// host itself.
func siteKey(res *classify.Result, host string) string {
	if res.Site != nil {
		return res.Site.Name
	}
	return host
}

// underAttackLevel is the challenge level shown while a site is under attack.
func underAttackLevel(site *rules.Site, p ProtectConfig) string {
	if site != nil && site.ChallengeLevel != "" {
		return site.ChallengeLevel
	}
	if p.UnderAttack.ChallengeLevel != "" {
		return p.UnderAttack.ChallengeLevel
	}
	return rules.DefaultChallengeLevel
}

// holdsPass reports whether the request carries a valid pass (any level).
func (h *Handler) holdsPass(r *http.Request, st *state, res *classify.Result) bool {
	_, err := st.challenger.Check(r, res.Prefix, pass.LevelCookie)
	return err == nil
}

// spareChallenge reports whether a request due for a challenge at level goes through without
// one: feeds, robots.txt, /.well-known/ and the site's exempt paths, verified search engines,
// and clients holding a valid pass of that level.
func (h *Handler) spareChallenge(r *http.Request, st *state, res *classify.Result, levelName string) bool {
	if res.Verified || h.exempt.IsExempt(r) {
		return true
	}
	if ex := st.siteExempt[res.Site]; ex != nil && ex.IsExempt(r) {
		return true
	}
	level, err := pass.ParseLevel(levelName)
	if err != nil {
		level = pass.LevelCookie
	}
	_, err = st.challenger.Check(r, res.Prefix, level)
	if err == nil {
		return true
	}
	if reason := pass.ReasonOf(err); reason != pass.ReasonMissing {
		st.metrics.passesRefused.WithLabelValues(string(reason)).Inc()
	}
	return false
}

// answer handles a challenge answer posted to the verify path: a pass and a redirect back,
// or a new challenge.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, st *state, res *classify.Result) error {
	out := st.challenger.HandleVerify(w, r, res.Prefix)
	if out.Passed {
		st.metrics.challengesPassed.WithLabelValues(out.Level.String()).Inc()
	} else {
		st.metrics.challengesFailed.WithLabelValues(out.Level.String(), string(out.Reason)).Inc()
	}
	if out.SeenErr != nil {
		h.logger.Warn("challenge answer accepted without its single-use check: the store failed", zap.Error(out.SeenErr))
	}
	return nil
}

// annotate exposes the identity and verdict as variables ({http.vars.floodgate.*}) and as
// access-log fields.
func (h *Handler) annotate(r *http.Request, res *classify.Result, v verdict.Verdict) {
	ctx := r.Context()
	asn := ""
	if res.ASN != 0 {
		asn = strconv.FormatUint(uint64(res.ASN), 10)
	}
	prefix := ""
	if res.Prefix.IsValid() {
		prefix = res.Prefix.String()
	}
	caddyhttp.SetVar(ctx, "floodgate.class", res.Class)
	caddyhttp.SetVar(ctx, "floodgate.bot", res.Bot)
	caddyhttp.SetVar(ctx, "floodgate.rule", res.Rule)
	caddyhttp.SetVar(ctx, "floodgate.asn", asn)
	caddyhttp.SetVar(ctx, "floodgate.prefix", prefix)
	caddyhttp.SetVar(ctx, "floodgate.action", v.Action.String())
	extra, ok := ctx.Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields)
	if !ok {
		return
	}
	lf := &logFields{class: res.Class, action: v.Action.String(), bot: res.Bot, rule: res.Rule,
		budget: v.Budget, asn: asn, asOrg: res.ASOrg}
	if v.Rule != res.Rule {
		lf.actingRule = v.Rule
	}
	extra.Add(zap.Object("floodgate", lf))
}

// logFields is the "floodgate" object of an access-log line: one allocation per request
// instead of a field slice and a dictionary.
type logFields struct {
	class, action, bot, rule, actingRule, budget, asn, asOrg string
}

// MarshalLogObject writes the fields that are set.
func (f *logFields) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("class", f.class)
	enc.AddString("action", f.action)
	for _, kv := range [...][2]string{{"bot", f.bot}, {"rule", f.rule}, {"acting_rule", f.actingRule},
		{"budget", f.budget}, {"asn", f.asn}, {"as_org", f.asOrg}} {
		if kv[1] != "" {
			enc.AddString(kv[0], kv[1])
		}
	}
	return nil
}

// clientIP is Caddy's client_ip (which honours trusted_proxies), or the peer address.
func clientIP(r *http.Request) netip.Addr {
	if s, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.WithZone("").Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	return netip.Addr{}
}

// hostOnly lowercases a Host header and strips its port.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
