package challenge

import (
	"net/http"
	"strings"

	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// Exempt says which requests are never challenged: /robots.txt, anything
// under /.well-known/ (ACME, security.txt…), feeds, and the paths a site
// lists (APIs, webhooks). Verified search engines and automation allowed by
// rules are the caller's business (it knows the request's class).
//
// Feeds are recognised by path (/feed, /rss, /atom and their .xml forms,
// WordPress's …/feed/ and ?feed=, SPIP's spip.php?page=backend…, any *.rss
// or *.atom) and by an Accept header asking for RSS, Atom or JSON Feed; both
// only for GET and HEAD. The Accept header is the client's word: a scraper
// can send it too, so budgets must still count exempt requests.
type Exempt struct {
	paths *rules.PathSet
}

// NewExempt compiles a site's extra exempt path globs, in the syntax of rule
// files' match.path: '*' any run of characters but '/', '**' any run at all.
func NewExempt(globs []string) (*Exempt, error) {
	ps, err := rules.NewPathSet(globs)
	if err != nil {
		return nil, err
	}
	return &Exempt{paths: ps}, nil
}

// IsExempt reports whether r must never be challenged. A nil *Exempt
// applies the built-in exemptions only.
func (e *Exempt) IsExempt(r *http.Request) bool {
	p := r.URL.Path
	if p == "/robots.txt" || strings.HasPrefix(p, "/.well-known/") {
		return true
	}
	if e != nil && e.paths != nil && e.paths.Contains(p) {
		return true
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return isFeedPath(p, r.URL.RawQuery) || acceptsFeed(r.Header.Values("Accept"))
}

// feedNames are last path segments that name a feed on their own.
var feedNames = map[string]bool{
	"feed": true, "rss": true, "atom": true, "rss2": true,
	"feed.xml": true, "rss.xml": true, "atom.xml": true, "index.xml": true, "feed.json": true,
	"backend.php3": true, "backend.php": true, // old SPIP
}

// isFeedPath reports whether a path and raw query name a feed.
func isFeedPath(path, rawQuery string) bool {
	last := strings.TrimSuffix(path, "/")
	last = strings.ToLower(last[strings.LastIndexByte(last, '/')+1:])
	if feedNames[last] || strings.HasSuffix(last, ".rss") || strings.HasSuffix(last, ".atom") {
		return true
	}
	if rawQuery == "" {
		return false
	}
	for i, q := 0, rawQuery; i < 32 && q != ""; i++ {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "feed": // WordPress ?feed=rss2
			return true
		case k == "page" && (v == "backend" || strings.HasPrefix(v, "backend-")) && (last == "spip.php" || last == ""): // SPIP
			return true
		}
	}
	return false
}

// feedTypes are the media types of feeds.
var feedTypes = []string{"application/rss+xml", "application/atom+xml", "application/feed+json"}

// acceptsFeed reports whether Accept asks for a feed type.
func acceptsFeed(accept []string) bool {
	for _, a := range accept {
		a = strings.ToLower(a)
		for _, t := range feedTypes {
			if strings.Contains(a, t) {
				return true
			}
		}
	}
	return false
}
