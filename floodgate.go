// Package floodgate is what a Caddy plugin build imports: it brings floodgate's Caddy modules
// (the floodgate app, handler and admin API) and its subcommands (rules, classify, replay,
// explain, status), all registered by modules/floodgate.
//
//	xcaddy build --with github.com/floodgate-proxy/floodgate
//	xcaddy build --with github.com/floodgate-proxy/floodgate=/path/to/checkout
//
// The code lives in modules/ (Caddy adapters) and internal/ (the logic); cmd/floodgate is the
// ready-built binary.
package floodgate

import _ "github.com/floodgate-proxy/floodgate/modules/floodgate"
