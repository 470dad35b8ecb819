package rules

// Checks on single values of a rule file: names, prefixes, key parts, regular expressions.

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
)

// oneLine reports whether s holds no line break or other control character, so it can go in
// messages, logs and metric labels as it is.
func oneLine(s string) bool {
	for _, c := range s {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}

func (m *Match) any() bool {
	return m.HasUserAgent() || len(m.ASN) > 0 || len(m.CIDR) > 0 || len(m.Ranges) > 0 ||
		len(m.Host) > 0 || len(m.Path) > 0 || len(m.Query) > 0 || len(m.Method) > 0 || len(m.Status) > 0
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("cidr %q is not a network (expected a CIDR such as 192.0.2.0/24 or 2001:db8::/32)", s)
}

func knownKeyPart(k KeyPart) bool {
	for _, p := range keyParts {
		if p == k {
			return true
		}
	}
	return false
}

func keyPartList() string {
	s := make([]string, len(keyParts))
	for i, k := range keyParts {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// regexErrMsg is a regexp error without its "error parsing regexp: " prefix.
func regexErrMsg(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}
