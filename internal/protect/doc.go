// Package protect keeps the shared backend alive for every member site. It holds
// three independent, Caddy-agnostic mechanisms that the floodgate handler drives:
//
//   - Gate (gate.go): a fair share of the backend. Requests in flight are capped per
//     site and for the backend as a whole; past a cap they wait briefly in a bounded
//     queue, known-good clients first, and a site at its cap never holds up the
//     waiters of other sites.
//   - Quarantine (quarantine.go): which sites are quarantined after a compromised-site
//     burst, and until when. The policy (POSTs refused, GETs flow) is the handler's.
//   - Detector (attack.go): an automatic, per-site under-attack mode with hysteresis,
//     fed by load signals (request rate, upstream 5xx and latency, gate saturation)
//     and switchable by hand.
//
// All three keep state only for sites that are busy (or set by hand), so memory is
// bounded by the traffic in flight, not by the number of hosts, and no per-request
// work grows with the number of sites.
package protect
