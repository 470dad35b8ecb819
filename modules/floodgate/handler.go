package floodgate

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/floodgate-proxy/floodgate/internal/admission"
	"github.com/floodgate-proxy/floodgate/internal/challenge"
	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/normalize"
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

	// VisitorCookie "off" stops this site setting and reading the visitor cookie that makes
	// people browsing before a flood returning visitors (set it for a site behind a shared
	// cache: an answer carrying a cookie is not cached). Default: on (unless the app's
	// challenge block turns it off for all).
	VisitorCookie string `json:"visitor_cookie,omitempty"`

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
	if err := onOff(h.VisitorCookie); err != nil {
		return fmt.Errorf("floodgate handler: visitor_cookie: %w", err)
	}
	// Under a flood, refusal lines are sampled: the first few each second, then none.
	h.logger = ctx.Logger().WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, 1e9, 5, 0)
	}))
	return nil
}

// exchange is what floodgate works on while it handles a request: the normalised request,
// its classification, the decision's input and verdict, the visitor cookie, the detector's
// sample. Pooled, they cost no allocation, and ServeHTTP's stack frame stays small: the
// reverse proxy runs further down the same goroutine stack, and a deeper stack is copied
// into a bigger one whenever a garbage collection has shrunk it. Nothing in it outlives
// ServeHTTP.
type exchange struct {
	req classify.Request
	res classify.Result
	in  verdict.Request
	v   verdict.Verdict
	// counted is the verdict of the decision's counting steps (verdict.Decider.Count), which
	// settled into v: a request that waited for the backend is settled again (see recheck).
	counted verdict.Verdict
	visit   visit
	site    string         // in.SiteName()
	sample  protect.Sample // for the under-attack detector
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// ServeHTTP takes a request through floodgate's stages: normalise, classify, decide (the one
// place that says what happens, internal/verdict), act on the verdict (refuse, challenge,
// delay), admit within the site's share of the backend, proxy, and observe the answer.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	st := h.app.state
	x := exchanges.Get().(*exchange)
	defer exchanges.Put(x)
	if h.classify(r, st, x); st.challenger.IsVerify(r) {
		return h.answer(w, r, st, &x.res)
	}
	h.decide(r, st, x)
	defer x.observe(st) // every request, refused or not, tells the under-attack detector
	f := new(flight)    // what outlives this call: the variables and log fields
	if answered, err := h.act(w, r, st, &x.in, &x.v, f); answered {
		return err
	}
	ordinaryPage := x.visit.count && x.v.Step == verdict.StepNone && x.sample.Requests > 0
	first := ordinaryPage && x.visit.err != nil
	if first {
		// A browser without a valid visitor cookie gets its first before admission, so that
		// a page the backend is too short for carries it too: its next pages show they kept
		// it (tier browser, not new). Later visits count only in calm times.
		countVisit(w, r, st, x, f)
	}
	ticket, err := h.admit(w, r, st, &x.in, &x.v, &x.sample)
	if err != nil {
		return err
	}
	if ticket.Waited {
		if answered, err := h.recheck(w, r, st, x, f, ticket); answered {
			return err
		}
	}
	if ordinaryPage && !first && !ticket.Waited && !x.in.Sites.UnderAttack(x.site) {
		// An ordinary page for a browser in calm times counts as a visit.
		countVisit(w, r, st, x, f)
	}
	return h.proxy(w, r, next, st, &x.in, &x.sample, ticket, &f.rec)
}

// classify normalises and classifies r into x. Not inlined: its temporaries stay out of
// ServeHTTP's frame, which is on the stack all through the proxying.
//
//go:noinline
func (h *Handler) classify(r *http.Request, st *state, x *exchange) {
	x.req = requestOf(r)
	st.classifier.Classify(&x.req, &x.res)
}

// decide reads the client's pass and visitor cookie and decides (x.v); it makes the
// detector's sample of the request: static files do not count towards a site's page rate.
// Not inlined, like classify.
//
//go:noinline
func (h *Handler) decide(r *http.Request, st *state, x *exchange) {
	// The request's time, read once: passes, the visitor cookie, budgets and the status
	// page's rates all take it (the clock cost ~45 ns a reading, seven a request before).
	t := time.Now()
	x.in = h.input(r, st, &x.req, &x.res, t)
	x.visit = h.visitor(r, st, &x.res, t)
	x.in.Returning = x.visit.returning
	x.in.Visitor = x.visit.count && x.visit.err == nil
	x.counted = st.decider.Count(r.Context(), &x.in)
	x.v = st.decider.Settle(&x.in, x.counted)
	x.site = x.in.SiteName()
	x.sample = protect.Sample{Requests: 1}
	if normalize.IsStatic(x.req.Path) {
		x.sample.Requests = 0
	}
}

// countVisit counts the request as a visit: it sets the visitor cookie (ServeHTTP says
// when). Not inlined, like classify.
//
//go:noinline
func countVisit(w http.ResponseWriter, r *http.Request, st *state, x *exchange, f *flight) {
	line, ok := st.challenger.AppendVisitCookieAt(f.cookieLine[:0], r, x.res.Prefix, x.visit.v, x.visit.err, x.in.Now)
	if !ok {
		return
	}
	// The line is in f (it fits, as every cookie name of up to 32 bytes does) or, longer, in
	// a slice of its own: either way nothing writes to it again, and f outlives the header.
	addHeader(w.Header(), "Set-Cookie", unsafe.String(unsafe.SliceData(line), len(line)), &f.setCookie)
}

// observe tells the under-attack detector about the request's site.
func (x *exchange) observe(st *state) { st.protection.detector.Observe(x.site, x.sample) }

// flight is floodgate's one allocation per request: what outlives ServeHTTP — the
// annotation, which placeholders and the access log read after it returns, and the values
// of the header fields it sets (kept here rather than in slices of their own) — and the
// recorder of the answer's status.
type flight struct {
	annotation
	rec        statusRecorder
	setCookie  [1]string
	retryAfter [1]string
	cookieLine [challenge.VisitCookieLen]byte // the visitor cookie's Set-Cookie line
}

// addHeader adds value to the header field key (canonical), in slot when it is the field's
// first value: Header.Add would allocate a slice for it.
func addHeader(h http.Header, key, value string, slot *[1]string) {
	if old := h[key]; len(old) > 0 {
		h[key] = append(old, value)
		return
	}
	slot[0] = value
	h[key] = slot[:1:1]
}

// visit is what the visitor cookie of a request says.
type visit struct {
	count     bool // a browser, on a site that keeps visitor cookies: count its visit
	returning bool
	v         pass.Visitor
	err       error
}

// visitor reads the visitor cookie of a browser at t, unless the site or the app turned
// visitor cookies off.
func (h *Handler) visitor(r *http.Request, st *state, res *classify.Result, t time.Time) visit {
	if h.VisitorCookie == "off" || res.Class != rules.ClassBrowser {
		return visit{}
	}
	out := visit{count: true}
	out.v, out.returning, out.err = st.challenger.VisitorOfAt(r, res.Prefix, t)
	return out
}

// requestOf is what classification and the decision see of r: its normalised view (package
// normalize), computed once. Path is the script the backend runs (//, /./, %2e, .., PATH_INFO
// and extension case resolved) and Host the site's name as a virtual host resolves it (a junk
// Host is normalize.JunkHost), so every matcher, budget key, exemption and site lookup sees
// what the backend will do, not how the client spelled it.
func requestOf(r *http.Request) classify.Request {
	view := normalize.Of(r.Host, r.URL.Path)
	return classify.Request{
		IP:        clientIP(r),
		UserAgent: classify.HeaderValue(r.Header, "User-Agent"),
		Host:      view.Host,
		Method:    r.Method,
		Path:      view.Script,
		Query:     r.URL.RawQuery,
		Headers:   classify.HeaderFlagsOf(r.Header, r.TLS != nil),
	}
}

// input is the decision's input: the classified request and what the handler knows beside
// it (the client's pass, exempt paths, shadow, the sites' state), at the request's time t.
func (h *Handler) input(r *http.Request, st *state, req *classify.Request, res *classify.Result, t time.Time) verdict.Request {
	level, refused := st.challenger.HeldAt(r, res.Prefix, t)
	return verdict.Request{Req: req, Class: res, Pass: level, PassRefused: refused, Now: t,
		Exempt: h.exempt.Allows(req.Method, req.Path, req.Query), Shadow: h.Shadow || st.shadow, Sites: st.protection}
}

// act carries out the verdict: starts a quarantine it asks for, reports it (variables, log
// fields, metrics), and answers a challenge or a refusal, or holds a delayed request. It
// reports whether the request was answered here.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, st *state, in *verdict.Request, v *verdict.Verdict, f *flight) (answered bool, err error) {
	if v.Quarantine > 0 {
		h.startQuarantine(st, in, v)
	}
	if v.Step == verdict.StepQuarantine {
		st.metrics.quarantineRefusals.Inc()
	}
	if v.PassRefused != "" {
		st.metrics.passesRefused.WithLabelValues(string(v.PassRefused)).Inc()
	}
	h.report(r, st, in, v, &f.annotation)
	paceAnswer(r.Context(), in, v) // a flood retrying at once costs one answer a hold (pace.go)
	return h.carryOut(w, r, st, in, v, f)
}

// recheck decides a request that waited for the backend once more, on its site's state now
// (verdict.Decider.Recheck says which requests and what they get; nothing is counted
// twice). One that now gets a challenge or a refusal gives its slot back unused and gets it.
// It reports whether it answered.
func (h *Handler) recheck(w http.ResponseWriter, r *http.Request, st *state, x *exchange, f *flight, ticket admission.Ticket) (answered bool, err error) {
	v, changed := st.decider.Recheck(&x.in, &x.counted, &x.v)
	if !changed {
		return false, nil
	}
	ticket.Release(admission.OutcomeIgnore)
	x.v = v
	st.metrics.rechecked.WithLabelValues(v.Action.String()).Inc()
	if v.Step == verdict.StepQuarantine {
		st.metrics.quarantineRefusals.Inc()
	}
	f.annotation.annotate(r, x.in.Class, &x.v) // the log says what the request got
	return h.carryOut(w, r, st, &x.in, &x.v, f)
}

// carryOut answers a challenge or a refusal, or holds a delayed request (act, recheck). It
// reports whether the request was answered here.
func (h *Handler) carryOut(w http.ResponseWriter, r *http.Request, st *state, in *verdict.Request, v *verdict.Verdict, f *flight) (answered bool, err error) {
	res := in.Class
	switch v.Action {
	case rules.ActionChallenge:
		st.metrics.challengesIssued.WithLabelValues(v.ChallengeLevel.String()).Inc()
		return true, st.challenger.Serve(w, r, v.ChallengeLevel, res.Prefix)
	case rules.ActionBlock:
		if ce := h.logger.Check(zap.InfoLevel, "blocked"); ce != nil { // sampled: fields only when written
			ce.Write(zap.String("rule", v.Rule), zap.String("reason", v.Reason), zap.String("class", res.Class),
				zap.String("bot", res.Bot), zap.Stringer("ip", in.Req.IP), zap.String("host", in.Req.Host))
		}
		return true, refuseRule(r.Context(), w, http.StatusForbidden, refusal{blocked: true, rule: v.Rule, reason: v.Reason})
	case rules.ActionThrottle:
		hdr := w.Header()
		delete(hdr, "Retry-After") // set, not added
		addHeader(hdr, "Retry-After", strconv.Itoa(int(v.RetryAfter.Seconds())), &f.retryAfter)
		return true, refuseRule(r.Context(), w, http.StatusTooManyRequests, refusal{rule: v.Rule, reason: v.Reason, budget: v.Budget})
	case rules.ActionDelay:
		st.decider.Hold(r.Context(), v.Delay)
	}
	return false, nil
}

// admit waits for the request's turn at the backend (adaptive admission, most trusted
// first, see admit.go); the site's configured max_inflight, or the protect block's
// site_max_inflight, is an upper bound.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, st *state, in *verdict.Request, v *verdict.Verdict, sample *protect.Sample) (admission.Ticket, error) {
	siteCap := st.protect.SiteMaxInflight
	if s := in.Class.Site; s != nil && s.MaxInflight > 0 {
		siteCap = s.MaxInflight
	}
	return admit(r.Context(), w, st, in.SiteName(), v.Tier, siteCap, sample)
}

// proxy passes the request on and observes the answer: latency and 5xx for the detector,
// the status for response budgets (404 floods). Admission learns from the upstream's time to
// first byte (when its status is written), not from the whole request: copying the body to
// the client is not the backend's time.
func (h *Handler) proxy(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, st *state, in *verdict.Request, sample *protect.Sample, ticket admission.Ticket, rec *statusRecorder) error {
	*rec = statusRecorder{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	start := time.Now()
	err := next.ServeHTTP(rec, r)
	sample.Latency = time.Since(start)
	firstByte := sample.Latency
	if !rec.at.IsZero() {
		firstByte = rec.at.Sub(start)
	}
	status := statusOf(rec, err)
	outcome := outcomeOf(r.Context(), status)
	if sample.Requests == 0 {
		// A static file holds its slot but teaches the limit nothing: its millisecond answer
		// would pull the healthy latency far below a page's, and then every flood of pages
		// would look like congestion (the matrix benchmark saw the limit fall to its floor).
		outcome = admission.OutcomeIgnore
	}
	ticket.ReleaseAfter(outcome, firstByte)
	if status >= 500 {
		sample.Errors5xx = 1
	}
	if in.Class.HasResponseRules {
		st.decider.CountResponse(r.Context(), in.Req, in.Class, status)
	}
	return err
}

// startQuarantine quarantines the request's site (its host) as the verdict asks, and tells
// the tech once.
func (h *Handler) startQuarantine(st *state, in *verdict.Request, v *verdict.Verdict) {
	req := in.Req
	reason := fmt.Sprintf("rule %s: %s", v.Rule, v.Budget)
	if st.protection.startQuarantine(req.Host, time.Now().Add(v.Quarantine), reason) { // and across the fleet
		st.metrics.quarantines.WithLabelValues(st.protection.siteLabel(req.Host)).Inc()
		st.logger.Warn("site quarantined: its POST rate looks like a compromised site; its POSTs get 429, its pages still flow",
			zap.String("site", req.Host), zap.String("rule", v.Rule), zap.String("budget", v.Budget),
			zap.Duration("cooldown", v.Quarantine), zap.Stringer("last_client", req.IP))
	}
}

// report exposes the identity and verdict (variables, log fields, metrics) and logs a budget
// crossing once per key and window.
func (h *Handler) report(r *http.Request, st *state, in *verdict.Request, v *verdict.Verdict, a *annotation) {
	res := in.Class
	ruleName := v.Rule
	if ruleName == "" {
		ruleName = res.Rule
	}
	a.annotate(r, res, v)
	st.metrics.requests.inc(res.Class, v.Action, ruleName)
	hostRates.Add(in.Now, res.Class, v.Action) // floodgate status: the last minute
	if v.StoreErrors > 0 {
		st.metrics.storeErrors.Add(float64(v.StoreErrors))
	}
	if v.Crossed {
		st.logger.Warn("budget exceeded",
			zap.String("rule", v.Rule), zap.String("budget", v.Budget), zap.String("action", v.Action.String()),
			zap.Bool("shadow", v.Shadowed), zap.String("key", v.Key), zap.String("class", res.Class),
			zap.String("bot", res.Bot), zap.String("host", in.Req.Host), zap.Duration("retry_after", v.RetryAfter))
	}
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

// refuse answers a refusal. When the server has handle_errors routes, it returns the Caddy
// error they shape the page from. Without them it writes the status itself, as Caddy's
// error path would (an empty body), and skips that path, whose error logger encodes the
// whole request for every error, even unlogged: the largest cost of a refusal under a
// flood. Either way no stack trace and no random id are made (caddyhttp.Error's); the
// access log names the rule.
func refuse(ctx context.Context, w http.ResponseWriter, status int, err error) error {
	if writesRefusals(ctx) {
		w.WriteHeader(status)
		return nil
	}
	return caddyhttp.HandlerError{StatusCode: status, Err: err}
}

// refuseRule is refuse for a rule's refusal, made into an error only when it is returned
// (an allocation).
func refuseRule(ctx context.Context, w http.ResponseWriter, status int, why refusal) error {
	if writesRefusals(ctx) {
		w.WriteHeader(status)
		return nil
	}
	return caddyhttp.HandlerError{StatusCode: status, Err: why}
}

// writesRefusals says whether floodgate writes its refusals itself: the server has no
// handle_errors routes to shape them.
func writesRefusals(ctx context.Context) bool {
	srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	return ok && (srv.Errors == nil || len(srv.Errors.Routes) == 0)
}

// refusal says which rule refused a request and why; it is formatted only when logged.
type refusal struct {
	blocked              bool
	rule, reason, budget string
}

func (r refusal) Error() string {
	if r.blocked {
		return "floodgate: blocked by rule " + r.rule + " (" + r.reason + ")"
	}
	return "floodgate: rule " + r.rule + " (" + r.reason + ") " + r.budget
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

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
