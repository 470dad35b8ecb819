package challenge

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/floodgate-proxy/floodgate/internal/normalize"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// Exempt says which requests are never challenged: /robots.txt, anything
// under /.well-known/ (ACME, security.txt…), feeds, and the paths a site
// lists (APIs, webhooks). Verified search engines and automation allowed by
// rules are the caller's business (it knows the request's class).
//
// Every test is on the normalised path, the script the backend runs (package
// normalize): /.well-known/../page and /wp-json/../page are /page, and
// /wp-login.php/feed runs wp-login.php, so none of them is exempt.
//
// Feeds are recognised only by the paths a CMS serves them at (…/feed,
// /rss.xml, *.atom, WordPress's /?feed=rss2 on the home page, SPIP's
// spip.php?page=backend), only for GET and HEAD. Never by an Accept header,
// which any client sends, nor by a feed parameter added to another page
// (/page?feed=1, /?s=x&feed=rss2 is a search).
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
	return e.Allows(r.Method, normalize.CleanPath(r.URL.Path).Script, r.URL.RawQuery)
}

// Allows reports whether a request of method for script (the normalised
// path, normalize.Path.Script) with rawQuery must never be challenged.
func (e *Exempt) Allows(method, script, rawQuery string) bool {
	if script == "/robots.txt" || strings.HasPrefix(script, "/.well-known/") {
		return true
	}
	if e != nil && e.paths != nil && e.paths.Contains(script) {
		return true
	}
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	return isFeed(script, rawQuery)
}

// feedNames are last path segments that name a feed on their own.
var feedNames = map[string]bool{
	"feed": true, "rss": true, "atom": true, "rss2": true,
	"feed.xml": true, "rss.xml": true, "atom.xml": true, "index.xml": true, "feed.json": true,
	"backend.php3": true, "backend.php": true, // old SPIP
}

// wordPressFeeds are the values of WordPress's feed parameter.
var wordPressFeeds = map[string]bool{
	"rss": true, "rss2": true, "atom": true, "rdf": true, "comments-rss2": true, "comments-atom": true,
}

// spipFeedParams are the parameters SPIP's feed pages take beside page.
var spipFeedParams = map[string]bool{
	"id_rubrique": true, "id_secteur": true, "id_mot": true, "id_auteur": true, "id_article": true,
	"id_breve": true, "lang": true,
}

// isFeed reports whether a normalised path and raw query name a feed.
func isFeed(script, rawQuery string) bool {
	last := ""
	if i := strings.LastIndexByte(strings.TrimSuffix(script, "/"), '/'); i >= 0 {
		last = strings.TrimSuffix(script[i+1:], "/")
	}
	last = strings.ToLower(last)
	if feedNames[last] || strings.HasSuffix(last, ".rss") || strings.HasSuffix(last, ".atom") {
		return true
	}
	if rawQuery == "" {
		return false
	}
	if strings.HasSuffix(script, "/") {
		last = "" // a folder's index page
	}
	switch {
	case last == "" || last == "index.php": // WordPress: /?feed=rss2, /blog/index.php?feed=atom
		return onlyParams(rawQuery, func(k, v string) int {
			if k == "feed" && wordPressFeeds[v] {
				return 1
			}
			return -1
		})
	case last == "spip.php": // SPIP: spip.php?page=backend&id_rubrique=3
		return onlyParams(rawQuery, func(k, v string) int {
			switch {
			case k == "page" && (v == "backend" || strings.HasPrefix(v, "backend-")):
				return 1
			case spipFeedParams[k]:
				return 0
			}
			return -1
		})
	}
	return false
}

// onlyParams reports whether every parameter of rawQuery is allowed (test ≥ 0) and one names
// the feed (test 1). Parameters are compared decoded, as PHP reads them.
func onlyParams(rawQuery string, test func(k, v string) int) bool {
	feed := false
	for i, q := 0, rawQuery; q != ""; i++ {
		if i == 16 {
			return false
		}
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		switch test(queryUnescape(k), queryUnescape(v)) {
		case -1:
			return false
		case 1:
			feed = true
		}
	}
	return feed
}

// queryUnescape decodes a query key or value as PHP does; text that does not decode is kept.
func queryUnescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
