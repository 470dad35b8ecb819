package challenge

import (
	"bytes"
	"sync"
)

// The cookie-level page is the answer to every request of a stealth flood once a site is
// under attack: a botnet that never keeps a cookie gets it again and again, and executing
// the page template (html/template: reflection and an escaper per value) was most of its
// cost. Only three of the page's values change from one such request to the next: the path
// to return to, the site's name and the CSP nonce. So the page is rendered once per
// language, refresh delay and retry flag with a placeholder in each of those values (a
// skeleton), and a request's page is the skeleton with its values written into the holes.
//
// The holes take a value only as the template would have written it: a skeleton is made
// only when rendering probe values made of every byte the fast path accepts gives exactly
// the skeleton filled with those probes (so whatever context the template puts a value in —
// attribute, URL, text — it writes those bytes as they are), and a request whose values hold
// any other byte (quotes, '&', '<', ':', non-ASCII…) is rendered by the template. A page
// template a host supplies gets the same check.

// hole says which value a skeleton's hole takes.
type hole uint8

const (
	holeReturnTo hole = iota
	holeHost
	holeNonce
)

// placeholders are what the skeleton is rendered with: letters and digits only, which every
// html/template context writes unchanged, and long enough never to occur in a page by chance.
var placeholders = [...]string{
	holeReturnTo: "fgReturnToQ7v2Xk9Lw3Zp",
	holeHost:     "fgHostR4m8Tj1Ys6Nq0Bv",
	holeNonce:    "fgNonceW5c9Hd2Gf7Kx3Ua",
}

// probes are the values a skeleton is checked with: together they hold every byte
// safeReturnTo, safeHost and a nonce may hold, first and elsewhere.
var probes = [...]string{
	holeReturnTo: "/AZaz09-._~/ZY?x=1%2F=y/._-~/q%20r/",
	holeHost:     "Sub-0.example-9.ORG",
	holeNonce:    "-_AZaz09zaZA90_-xyz1A2",
}

// skeleton is a page rendered with placeholders, cut at them: parts[0], a hole, parts[1], …
type skeleton struct {
	parts [][]byte
	holes []hole
}

// skeletonKey is what, besides the holes, a cookie-level page depends on.
type skeletonKey struct {
	lang    string
	refresh int
	retry   bool
}

// skeletons holds a Challenger's skeletons; nil means the template cannot be filled safely
// for that key (it is rendered every time).
type skeletons struct {
	m sync.Map // skeletonKey → *skeleton (nil: not fillable)
}

// render writes d's page into buf, from a skeleton when d's values fit one, else with
// execute (the template). d is a cookie-level page.
func (s *skeletons) render(buf *bytes.Buffer, d *PageData, execute func(*bytes.Buffer, *PageData) error) error {
	if !safeReturnTo(d.ReturnTo) || !safeHost(d.Host) || !safeNonce(d.CSPNonce) {
		return executeCopy(buf, d, execute)
	}
	k := skeletonKey{lang: d.Lang, refresh: d.RefreshSeconds, retry: d.Retry}
	v, ok := s.m.Load(k)
	if !ok {
		v, _ = s.m.LoadOrStore(k, makeSkeleton(d, execute))
	}
	sk := v.(*skeleton)
	if sk == nil {
		return executeCopy(buf, d, execute)
	}
	values := [...]string{holeReturnTo: d.ReturnTo, holeHost: d.Host, holeNonce: d.CSPNonce}
	sk.fill(buf, &values)
	return nil
}

// executeCopy renders a copy of d with execute. The template gets a copy so that d, made
// for every challenge, stays on its caller's stack: passed to execute (a function value) it
// would be moved to the heap, an allocation for every challenge page, filled or not.
func executeCopy(buf *bytes.Buffer, d *PageData, execute func(*bytes.Buffer, *PageData) error) error {
	dd := *d
	return execute(buf, &dd)
}

// fill writes the skeleton with values in its holes.
func (sk *skeleton) fill(buf *bytes.Buffer, values *[3]string) {
	for i, p := range sk.parts {
		buf.Write(p)
		if i < len(sk.holes) {
			buf.WriteString(values[sk.holes[i]])
		}
	}
}

// makeSkeleton renders the page of d's key with placeholders, cuts it at them, and checks
// it with the probes; nil when the template writes the probes otherwise (or fails).
func makeSkeleton(d *PageData, execute func(*bytes.Buffer, *PageData) error) *skeleton {
	with := func(values [3]string) ([]byte, bool) {
		pd := *d
		pd.ReturnTo, pd.Host, pd.CSPNonce = values[holeReturnTo], values[holeHost], values[holeNonce]
		var buf bytes.Buffer
		if err := execute(&buf, &pd); err != nil {
			return nil, false
		}
		return buf.Bytes(), true
	}
	page, ok := with(placeholders)
	if !ok {
		return nil
	}
	sk := &skeleton{}
	for len(page) > 0 {
		at, which := -1, hole(0)
		for h, p := range placeholders {
			if i := bytes.Index(page, []byte(p)); i >= 0 && (at < 0 || i < at) {
				at, which = i, hole(h)
			}
		}
		if at < 0 {
			break
		}
		sk.parts = append(sk.parts, page[:at])
		sk.holes = append(sk.holes, which)
		page = page[at+len(placeholders[which]):]
	}
	sk.parts = append(sk.parts, page)
	want, ok := with(probes)
	if !ok {
		return nil
	}
	var got bytes.Buffer
	sk.fill(&got, &probes)
	if !bytes.Equal(got.Bytes(), want) {
		return nil
	}
	return sk
}

// safeReturnTo reports whether a return path holds only bytes that every template context
// writes unchanged (checked against the probes): letters, digits, '/', '-', '.', '_', '~',
// '?', '=' and '%' followed by two hexadecimal digits. ':' is left out, so no value here can carry a scheme; '&' is, since
// an attribute writes it as "&amp;" (such paths are rendered by the template).
func safeReturnTo(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			// Only as an escape: a URL context writes a lone '%' as "%25".
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
		case !isAlnum(c) && !isOneOf(c, "/-._~?="):
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// safeHost reports whether a host name holds only letters, digits, '-' and '.'.
func safeHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '-' && s[i] != '.' {
			return false
		}
	}
	return true
}

// safeNonce reports whether a CSP nonce is base64url (as randomString makes it).
func safeNonce(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '-' && s[i] != '_' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isOneOf(c byte, set string) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == c {
			return true
		}
	}
	return false
}
