// Package network answers "which network does this client come from": the
// autonomous system of an address (from a MaxMind-format ASN database), the
// network prefix an address is counted under, and membership in published
// address ranges (search-engine crawlers, clouds, iCloud Private Relay).
//
// It knows nothing about Caddy; the modules under modules/ adapt it.
package network
