package floodgate

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
)

// The six placeholders read what floodgate decided, whether Caddy finds them in its vars
// map or in the replacer; and the vars map Caddy made for the request, with reverse_proxy's
// entry, stays within Go's small map (8 entries): a ninth grew it into a table on every
// request.
func TestAnnotationPlaceholdersAndVarsMapSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  classify.Result
		v    verdict.Verdict
		want string
	}{
		{"AI crawler throttled", classify.Result{Identity: classify.Identity{Class: "ai-crawler", Bot: "GPTBot", Rule: "gptbot", ASN: 16509, Prefix: netip.MustParsePrefix("3.0.0.0/24")}},
			verdict.Verdict{Action: rules.ActionThrottle, Rule: "gptbot"}, "ai-crawler|GPTBot|gptbot|16509|3.0.0.0/24|throttle"},
		{"browser, no ASN known", classify.Result{Identity: classify.Identity{Class: rules.ClassBrowser, Rule: "browsers", Prefix: netip.MustParsePrefix("90.1.2.0/24")}},
			verdict.Verdict{Action: rules.ActionNone}, "browser||browsers||90.1.2.0/24|pass"},
		{"no prefix", classify.Result{Identity: classify.Identity{Class: "unknown"}}, verdict.Verdict{Action: rules.ActionBlock, Rule: "scanner"}, "unknown|||||block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repl := caddy.NewReplacer()
			w := httptest.NewRecorder()
			r := caddyhttp.PrepareRequest(httptest.NewRequest(http.MethodGet, "http://site.example/", nil), repl, w, new(caddyhttp.Server))
			vars := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
			caddyVars := len(vars)
			f := new(flight)
			f.annotate(r, &tc.res, &tc.v)
			got := repl.ReplaceAll("{http.vars.floodgate.class}|{http.vars.floodgate.bot}|{http.vars.floodgate.rule}|{http.vars.floodgate.asn}|{http.vars.floodgate.prefix}|{http.vars.floodgate.action}", "")
			if got != tc.want {
				t.Errorf("placeholders %q, want %q", got, tc.want)
			}
			// reverse_proxy adds one more to every request it proxies (proxy_protocol_info).
			if len(vars)+1 > 8 {
				t.Errorf("vars map holds %d entries (Caddy's %d and floodgate's), reverse_proxy adds one: past 8, Go grows it per request", len(vars), caddyVars)
			}
		})
	}
}
