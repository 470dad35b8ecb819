package challenge

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// visitorCookie returns the value of the visitor cookie set on rec, "" when none.
func visitorCookie(t *testing.T, rec *httptest.ResponseRecorder) (string, *http.Cookie) {
	t.Helper()
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == DefaultVisitorCookieName {
			return ck.Value, ck
		}
	}
	return "", nil
}

// earn makes a browser on prefix visit host n times, gap apart, from t, and returns its
// visitor cookie.
func earn(t *testing.T, c *Challenger, clock *time.Time, host string, n int, gap time.Duration) string {
	t.Helper()
	cookie := ""
	for i := 0; i < n; i++ {
		r := get("http://" + host + "/page")
		if cookie != "" {
			r.Header.Set("Cookie", DefaultVisitorCookieName+"="+cookie)
		}
		v, _, err := c.VisitorOf(r, prefixA)
		rec := httptest.NewRecorder()
		c.CountVisit(rec, r, prefixA, v, err)
		if got, _ := visitorCookie(t, rec); got != "" {
			cookie = got
		}
		*clock = clock.Add(gap)
	}
	return cookie
}

// A browser becomes a returning visitor after a few visits spaced apart, and only then;
// visits closer together than the gap count once.
func TestVisitorEarned(t *testing.T) {
	clock := setNow(t, time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC))
	c := newTestChallenger(t, Config{})
	for _, tc := range []struct {
		name      string
		visits    int
		gap       time.Duration
		returning bool
	}{
		{"one visit", 1, time.Minute, false},
		{"two visits", 2, time.Minute, false},
		{"three visits a minute apart", 3, time.Minute, true},
		{"fifty pages in a burst", 50, time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cookie := earn(t, c, clock, "site.test", tc.visits, tc.gap)
			r := get("http://site.test/next", "Cookie", DefaultVisitorCookieName+"="+cookie)
			_, returning, err := c.VisitorOf(r, prefixA)
			if err != nil || returning != tc.returning {
				t.Errorf("returning %v (%v), want %v", returning, err, tc.returning)
			}
		})
	}
}

// Attacker: a visitor cookie forged, altered, expired, or earned elsewhere (another site,
// network or browser) earns nothing: not returning, and counting starts again from one.
func TestVisitorForgedOrForeign(t *testing.T) {
	clock := setNow(t, time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC))
	c := newTestChallenger(t, Config{})
	good := earn(t, c, clock, "site.test", 3, time.Minute)
	other, err := pass.NewSigner([]byte(strings.Repeat("o", 32)))
	if err != nil {
		t.Fatal(err)
	}
	forged := other.IssueVisitor(prefixA, uaTest+"\x00site.test", pass.Visitor{Visits: 200, First: clock.Add(-time.Hour), Last: *clock})
	altered := []byte(good)
	altered[3] ^= 1
	for _, tc := range []struct {
		name   string
		host   string
		ua     string
		cookie string
		why    pass.Reason
	}{
		{name: "forged with another key", host: "site.test", ua: uaTest, cookie: forged, why: pass.ReasonBadSignature},
		{name: "altered", host: "site.test", ua: uaTest, cookie: string(altered), why: pass.ReasonBadSignature},
		{name: "truncated", host: "site.test", ua: uaTest, cookie: good[:40], why: pass.ReasonMalformed},
		{name: "another site", host: "other.test", ua: uaTest, cookie: good, why: pass.ReasonOtherUserAgent},
		{name: "another browser", host: "site.test", ua: "curl/8.5.0", cookie: good, why: pass.ReasonOtherUserAgent},
		{name: "a pass in the visitor cookie", host: "site.test", ua: uaTest,
			cookie: c.cfg.Signer.Issue(prefixA, uaTest+"\x00site.test", pass.LevelWork, *clock, time.Hour), why: pass.ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get("http://"+tc.host+"/page", "User-Agent", tc.ua, "Cookie", DefaultVisitorCookieName+"="+tc.cookie)
			v, returning, err := c.VisitorOf(r, prefixA)
			if returning || pass.ReasonOf(err) != tc.why {
				t.Errorf("returning %v, reason %q; want false, %q", returning, pass.ReasonOf(err), tc.why)
			}
			rec := httptest.NewRecorder()
			c.CountVisit(rec, r, prefixA, v, err)
			val, _ := visitorCookie(t, rec)
			got, _, err := c.VisitorOf(get("http://"+tc.host+"/", "User-Agent", tc.ua, "Cookie", DefaultVisitorCookieName+"="+val), prefixA)
			if err != nil || got.Visits != 1 {
				t.Errorf("after a refused cookie: %d visits (%v), want a fresh count of 1", got.Visits, err)
			}
		})
	}
	t.Run("another network", func(t *testing.T) {
		r := get("http://site.test/page", "Cookie", DefaultVisitorCookieName+"="+good)
		if _, returning, err := c.VisitorOf(r, prefixB); returning || pass.ReasonOf(err) != pass.ReasonOtherNetwork {
			t.Errorf("returning %v, %v; want false, other_network", returning, err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		setNow(t, clock.Add(DefaultVisitorTTL+time.Hour))
		r := get("http://site.test/page", "Cookie", DefaultVisitorCookieName+"="+good)
		if _, returning, err := c.VisitorOf(r, prefixA); returning || pass.ReasonOf(err) != pass.ReasonExpired {
			t.Errorf("returning %v, %v; want false, expired", returning, err)
		}
	})
}

// The cookie is HttpOnly, and Secure when the client came over HTTPS: directly, or through
// a TLS-terminating proxy that IsHTTPS trusts. A returning visitor within a day gets no new
// Set-Cookie (answers stay cacheable), and the visitor cookie can be turned off.
func TestVisitorCookieAttributes(t *testing.T) {
	clock := setNow(t, time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC))
	behindLB := func(r *http.Request) bool {
		return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		req    func() *http.Request
		secure bool
	}{
		{"plain http", Config{}, func() *http.Request { return get("http://site.test/") }, false},
		{"tls", Config{}, func() *http.Request { r := get("https://site.test/"); r.TLS = &tls.ConnectionState{}; return r }, true},
		{"x-forwarded-proto not trusted by default", Config{}, func() *http.Request { return get("http://site.test/", "X-Forwarded-Proto", "https") }, false},
		{"behind a trusted tls-terminating proxy", Config{IsHTTPS: behindLB}, func() *http.Request { return get("http://site.test/", "X-Forwarded-Proto", "https") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestChallenger(t, tc.cfg)
			r := tc.req()
			v, _, err := c.VisitorOf(r, prefixA)
			rec := httptest.NewRecorder()
			c.CountVisit(rec, r, prefixA, v, err)
			_, ck := visitorCookie(t, rec)
			if ck == nil || !ck.HttpOnly || ck.Secure != tc.secure || ck.Path != "/" {
				t.Fatalf("cookie %+v, want HttpOnly, Path=/, Secure=%v", ck, tc.secure)
			}
		})
	}
	c := newTestChallenger(t, Config{})
	cookie := earn(t, c, clock, "site.test", 3, time.Minute)
	r := get("http://site.test/", "Cookie", DefaultVisitorCookieName+"="+cookie)
	v, returning, err := c.VisitorOf(r, prefixA)
	rec := httptest.NewRecorder()
	c.CountVisit(rec, r, prefixA, v, err)
	if val, _ := visitorCookie(t, rec); !returning || val != "" {
		t.Errorf("returning visitor within a day: returning %v, Set-Cookie %q; want true and none", returning, val)
	}
	off := newTestChallenger(t, Config{Visitor: VisitorConfig{Off: true}})
	rec = httptest.NewRecorder()
	off.CountVisit(rec, r, prefixA, pass.Visitor{}, pass.ReasonMissing)
	if _, returning, _ := off.VisitorOf(r, prefixA); returning || len(rec.Result().Cookies()) > 0 {
		t.Error("visitor cookie off: still read or set")
	}
}

// Bad settings are refused with a clear error.
func TestVisitorConfigInvalid(t *testing.T) {
	s, _ := pass.NewSigner(testKey)
	for _, vc := range []VisitorConfig{{CookieName: "a b"}, {Visits: -1}, {Visits: 1000}, {Gap: time.Millisecond}, {TTL: time.Minute}} {
		if _, err := New(Config{Signer: s, Visitor: vc}); err == nil || !strings.Contains(err.Error(), "visitor") {
			t.Errorf("%+v: got %v, want an error about the visitor cookie", vc, err)
		}
	}
}

// The cookie level costs a person no visible time: the page refreshes at once, so a
// browser that keeps cookies gets the page one round trip later. A client served a cookie
// challenge moments ago (it drops cookies) is slowed to one reload a second, and another
// client on the same network is not.
func TestCookieChallengeRefreshesAtOnce(t *testing.T) {
	clock := setNow(t, time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC))
	c := newTestChallenger(t, Config{})
	serve := func(ua string) string {
		rec := httptest.NewRecorder()
		if err := c.Serve(rec, get("http://site.test/a", "User-Agent", ua), pass.LevelCookie, prefixA); err != nil {
			t.Fatal(err)
		}
		return rec.Body.String()
	}
	for i, want := range []string{`content="0; url=/a"`, `content="1; url=/a"`, `content="1; url=/a"`} {
		if body := serve(uaTest); !strings.Contains(body, want) {
			t.Errorf("serve #%d: want %s", i, want)
		}
		*clock = clock.Add(500 * time.Millisecond)
	}
	if body := serve("Mozilla/5.0 other browser"); !strings.Contains(body, `content="0; url=/a"`) {
		t.Error("another browser on the same network: want an immediate refresh")
	}
	*clock = clock.Add(time.Minute)
	if body := serve(uaTest); !strings.Contains(body, `content="0; url=/a"`) {
		t.Error("a minute later: want an immediate refresh again")
	}
}

// Setting the visitor cookie on a first visit is cheap: it happens on the first answer to
// every browser without one, floods of them included.
func TestCountVisitDoesNotAllocateMuch(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations cannot be counted under the race detector; .ci/test runs this test without -race")
	}
	setNow(t, time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC))
	c := newTestChallenger(t, Config{})
	r := get("http://site.test/page")
	h := http.Header{}
	w := headerWriter{h}
	n := testing.AllocsPerRun(200, func() {
		delete(h, "Set-Cookie")
		c.CountVisit(w, r, prefixA, pass.Visitor{}, pass.ReasonMissing)
	})
	if n > 2 {
		t.Errorf("CountVisit: %v allocations, want at most 2 (the line, the header slice)", n)
	}
	if n := testing.AllocsPerRun(200, func() { c.VisitCookie(r, prefixA, pass.Visitor{}, pass.ReasonMissing) }); n > 1 {
		t.Errorf("VisitCookie: %v allocations, want at most 1 (the line)", n)
	}
}

// headerWriter is a ResponseWriter that only keeps headers.
type headerWriter struct{ h http.Header }

func (w headerWriter) Header() http.Header         { return w.h }
func (w headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w headerWriter) WriteHeader(int)             {}
