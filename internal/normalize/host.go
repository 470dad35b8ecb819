package normalize

import (
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// JunkHost is the one name every request gets whose Host is not a valid DNS name or address:
// empty, too long, bytes no name holds. However many such hosts a client invents, they share
// this one bucket, so they cannot create counters, detector entries or metric labels. It is a
// name under .invalid (RFC 2606), which no member site can have.
const JunkHost = "junk.invalid"

// Host normalises a Host header the way name-based virtual hosts resolve it: port removed,
// lowercased, trailing dots dropped (Apache strips them: victim.test.. reaches victim.test),
// brackets removed from a name ([victim.test]), IPv6 addresses in their canonical form,
// international names in their ASCII (punycode) form. It reports false, with JunkHost, when
// what is left is not a DNS name or an IP address.
func Host(raw string) (string, bool) {
	h := raw
	if len(h) > 1024 { // far past any name (253): do no work on it
		return JunkHost, false
	}
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return JunkHost, false
		}
		rest := h[end+1:]
		if rest != "" && (rest[0] != ':' || !validPort(rest[1:])) {
			return JunkHost, false
		}
		h = h[1:end]
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if strings.IndexByte(h[:i], ':') >= 0 { // a bare IPv6 address, no port
			if a, err := netip.ParseAddr(h); err == nil {
				return a.WithZone("").Unmap().String(), true
			}
			return JunkHost, false
		}
		if !validPort(h[i+1:]) {
			return JunkHost, false
		}
		h = h[:i]
	}
	if mayBeAddr(h) {
		if a, err := netip.ParseAddr(h); err == nil {
			if a.Zone() != "" {
				return JunkHost, false
			}
			return canonical(a.Unmap(), h), true
		}
	}
	h = strings.TrimRight(strings.ToLower(h), ".")
	if !isASCII(h) {
		ascii, err := idna.Lookup.ToASCII(h)
		if err != nil {
			return JunkHost, false
		}
		h = strings.TrimRight(ascii, ".")
	}
	if !ValidName(h) {
		return JunkHost, false
	}
	return h, true
}

// mayBeAddr says whether h could be an IP address: an IPv6 one has a colon, an IPv4 one
// begins and ends with a digit. Names are not parsed as addresses: ParseAddr's error would be an
// allocation for every request to a named site.
func mayBeAddr(h string) bool {
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	return strings.IndexByte(h, ':') >= 0 || h != "" && isDigit(h[0]) && isDigit(h[len(h)-1])
}

// canonical is a's text: h when h spells it so already (no new string).
func canonical(a netip.Addr, h string) string {
	var buf [64]byte
	if b := a.AppendTo(buf[:0]); string(b) != h {
		return string(b)
	}
	return h
}

// ValidName reports whether s (lowercase, no trailing dot) is a DNS name: at most 253
// characters of dot-separated labels of 1 to 63 letters, digits, '-' and '_'.
func ValidName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	n := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if n == 0 || n > 63 {
				return false
			}
			n = 0
			continue
		}
		c := s[i]
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return false
		}
		n++
	}
	return true
}

// validPort reports whether s is empty (Host: example.org:) or a port number.
func validPort(s string) bool {
	if len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
