// Package harness is the Caddy-agnostic part of floodgate-bench, the "shared host under attack"
// benchmark (issue 6): a shared backend of limited capacity hosting many sites, a seeded
// schedule of traffic populations (humans, AI crawlers, stealth scrapers, a POST burst, a
// verified search engine), a load generator that replays it against a proxy through
// X-Forwarded-For, the proxy processes themselves (floodgate or plain Caddy, run from a built
// binary with a generated Caddyfile), a Redis starter, the overhead benchmark, and the
// reports (JSON, markdown, SVG).
//
// All traffic goes to loopback addresses. Client addresses from public-looking networks exist
// only as data inside X-Forwarded-For and the generated ASN database.
package harness
