package floodgate

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/floodgate-proxy/floodgate/internal/classify"
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

	app    *App
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
	// Under a flood, refusal lines are sampled: the first few each second, then none.
	h.logger = ctx.Logger().WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, 1e9, 5, 0)
	}))
	return nil
}

var resultPool = sync.Pool{New: func() any { return new(classify.Result) }}

// ServeHTTP classifies, counts and acts.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	st := h.app.state
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
	v := st.decider.Decide(r.Context(), &req, res)
	if (h.Shadow || st.shadow) && v.Action > rules.ActionLog {
		v.Action, v.Shadowed = rules.ActionLog, true
	}

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

	switch v.Action {
	case rules.ActionBlock:
		h.logger.Info("blocked", zap.String("rule", v.Rule), zap.String("reason", v.Reason),
			zap.String("class", res.Class), zap.String("bot", res.Bot), zap.Stringer("ip", req.IP), zap.String("host", req.Host))
		return caddyhttp.Error(http.StatusForbidden, fmt.Errorf("floodgate: blocked by rule %s (%s)", v.Rule, v.Reason))
	case rules.ActionThrottle:
		w.Header().Set("Retry-After", strconv.Itoa(int(v.RetryAfter.Seconds())))
		return caddyhttp.Error(http.StatusTooManyRequests, fmt.Errorf("floodgate: rule %s budget %s exceeded", v.Rule, v.Budget))
	case rules.ActionDelay:
		st.metrics.delayed.Inc()
		st.decider.Hold(r.Context(), v.Delay)
		st.metrics.delayed.Dec()
	}
	return next.ServeHTTP(w, r)
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
	fields := []zap.Field{zap.String("class", res.Class), zap.String("action", v.Action.String())}
	if res.Bot != "" {
		fields = append(fields, zap.String("bot", res.Bot))
	}
	if res.Rule != "" {
		fields = append(fields, zap.String("rule", res.Rule))
	}
	if v.Rule != "" && v.Rule != res.Rule {
		fields = append(fields, zap.String("acting_rule", v.Rule))
	}
	if v.Budget != "" {
		fields = append(fields, zap.String("budget", v.Budget))
	}
	if asn != "" {
		fields = append(fields, zap.String("asn", asn), zap.String("as_org", res.ASOrg))
	}
	extra.Add(zap.Dict("floodgate", fields...))
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
