package floodgate

import (
	"reflect"
	"slices"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// looseTrustedProxies names the servers that trust proxies to set X-Forwarded-For without
// trusted_proxies_strict. Caddy then takes the left-most address of the header, which the
// client writes itself: behind a load balancer that appends the address it saw, anyone
// becomes any address (a verified Googlebot, a new client per request, the holder of another's
// pass). With trusted_proxies_strict, Caddy takes the right-most address that is not a
// trusted proxy: the one the load balancer saw.
func looseTrustedProxies(servers map[string]*caddyhttp.Server) []string {
	var names []string
	for name, srv := range servers {
		if srv != nil && trustsProxies(srv) && srv.TrustedProxiesStrict == 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// trustsProxies reports whether a server trusts proxies to set the client address. Once the
// http app is provisioned, Caddy has turned the trusted_proxies config into an unexported
// field (and dropped the raw JSON): its presence is read by reflection.
func trustsProxies(srv *caddyhttp.Server) bool {
	if len(srv.TrustedProxiesRaw) > 0 || srv.TrustedProxiesUnix {
		return true
	}
	f := reflect.ValueOf(srv).Elem().FieldByName("trustedProxies")
	return f.IsValid() && f.Kind() == reflect.Interface && !f.IsNil()
}

// warnLooseTrustedProxies logs, once per config load, the servers that trust proxies without
// trusted_proxies_strict.
func (a *App) warnLooseTrustedProxies() {
	if a.ctx.Context == nil {
		return
	}
	app, err := a.ctx.AppIfConfigured("http")
	if err != nil {
		return
	}
	h, ok := app.(*caddyhttp.App)
	if !ok {
		return
	}
	if names := looseTrustedProxies(h.Servers); len(names) > 0 {
		a.logger.Warn("trusted_proxies without trusted_proxies_strict: clients choose their own address "+
			"(the left-most X-Forwarded-For entry), so they can pose as a verified search engine, "+
			"rotate past every per-address budget and carry another's pass; add trusted_proxies_strict "+
			"to the servers option (see Caddyfile.example)", zap.Strings("servers", names))
	}
}
