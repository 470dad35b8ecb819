// Package protect keeps the shared backend alive for every member site. It holds two
// independent, Caddy-agnostic mechanisms that the floodgate handler drives (admission to
// the backend itself, by learned limits and trust, is package admission):
//
//   - Quarantine (quarantine.go): which sites are quarantined after a compromised-site
//     burst, and until when. The policy (POSTs refused, GETs flow) is the handler's.
//   - Detector (attack.go): an automatic, per-site under-attack mode with hysteresis,
//     fed by load signals (backend pressure from admission, upstream latency against
//     the site's own healthy latency, upstream 5xx, optionally a fixed request rate)
//     and switchable by hand.
//
// Both keep state only for sites that are busy (or set by hand), so memory is
// bounded by the traffic in flight, not by the number of hosts, and no per-request
// work grows with the number of sites.
package protect
