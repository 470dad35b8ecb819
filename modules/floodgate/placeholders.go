package floodgate

// The placeholders floodgate keeps out of Caddy's vars map (annotation.go says why):
// {http.vars.floodgate.asn} and {http.vars.floodgate.prefix} are set in the request's
// replacer. Caddy's replacer looks a placeholder up in its static values before its
// http.vars.* provider, so they read the same wherever a placeholder is read (directives,
// handle_errors, log_append, templates, a vars matcher written {http.vars.floodgate.asn});
// only code reading the vars map itself (caddyhttp.GetVar, a vars matcher naming
// floodgate.asn bare) does not see them.
const (
	asnPlaceholder    = "http.vars.floodgate.asn"
	prefixPlaceholder = "http.vars.floodgate.prefix"
)
