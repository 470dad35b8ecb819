package classify

import (
	"net/http"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/rules"
)

func TestOutdated(t *testing.T) {
	at := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	below := outdatedBelow(at)
	tests := []struct {
		ua       string
		family   browserFamily
		major    int
		outdated bool
	}{
		{"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", familyIE, 0, true},
		{"Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko", familyIE, 0, true},
		{"Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3", familyFirefox, 3, true},
		{"Mozilla/5.0 (Windows NT 6.1) AppleWebKit/533.4 (KHTML, like Gecko) Chrome/5.0.375.99 Safari/533.4", familyChrome, 5, true},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.88 Safari/537.36", familyChrome, 79, true},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36", familyChrome, 128, false},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0", familyChrome, 120, false},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", familyFirefox, 128, false},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) AppleWebKit/534.57.7 (KHTML, like Gecko) Version/5.1.7 Safari/534.57.7", familySafari, 5, true},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", familySafari, 17, false},
		{"curl/8.5.0", familyNone, 0, false},
		{"", familyNone, 0, false},
	}
	for _, tt := range tests {
		f := readUAFacts(tt.ua, below)
		if f.family != tt.family || f.major != tt.major || f.outdated != tt.outdated {
			t.Errorf("%.70q: family %d major %d outdated %v; want %d %d %v", tt.ua, f.family, f.major, f.outdated, tt.family, tt.major, tt.outdated)
		}
	}
	// The cut-off moves with the clock: ten years on, Chrome 128 is outdated too.
	if f := readUAFacts(tests[5].ua, outdatedBelow(at.AddDate(10, 0, 0))); !f.outdated {
		t.Errorf("Chrome 128 in 2036: not outdated")
	}
}

// The release table is sorted, dated in the past and has no gap over 20 versions: the cut-off
// is only as precise as its rows.
func TestReleaseTable(t *testing.T) {
	for fam, rs := range releases {
		for i, r := range rs {
			d, err := time.Parse("2006-01-02", r.date)
			if err != nil || d.After(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("family %d version %d: date %q is not a past YYYY-MM-DD", fam, r.major, r.date)
			}
			if i > 0 && (r.major <= rs[i-1].major || r.date <= rs[i-1].date || r.major-rs[i-1].major > 20) {
				t.Errorf("family %d: row %v after %v is out of order or too far", fam, r, rs[i-1])
			}
		}
	}
}

func TestHeadersInconsistent(t *testing.T) {
	below := outdatedBelow(time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC))
	const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"
	const chrome70 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.77 Safari/537.36"
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	all := HeadersRead | HasAcceptLanguage | HasSecFetch | OverTLS
	tests := []struct {
		name string
		ua   string
		h    HeaderFlags
		want bool
	}{
		{"headers not read", chrome, 0, false},
		{"Chrome with everything", chrome, all, false},
		{"Chrome without Accept-Language", chrome, all &^ HasAcceptLanguage, true},
		{"Chrome over HTTPS without Sec-Fetch", chrome, all &^ HasSecFetch, true},
		{"Chrome over plain HTTP without Sec-Fetch", chrome, HeadersRead | HasAcceptLanguage, false},
		{"Chrome 70 predates Sec-Fetch", chrome70, HeadersRead | HasAcceptLanguage | OverTLS, false},
		{"Firefox without Accept-Language", firefox, HeadersRead | HasSecFetch | OverTLS, true},
		{"curl claims no browser", "curl/8.5.0", HeadersRead, false},
		{"MSIE is outdated, not checked", "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)", HeadersRead, false},
	}
	for _, tt := range tests {
		if got := headersInconsistent(readUAFacts(tt.ua, below), tt.h); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// The signals reach the Result, through the cache, and a rule can budget outdated browsers.
func TestSignalsInResult(t *testing.T) {
	c := shippedClassifier(t)
	const ie6 = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"
	const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"
	for round := 0; round < 2; round++ { // the second round is answered by the cache
		var out Result
		c.Classify(&Request{IP: ipLocal, UserAgent: ie6, Headers: HeadersRead}, &out)
		if out.Class != "browser" || !out.Outdated || out.HeadersInconsistent || !hasRule(out.Rules, "outdated-browsers") {
			t.Errorf("round %d, IE 6: class %s outdated %v inconsistent %v rules %v; want browser, outdated, consistent, outdated-browsers",
				round, out.Class, out.Outdated, out.HeadersInconsistent, ruleNames(out.Rules))
		}
		c.Classify(&Request{IP: ipLocal, UserAgent: chrome, Headers: HeadersRead | OverTLS}, &out)
		if out.Class != "browser" || out.Outdated || !out.HeadersInconsistent || hasRule(out.Rules, "outdated-browsers") {
			t.Errorf("round %d, Chrome without headers: class %s outdated %v inconsistent %v rules %v", round, out.Class, out.Outdated, out.HeadersInconsistent, ruleNames(out.Rules))
		}
		c.Classify(&Request{IP: ipLocal, UserAgent: chrome}, &out)
		if out.HeadersInconsistent {
			t.Errorf("round %d, Chrome, headers not read: inconsistent", round)
		}
	}
}

func hasRule(rs []*rules.Rule, name string) bool {
	for _, r := range rs {
		if r.Name == name {
			return true
		}
	}
	return false
}

// The handler reads the flags on every request: no allocation.
func TestHeaderFlagsOfAllocs(t *testing.T) {
	h := http.Header{"Accept-Language": {"fr"}, "Sec-Fetch-Mode": {"navigate"}}
	if n := testing.AllocsPerRun(100, func() { _ = HeaderFlagsOf(h, true) }); n != 0 {
		t.Errorf("HeaderFlagsOf allocates %v times per call; the handler calls it on every request", n)
	}
}

// TestHeaderValueIsGet: HeaderValue answers as Header.Get does for a canonical key, over
// headers set as a server reads them (canonical keys) and as a client may misspell them.
func TestHeaderValueIsGet(t *testing.T) {
	h := http.Header{}
	h.Add("Accept-Language", "fr")
	h.Add("Accept-Language", "en")
	h.Add("sec-fetch-mode", "navigate") // canonicalised by Add
	h["user-agent"] = []string{"raw"}   // not canonical: Get does not see it either
	h["Sec-Fetch-Site"] = []string{}
	for _, key := range []string{"Accept-Language", "Sec-Fetch-Mode", "Sec-Fetch-Site", "User-Agent", "Dnt"} {
		if got, want := HeaderValue(h, key), h.Get(key); got != want {
			t.Errorf("HeaderValue(%q) = %q, Get says %q", key, got, want)
		}
	}
}
