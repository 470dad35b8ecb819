package classify

import (
	"net/http"
	"strings"
	"time"
)

// Signals that lower a client's trust without blocking it on their own: a browser version no
// person runs any more (Outdated), and a claimed browser missing headers it always sends
// (HeadersInconsistent). Both are read from the User-Agent once and cached with its rules.

// HeaderFlags says which of the headers real browsers always send a request carried. The
// handler fills it with HeaderFlagsOf(r.Header, r.TLS != nil): three header reads, no
// allocation. Zero means the caller did not look at the headers: no header signal is computed.
type HeaderFlags uint8

const (
	// HeadersRead: the caller filled the other flags (without it they are ignored).
	HeadersRead HeaderFlags = 1 << iota
	// HasAcceptLanguage: the Accept-Language header is present and not empty.
	HasAcceptLanguage
	// HasSecFetch: Sec-Fetch-Mode or Sec-Fetch-Site is present.
	HasSecFetch
	// OverTLS: the request came over HTTPS. Browsers send Sec-Fetch-* only to secure origins
	// (https, and http://localhost), so their absence over plain HTTP says nothing.
	OverTLS
)

// HeaderFlagsOf reads the headers the signals need from h; secure is true when the request
// came over HTTPS (browsers send Sec-Fetch-* only to secure contexts: HTTPS and loopback).
func HeaderFlagsOf(h http.Header, secure bool) HeaderFlags {
	f := HeadersRead
	if HeaderValue(h, "Accept-Language") != "" {
		f |= HasAcceptLanguage
	}
	if HeaderValue(h, "Sec-Fetch-Mode") != "" || HeaderValue(h, "Sec-Fetch-Site") != "" {
		f |= HasSecFetch
	}
	if secure {
		f |= OverTLS
	}
	return f
}

// HeaderValue is h.Get(key) for a key already in canonical form (a constant): the first
// value, or "". It skips Get's canonicalisation of the key, on every request's path.
func HeaderValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// browserFamily is the browser a User-Agent claims to be, for the header check.
type browserFamily uint8

const (
	familyNone browserFamily = iota
	familyChrome
	familyFirefox
	familySafari
	familyIE
)

// uaFacts is what the signals need from a User-Agent, computed once per distinct User-Agent.
type uaFacts struct {
	family browserFamily
	major  int // the claimed browser's major version; 0 when unknown
	// outdated: a version no person runs any more (see releases).
	outdated bool
}

// release is the date a browser's major version came out.
type release struct {
	major int
	date  string // YYYY-MM-DD
}

// releases dates some major versions of each browser, every ~10 versions (the stable release
// date, to the week). A version is outdated when the next dated version after it came out more
// than outdatedAfter ago: it is at least that old, so the test never calls a current version
// outdated, and with versions ten apart it calls a version outdated about 5 to 6.5 years after
// its release. Internet Explorer (MSIE, Trident) is always outdated: Microsoft retired it on
// 2022-06-15.
//
// Sources: Chrome — Chromium Dash release schedule (chromiumdash.appspot.com/schedule) and
// Google's Chrome Releases blog; Firefox — Mozilla's release notes
// (mozilla.org/firefox/releases); Safari — Apple's Safari release notes
// (developer.apple.com/documentation/safari-release-notes) and WebKit's blog.
var releases = map[browserFamily][]release{
	familyChrome: {
		{10, "2011-03-08"}, {20, "2012-06-26"}, {30, "2013-11-12"}, {40, "2015-01-21"},
		{50, "2016-04-13"}, {60, "2017-07-25"}, {70, "2018-10-16"}, {80, "2020-02-04"},
		{90, "2021-04-14"}, {100, "2022-03-29"}, {110, "2023-02-07"}, {120, "2023-12-05"},
		{130, "2024-10-15"}, {140, "2025-09-02"},
	},
	familyFirefox: {
		{4, "2011-03-22"}, {10, "2012-01-31"}, {20, "2013-04-02"}, {30, "2014-06-10"},
		{40, "2015-08-11"}, {50, "2016-11-15"}, {60, "2018-05-09"}, {70, "2019-10-22"},
		{80, "2020-08-25"}, {90, "2021-06-01"}, {100, "2022-05-03"}, {110, "2023-02-14"},
		{120, "2023-11-21"}, {130, "2024-09-03"}, {140, "2025-06-24"},
	},
	familySafari: { // the Version/ token of Safari's User-Agent
		{4, "2009-06-08"}, {5, "2010-06-07"}, {6, "2012-07-25"}, {7, "2013-10-22"},
		{8, "2014-10-16"}, {9, "2015-09-30"}, {10, "2016-09-20"}, {11, "2017-09-19"},
		{12, "2018-09-17"}, {13, "2019-09-19"}, {14, "2020-09-16"}, {15, "2021-09-20"},
		{16, "2022-09-12"}, {17, "2023-09-18"}, {18, "2024-09-16"},
	},
}

// outdatedAfter is how old a browser version must be to be outdated: about five years.
const outdatedAfter = 5 * 365 * 24 * time.Hour

// secFetchSince is the first major version of each browser that sends Sec-Fetch-* headers:
// Chrome 76 (July 2019), Firefox 90 (June 2021), Safari 16.4 (March 2023; counted from 17).
var secFetchSince = map[browserFamily]int{familyChrome: 76, familyFirefox: 90, familySafari: 17}

// now is the clock the outdated cut-off is computed from (tests replace it).
var now = time.Now

// outdatedBelow returns, for each browser, the major version below which it is outdated at t.
func outdatedBelow(t time.Time) map[browserFamily]int {
	cut := t.Add(-outdatedAfter).Format("2006-01-02")
	below := map[browserFamily]int{}
	for fam, rs := range releases {
		for _, r := range rs {
			if r.date <= cut {
				below[fam] = r.major // every version before r came out before r.date
			}
		}
	}
	return below
}

// maxSignalUA is how much of a User-Agent the signals read: the browser tokens are near the
// start and a longer User-Agent is not a browser's.
const maxSignalUA = 1024

// readUAFacts finds the browser a User-Agent claims and its major version, without allocating.
// Browsers spell their tokens in one case, so the search is case-sensitive (and fast). The
// order matters: Edge, Opera and other Chrome-based browsers also say Chrome/ and Safari/;
// Chrome says Safari/; only Safari says Version/ … Safari/ without Chrome/.
func readUAFacts(ua string, below map[browserFamily]int) uaFacts {
	if len(ua) > maxSignalUA {
		ua = ua[:maxSignalUA]
	}
	var f uaFacts
	switch {
	case strings.Contains(ua, "MSIE ") || strings.Contains(ua, "Trident/"):
		f.family, f.outdated = familyIE, true
		return f
	case strings.Contains(ua, "Firefox/") && !strings.Contains(ua, "SeaMonkey/"):
		f.family, f.major = familyFirefox, versionAfter(ua, "Firefox/")
	case strings.Contains(ua, "Chrome/"):
		f.family, f.major = familyChrome, versionAfter(ua, "Chrome/")
	case strings.Contains(ua, "CriOS/"): // Chrome on iOS: Safari's engine, Chrome's version
		f.family = familySafari
	case strings.Contains(ua, "Safari/") && strings.Contains(ua, "Version/"):
		f.family, f.major = familySafari, versionAfter(ua, "Version/")
	default:
		return f
	}
	if b := below[f.family]; f.major > 0 && f.major < b {
		f.outdated = true
	}
	return f
}

// headersInconsistent reports whether a request claiming f lacks headers that browser always
// sends: Accept-Language, and over HTTPS Sec-Fetch-* from the version that sends them.
func headersInconsistent(f uaFacts, h HeaderFlags) bool {
	if h&HeadersRead == 0 || f.family == familyNone || f.family == familyIE {
		return false
	}
	if h&HasAcceptLanguage == 0 {
		return true
	}
	if since := secFetchSince[f.family]; h&OverTLS != 0 && h&HasSecFetch == 0 && f.major >= since {
		return true
	}
	return false
}

// versionAfter returns the integer that follows the first tok in s, or 0.
func versionAfter(s, tok string) int {
	i := strings.Index(s, tok)
	if i < 0 {
		return 0
	}
	n := 0
	for j := i + len(tok); j < len(s) && j < i+len(tok)+6; j++ {
		c := s[j]
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
