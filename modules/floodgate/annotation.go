package floodgate

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
)

// annotation is what floodgate tells the rest of Caddy about a request: the placeholders
// {http.vars.floodgate.*} and the "floodgate" object of its access-log line. It is part of
// the request's one allocation (flight): each variable is a pointer to it under a type
// whose String gives the field (Caddy's placeholders and vars matcher read fmt.Stringer
// values), and the ASN and prefix are only formatted when something reads them.
type annotation struct {
	class, bot, rule, actingRule, budget, asOrg string
	action                                      rules.Action
	asn                                         uint32
	prefix                                      netip.Prefix
	// tier is the admission tier (trusted … untrusted), logged when computed.
	tier verdict.Tier
	// outdated, headersInconsistent: classify's signals (a browser version nobody runs, a
	// claimed browser missing headers it always sends); logged only when true.
	outdated, headersInconsistent bool
}

// annotate fills a with the identity and verdict and exposes them as variables
// ({http.vars.floodgate.*}) and as access-log fields. a must not be reused: both keep it.
func (a *annotation) annotate(r *http.Request, res *classify.Result, v *verdict.Verdict) {
	*a = annotation{class: res.Class, bot: res.Bot, rule: res.Rule, budget: v.Budget, asOrg: res.ASOrg,
		action: v.Action, asn: res.ASN, prefix: res.Prefix, tier: v.Tier,
		outdated: res.Outdated, headersInconsistent: res.HeadersInconsistent}
	if v.Rule != res.Rule {
		a.actingRule = v.Rule
	}
	ctx := r.Context()
	// caddyhttp.SetVar, the vars map looked up once rather than once a variable (a walk up
	// the request's context chain each); none of the values is nil.
	if vars, ok := ctx.Value(caddyhttp.VarsCtxKey).(map[string]any); ok {
		vars["floodgate.class"] = (*classVar)(a)
		vars["floodgate.bot"] = (*botVar)(a)
		vars["floodgate.rule"] = (*ruleVar)(a)
		vars["floodgate.asn"] = (*asnVar)(a)
		vars["floodgate.prefix"] = (*prefixVar)(a)
		vars["floodgate.action"] = v.Action
	}
	if extra, ok := ctx.Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok && accessLogged(ctx) {
		extra.Add(zap.Object("floodgate", a))
	}
}

// accessLogged reports whether the request's server may write an access log: not when it has
// no log configuration at all (no `log` directive in any of its sites), where nothing reads
// the log fields. Adding them costs three allocations a request (ExtraLogFields.Add clears a
// sync.Map, which makes it a new root, and grows its slice): the largest part of
// floodgate's own allocations on the allowed path of a server that keeps no access log.
func accessLogged(ctx context.Context) bool {
	srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	return !ok || srv.Logs != nil
}

// The variables: each reads one field of the annotation.
type (
	classVar  annotation
	botVar    annotation
	ruleVar   annotation
	asnVar    annotation
	prefixVar annotation
)

func (a *classVar) String() string { return a.class }
func (a *botVar) String() string   { return a.bot }
func (a *ruleVar) String() string  { return a.rule }
func (a *asnVar) String() string   { return (*annotation)(a).asnText() }
func (a *prefixVar) String() string {
	if !a.prefix.IsValid() {
		return ""
	}
	return a.prefix.String()
}

// asnText is the ASN in decimal, empty when unknown.
func (a *annotation) asnText() string {
	if a.asn == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(a.asn), 10)
}

// MarshalLogObject writes the access-log fields that are set.
func (a *annotation) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("class", a.class)
	enc.AddString("action", a.action.String())
	tier := ""
	if a.tier.Valid() {
		tier = a.tier.String()
	}
	for _, kv := range [...][2]string{{"bot", a.bot}, {"rule", a.rule}, {"acting_rule", a.actingRule},
		{"budget", a.budget}, {"asn", a.asnText()}, {"as_org", a.asOrg}, {"tier", tier}} {
		if kv[1] != "" {
			enc.AddString(kv[0], kv[1])
		}
	}
	if a.outdated {
		enc.AddBool("outdated", true)
	}
	if a.headersInconsistent {
		enc.AddBool("headers_inconsistent", true)
	}
	return nil
}
