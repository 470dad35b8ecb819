package floodgate

import (
	"context"

	"github.com/caddyserver/caddy/v2"
)

// prefixPlaceholder is {http.vars.floodgate.prefix}: the one floodgate variable kept out of
// Caddy's vars map (annotation.go says why). Caddy's replacer looks a placeholder up in its
// static values before its http.vars.* provider, so the placeholder reads the same wherever
// a placeholder is read (directives, handle_errors, log_append, templates, the vars matcher
// written {http.vars.floodgate.prefix}); only code reading the vars map itself
// (caddyhttp.GetVar, a vars matcher naming floodgate.prefix bare) does not see it.
const prefixPlaceholder = "http.vars.floodgate.prefix"

// setReplacerVar sets the placeholder key (without braces) of the request's replacer to
// value, read when a placeholder is replaced.
func setReplacerVar(ctx context.Context, key string, value any) {
	if repl, ok := ctx.Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set(key, value)
	}
}
