package rules

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// HostSet matches request hosts against exact names and "*.example.org" patterns.
type HostSet struct {
	exact    map[string]struct{}
	suffixes []string // ".example.org"
}

// NewHostSet compiles host patterns; it fails on a pattern that is neither a name nor "*.name".
func NewHostSet(patterns []string) (*HostSet, error) {
	hs := &HostSet{exact: map[string]struct{}{}}
	for _, raw := range patterns {
		p := strings.ToLower(strings.TrimSpace(raw))
		name, wild := strings.CutPrefix(p, "*.")
		switch {
		case strings.Contains(name, "*"):
			return nil, fmt.Errorf("host %q: '*' may only begin a pattern, as in *.example.org", raw)
		case !validHostName(name):
			return nil, fmt.Errorf("host %q is not a host name (expected example.org or *.example.org, without scheme, port or path)", raw)
		case wild:
			hs.suffixes = append(hs.suffixes, "."+name)
		default:
			hs.exact[name] = struct{}{}
		}
	}
	return hs, nil
}

// validHostName reports whether s is a DNS name or an IPv4 address: dot-separated, non-empty
// labels of letters, digits, '-' and '_', with an optional final dot left out.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
				return false
			}
		}
	}
	return true
}

// Contains reports whether host (lowercase, no port) matches a pattern.
func (hs *HostSet) Contains(host string) bool {
	if _, ok := hs.exact[host]; ok {
		return true
	}
	for _, s := range hs.suffixes {
		if len(host) > len(s) && strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// PathSet matches request paths against exact paths and globs.
type PathSet struct {
	exact map[string]struct{}
	// few holds the exact paths instead of exact when there are at most maxFewPaths of them:
	// comparing a handful of strings costs less than hashing the path.
	few   []string
	globs []pathGlob
}

// maxFewPaths is how many exact paths a PathSet compares one by one rather than hashing.
const maxFewPaths = 8

// pathGlob is the globs sharing one longest run of plain characters: a path without that run
// matches none of them, and finding it is much cheaper than running their regexps
// ("**/wp-content/uploads/**.php*" and "….pht*" share "/wp-content/uploads/").
type pathGlob struct {
	lit string
	res []*regexp.Regexp
}

// longestLiteral returns the longest run of a glob without '*'.
func longestLiteral(glob string) string {
	best := ""
	for part := range strings.SplitSeq(glob, "*") {
		if len(part) > len(best) {
			best = part
		}
	}
	return best
}

// NewPathSet compiles path globs: '*' matches any run of characters but '/', '**' any run at all.
// A pattern begins with '/', or with '**' to match at any depth.
func NewPathSet(patterns []string) (*PathSet, error) {
	ps := &PathSet{exact: map[string]struct{}{}}
	for _, p := range patterns {
		switch {
		case !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "**"):
			// A single leading '*' cannot match: every path begins with '/'.
			return nil, fmt.Errorf("path %q must begin with '/' (or '**'), as in /wp-login.php or **.env", p)
		case strings.Contains(p, "?"):
			return nil, fmt.Errorf("path %q holds a '?': the path is matched without its query, expected the query under query:", p)
		case !utf8.ValidString(p):
			return nil, fmt.Errorf("path %q is not valid UTF-8 text", p)
		}
		if !strings.Contains(p, "*") {
			ps.exact[p] = struct{}{}
			continue
		}
		var b strings.Builder
		b.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch {
			case strings.HasPrefix(p[i:], "**"):
				b.WriteString(".*")
				i++
			case p[i] == '*':
				b.WriteString("[^/]*")
			default:
				b.WriteString(regexp.QuoteMeta(p[i : i+1]))
			}
		}
		b.WriteString("$")
		re, err := regexp.Compile(b.String())
		if err != nil {
			return nil, fmt.Errorf("path %q: %v", p, err)
		}
		lit := longestLiteral(p)
		if i := slices.IndexFunc(ps.globs, func(g pathGlob) bool { return g.lit == lit }); i >= 0 {
			ps.globs[i].res = append(ps.globs[i].res, re)
		} else {
			ps.globs = append(ps.globs, pathGlob{lit: lit, res: []*regexp.Regexp{re}})
		}
	}
	if len(ps.exact) <= maxFewPaths {
		for p := range ps.exact {
			ps.few = append(ps.few, p)
		}
		slices.Sort(ps.few)
		ps.exact = nil
	}
	return ps, nil
}

// Contains reports whether path matches one of the set's patterns.
func (ps *PathSet) Contains(path string) bool {
	if slices.Contains(ps.few, path) {
		return true
	}
	if _, ok := ps.exact[path]; ok {
		return true
	}
	for _, g := range ps.globs {
		if !strings.Contains(path, g.lit) {
			continue
		}
		for _, re := range g.res {
			if re.MatchString(path) {
				return true
			}
		}
	}
	return false
}

// QueryTest checks one query parameter: present, or present with a value.
type QueryTest struct {
	Key   string
	Value string
	// HasValue tells "s" (any value) from "s=" (empty value).
	HasValue bool
}

// NewQueryTest reads "key", "key=value", or "*" (any query string at all).
func NewQueryTest(s string) (QueryTest, error) {
	k, v, has := strings.Cut(s, "=")
	if strings.TrimSpace(k) == "" {
		return QueryTest{}, fmt.Errorf("query %q has no parameter name (expected s or page=recherche)", s)
	}
	return QueryTest{Key: k, Value: v, HasValue: has}, nil
}

// Matches reports whether the raw query string satisfies the test. Keys and values are
// compared after URL decoding ("%73=x" and "s=x" are the same parameter to PHP).
func (q QueryTest) Matches(rawQuery string) bool {
	if q.Key == "*" && !q.HasValue {
		return rawQuery != ""
	}
	for rawQuery != "" {
		var part string
		part, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(part, "=")
		if k != q.Key && unescape(k) != q.Key {
			continue
		}
		if !q.HasValue || v == q.Value || unescape(v) == q.Value {
			return true
		}
	}
	return false
}

// QueryIndex answers up to 64 QueryTests against one query string in one pass over it, each
// as its Matches would: a caller with many query rules reads the query once instead of once
// per test.
type QueryIndex struct {
	tests []QueryTest
}

// MaxQueryIndex is how many tests a QueryIndex holds.
const MaxQueryIndex = 64

// Add puts t in the index (once, however often it is added) and returns its bit in what
// Matching returns; ok is false when the index is full.
func (ix *QueryIndex) Add(t QueryTest) (bit uint64, ok bool) {
	i := slices.Index(ix.tests, t)
	if i < 0 {
		if len(ix.tests) == MaxQueryIndex {
			return 0, false
		}
		i = len(ix.tests)
		ix.tests = append(ix.tests, t)
	}
	return 1 << i, true
}

// Matching returns, as bits, the tests of the index that rawQuery satisfies: each test as
// Matches reads it (TestQueryPrefilterAgainstMatches in package classify compares the two).
func (ix *QueryIndex) Matching(rawQuery string) uint64 {
	if rawQuery == "" || len(ix.tests) == 0 {
		return 0
	}
	var found uint64
	for i, t := range ix.tests {
		if t.Key == "*" && !t.HasValue {
			found |= 1 << i
		}
	}
	for rawQuery != "" {
		var part string
		part, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(part, "=")
		dk, dv, decoded := unescape(k), "", false
		for i := range ix.tests {
			t := &ix.tests[i]
			if k != t.Key && dk != t.Key {
				continue
			}
			if t.HasValue && v != t.Value {
				if !decoded {
					dv, decoded = unescape(v), true
				}
				if dv != t.Value {
					continue
				}
			}
			found |= 1 << i
		}
	}
	return found
}

// unescape decodes a query key or value as a form does ('+' is a space); text that does not
// decode is returned as is.
func unescape(s string) string {
	if !needsUnescape(s) {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// needsUnescape reports whether s holds a '%' or a '+': a byte loop, since this runs for
// every parameter of every query rule a request meets, and strings.ContainsAny's generic
// search costs several times more on short strings.
func needsUnescape(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' || s[i] == '+' {
			return true
		}
	}
	return false
}
