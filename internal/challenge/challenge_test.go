package challenge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"crypto/sha256"

	"github.com/floodgate-proxy/floodgate/internal/pass"
)

var (
	prefixA = netip.MustParsePrefix("192.0.2.0/24")
	prefixB = netip.MustParsePrefix("198.51.100.0/24")
)

const uaTest = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"

// setNow freezes the package clock at t for the test.
func setNow(t *testing.T, at time.Time) *time.Time {
	t.Helper()
	cur := at
	old := now
	now = func() time.Time { return cur }
	t.Cleanup(func() { now = old })
	return &cur
}

// get builds a GET request for target with the test User-Agent.
func get(target string, header ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("User-Agent", uaTest)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return r
}

var (
	reChallenge = regexp.MustCompile(`name="c" value="([^"]+)"`)
	reNonce     = regexp.MustCompile(`data-nonce="([0-9a-f]+)"`)
	reBits      = regexp.MustCompile(`data-bits="([0-9]+)"`)
	reCSP       = regexp.MustCompile(`script-src 'nonce-([^']+)'`)
)

// served is a challenge page read back: its challenge and the answer a
// browser would compute.
type served struct {
	challenge, nonce string
	bits             int
}

func readPage(t *testing.T, body string) served {
	t.Helper()
	c, n, b := reChallenge.FindStringSubmatch(body), reNonce.FindStringSubmatch(body), reBits.FindStringSubmatch(body)
	if c == nil || n == nil || b == nil {
		t.Fatalf("page lacks challenge, nonce or bits:\n%s", body)
	}
	bits, _ := strconv.Atoi(b[1])
	return served{c[1], n[1], bits}
}

// solve finds the answer the solver script would find.
func (s served) solve(t *testing.T) string {
	t.Helper()
	for c := 0; c < 1<<26; c++ {
		a := strconv.Itoa(c)
		if leadingZeroBits(sha256.Sum256([]byte(s.nonce+a))) >= s.bits {
			return a
		}
	}
	t.Fatal("no answer found")
	return ""
}

// post builds the verify POST a page would send.
func post(c *Challenger, challenge, answer, ret string) *http.Request {
	form := url.Values{"c": {challenge}, "a": {answer}, "r": {ret}}
	r := httptest.NewRequest(http.MethodPost, "https://example.org"+c.VerifyPath(), strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("User-Agent", uaTest)
	return r
}

// passCookie returns the pass cookie a response sets, or nil.
func passCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == DefaultCookieName {
			return c
		}
	}
	return nil
}

func TestServe(t *testing.T) {
	setNow(t, time.Now())
	c := newTestChallenger(t, Config{Difficulty: 12})
	tests := []struct {
		name    string
		level   pass.Level
		req     *http.Request
		want    []string // in the body
		notWant []string
		lang    string
		cookie  bool // a pass cookie is set with the page
		secure  bool
	}{
		{"cookie, English by default", pass.LevelCookie, get("https://Example.org:8443/article?id=7"),
			[]string{`<html lang="en">`, `<span class="host">example.org</span>`, `http-equiv="refresh" content="0; url=/article?id=7"`, `<a href="/article?id=7">Continue</a>`},
			[]string{"<script", "<noscript>", "fg-form"}, "en", true, true},
		{"cookie over plain HTTP: not Secure", pass.LevelCookie, get("http://example.org/"),
			[]string{`url=/"`}, nil, "en", true, false},
		{"script, French", pass.LevelScript, get("https://example.org/a", "Accept-Language", "fr-CH, fr;q=0.9, en;q=0.8"),
			[]string{`<html lang="fr">`, "Vous allez sur", "<noscript>", "JavaScript", `data-bits="8"`, `data-level="script"`, `action="/.floodgate/verify"`, `name="r" value="/a"`},
			[]string{"http-equiv", "<progress"}, "fr", false, false},
		{"work, English preferred by q", pass.LevelWork, get("https://example.org/", "Accept-Language", "fr;q=0.5, en;q=0.9"),
			[]string{`<html lang="en">`, "<noscript>", `<progress id="fg-progress"`, `data-bits="12"`, `data-level="work"`, `role="status"`, "new Worker("},
			[]string{"http-equiv"}, "en", false, false},
		{"open redirect in the request path is not echoed", pass.LevelCookie, get("https://example.org//evil.example/x"),
			[]string{`url=/"`}, []string{"evil.example"}, "en", true, true},
		{"host is escaped", pass.LevelWork, get("https://example.org/", "Host", "<b>x"),
			[]string{"&lt;b&gt;x"}, []string{"<b>x"}, "en", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.req.URL.String(), "http:") {
				tc.req.TLS = nil
			} else {
				tc.req.TLS = &tls.ConnectionState{}
			}
			if h := tc.req.Header.Get("Host"); h != "" {
				tc.req.Host = h
			}
			w := httptest.NewRecorder()
			if err := c.Serve(w, tc.req, tc.level, prefixA); err != nil {
				t.Fatal(err)
			}
			resp, body := w.Result(), w.Body.String()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", resp.StatusCode)
			}
			for k, v := range map[string]string{"Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8", "Content-Language": tc.lang} {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q", s)
				}
			}
			for _, s := range tc.notWant {
				if strings.Contains(body, s) {
					t.Errorf("body holds %q", s)
				}
			}
			if len(body) > 6000 {
				t.Errorf("page is %d bytes, want a small page (< 6000)", len(body))
			}
			// Every inline script and style carries the CSP nonce.
			m := reCSP.FindStringSubmatch(resp.Header.Get("Content-Security-Policy"))
			if m == nil {
				t.Fatalf("no script nonce in CSP %q", resp.Header.Get("Content-Security-Policy"))
			}
			if n := strings.Count(body, "<script") + strings.Count(body, "<style"); n != strings.Count(body, `nonce="`+m[1]+`"`) {
				t.Errorf("%d inline scripts/styles but %d carry the CSP nonce", n, strings.Count(body, `nonce="`+m[1]+`"`))
			}
			pc := passCookie(resp)
			if (pc != nil) != tc.cookie {
				t.Fatalf("pass cookie %v, want one: %v", pc, tc.cookie)
			}
			if pc != nil {
				if !pc.HttpOnly || pc.SameSite != http.SameSiteLaxMode || pc.Path != "/" || pc.Secure != tc.secure || pc.MaxAge != int(DefaultPassTTL/time.Second) || pc.Domain != "" {
					t.Errorf("cookie attributes %+v: want HttpOnly, SameSite=Lax, Path=/, Secure=%v, Max-Age 7 days, host-only", pc, tc.secure)
				}
				p, err := c.cfg.Signer.Verify(pc.Value, prefixA, binding(tc.req), now())
				if err != nil || p.Level != pass.LevelCookie {
					t.Errorf("the page's pass: %+v, %v", p, err)
				}
			}
		})
	}
}

func TestServeHead(t *testing.T) {
	c := newTestChallenger(t, Config{})
	r := get("https://example.org/")
	r.Method = http.MethodHead
	w := httptest.NewRecorder()
	if err := c.Serve(w, r, pass.LevelWork, prefixA); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusForbidden || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "0" {
		t.Errorf("HEAD: status %d, body %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
	if err := c.Serve(httptest.NewRecorder(), r, pass.LevelNone, prefixA); err == nil {
		t.Error("Serve at LevelNone: no error")
	}
}

func TestChooseLang(t *testing.T) {
	tests := []struct{ header, want string }{
		{"", "en"},
		{"fr", "fr"},
		{"fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr"},
		{"en-GB, fr;q=0.9", "en"},
		{"de-DE, fr;q=0.5, en;q=0.4", "fr"},
		{"de, es", "en"},
		{"fr;q=0.3, en;q=0.6", "en"},
		{"en;q=0, fr;q=0.1", "fr"},
		{"fr;q=0", "en"},
		{"fr;q=abc, en;q=0.2", "en"},
		{"fr;q=2, en;q=0.2", "en"}, // q out of range counts as 0
		{"*;q=0.9, fr;q=0.5", "en"},
		{"FR-be", "fr"},
		{" fr ; q = 0.8 , en ; q=0.7", "fr"},
		{"en, fr", "en"},                         // equal q: first wins
		{strings.Repeat("de,", 40) + "fr", "en"}, // past the entry bound
	}
	for _, tc := range tests {
		if got := chooseLang(tc.header); got != tc.want {
			t.Errorf("chooseLang(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

func TestHandleVerify(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	type tcase struct {
		name     string
		prepare  func(t *testing.T, c *Challenger, clock *time.Time) *http.Request
		prefix   netip.Prefix
		passed   bool
		reason   pass.Reason
		location string
	}
	// page serves a work challenge to prefixA and returns it.
	page := func(t *testing.T, c *Challenger, level pass.Level) served {
		w := httptest.NewRecorder()
		if err := c.Serve(w, get("https://example.org/wiki?p=1"), level, prefixA); err != nil {
			t.Fatal(err)
		}
		return readPage(t, w.Body.String())
	}
	good := func(ret string) func(t *testing.T, c *Challenger, clock *time.Time) *http.Request {
		return func(t *testing.T, c *Challenger, clock *time.Time) *http.Request {
			s := page(t, c, pass.LevelWork)
			return post(c, s.challenge, s.solve(t), ret)
		}
	}
	tests := []tcase{
		{"good answer", good("/wiki?p=1"), prefixA, true, "", "/wiki?p=1"},
		{"good answer, same network other address spelling", good("/"), netip.MustParsePrefix("::ffff:192.0.2.0/120"), true, "", "/"},
		{"script level", func(t *testing.T, c *Challenger, _ *time.Time) *http.Request {
			s := page(t, c, pass.LevelScript)
			if s.bits != ScriptDifficulty {
				t.Errorf("script level bits %d, want %d", s.bits, ScriptDifficulty)
			}
			return post(c, s.challenge, s.solve(t), "/")
		}, prefixA, true, "", "/"},
		{"one bit short of the difficulty", func(t *testing.T, c *Challenger, _ *time.Time) *http.Request {
			s := page(t, c, pass.LevelWork)
			for a := 0; a < 1<<24; a++ {
				if leadingZeroBits(sha256.Sum256([]byte(s.nonce+strconv.Itoa(a)))) == s.bits-1 {
					return post(c, s.challenge, strconv.Itoa(a), "/")
				}
			}
			t.Fatal("no near miss found")
			return nil
		}, prefixA, false, ReasonWrongAnswer, ""},
		{"answer with a leading zero", func(t *testing.T, c *Challenger, _ *time.Time) *http.Request {
			s := page(t, c, pass.LevelWork)
			return post(c, s.challenge, "0"+s.solve(t), "/")
		}, prefixA, false, ReasonWrongAnswer, ""},
		{"answer not a number", func(t *testing.T, c *Challenger, _ *time.Time) *http.Request {
			s := page(t, c, pass.LevelWork)
			return post(c, s.challenge, "-1", "/")
		}, prefixA, false, ReasonWrongAnswer, ""},
		{"expired", func(t *testing.T, c *Challenger, clock *time.Time) *http.Request {
			s := page(t, c, pass.LevelWork)
			*clock = clock.Add(DefaultChallengeTTL)
			return post(c, s.challenge, s.solve(t), "/")
		}, prefixA, false, pass.ReasonExpired, ""},
		{"other network", good("/"), prefixB, false, pass.ReasonOtherNetwork, ""},
		{"invalid prefix", good("/"), netip.Prefix{}, false, pass.ReasonOtherNetwork, ""},
		{"other user agent", func(t *testing.T, c *Challenger, _ *time.Time) *http.Request {
			r := good("/")(t, c, nil)
			r.Header.Set("User-Agent", "curl/8.5.0")
			return r
		}, prefixA, false, pass.ReasonOtherUserAgent, ""},
		{"altered challenge", func(t *testing.T, c *Challenger, _ *time.Time) *http.Request {
			s := page(t, c, pass.LevelWork)
			b := []byte(s.challenge)
			if b[5] == 'A' {
				b[5] = 'B'
			} else {
				b[5] = 'A'
			}
			return post(c, string(b), s.solve(t), "/")
		}, prefixA, false, pass.ReasonBadSignature, ""},
		{"truncated challenge", func(t *testing.T, c *Challenger, _ *time.Time) *http.Request {
			s := page(t, c, pass.LevelWork)
			return post(c, s.challenge[:40], s.solve(t), "/")
		}, prefixA, false, pass.ReasonMalformed, ""},
		{"a pass posted as a challenge", func(t *testing.T, c *Challenger, clock *time.Time) *http.Request {
			return post(c, c.cfg.Signer.Issue(prefixA, uaTest, pass.LevelWork, *clock, time.Hour), "1", "/")
		}, prefixA, false, pass.ReasonBadSignature, ""},
		{"replayed", func(t *testing.T, c *Challenger, _ *time.Time) *http.Request {
			s := page(t, c, pass.LevelWork)
			a := s.solve(t)
			if out := c.HandleVerify(httptest.NewRecorder(), post(c, s.challenge, a, "/"), prefixA); !out.Passed {
				t.Fatalf("first use refused: %+v", out)
			}
			return post(c, s.challenge, a, "/")
		}, prefixA, false, ReasonReplayed, ""},
		{"GET", func(t *testing.T, c *Challenger, _ *time.Time) *http.Request {
			return get("https://example.org" + c.VerifyPath())
		}, prefixA, false, pass.ReasonMalformed, ""},
		{"oversized body", func(t *testing.T, c *Challenger, _ *time.Time) *http.Request {
			return post(c, strings.Repeat("A", 5000), "1", "/")
		}, prefixA, false, pass.ReasonMalformed, ""},
	}
	for _, ret := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example", "\\\\evil.example", "/\t/evil.example",
		"javascript:alert(1)", "evil.example", "/.floodgate/verify", "http:/evil.example", "///evil.example", "/%0d%0aSet-Cookie:x=y"} {
		loc := "/"
		if strings.HasPrefix(ret, "/%0d") {
			loc = ret // percent-encoded: a harmless path, kept as is
		}
		tests = append(tests, tcase{"redirect " + strconv.Quote(ret), good(ret), prefixA, true, "", loc})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := setNow(t, t0)
			c := newTestChallenger(t, Config{Difficulty: 10})
			r := tc.prepare(t, c, clock)
			w := httptest.NewRecorder()
			out := c.HandleVerify(w, r, tc.prefix)
			if out.Passed != tc.passed || out.Reason != tc.reason {
				t.Fatalf("outcome %+v, want passed %v reason %q", out, tc.passed, tc.reason)
			}
			resp := w.Result()
			if !tc.passed {
				if pc := passCookie(resp); pc != nil {
					t.Errorf("refused answer got a pass cookie")
				}
				if r.Method == http.MethodPost && resp.StatusCode == http.StatusForbidden {
					if !strings.Contains(w.Body.String(), `class="retry"`) || !strings.Contains(w.Body.String(), `name="c"`) {
						t.Errorf("refusal page lacks the retry note or a new challenge")
					}
				}
				return
			}
			if out.Level != pass.LevelWork && out.Level != pass.LevelScript {
				t.Errorf("level %v", out.Level)
			}
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.location {
				t.Errorf("status %d Location %q, want 303 %q", resp.StatusCode, resp.Header.Get("Location"), tc.location)
			}
			pc := passCookie(resp)
			if pc == nil {
				t.Fatal("no pass cookie")
			}
			if !pc.HttpOnly || !pc.Secure || pc.SameSite != http.SameSiteLaxMode || pc.Path != "/" {
				t.Errorf("cookie attributes %+v: want HttpOnly, Secure (TLS request), SameSite=Lax, Path=/", pc)
			}
			p, err := c.cfg.Signer.Verify(pc.Value, tc.prefix, uaTest+"\x00example.org", *clock)
			if err != nil || p.Level != out.Level {
				t.Errorf("pass %+v, %v; want level %v", p, err, out.Level)
			}
		})
	}
}

// failingSeen is a SeenSet whose store is down.
type failingSeen struct{}

func (failingSeen) FirstUse(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("store down")
}

func TestHandleVerifySeenSetDownFailsOpen(t *testing.T) {
	setNow(t, time.Now())
	c := newTestChallenger(t, Config{Difficulty: 8, Seen: failingSeen{}})
	w := httptest.NewRecorder()
	c.Serve(w, get("https://example.org/"), pass.LevelWork, prefixA)
	s := readPage(t, w.Body.String())
	out := c.HandleVerify(httptest.NewRecorder(), post(c, s.challenge, s.solve(t), "/"), prefixA)
	if !out.Passed || out.SeenErr == nil {
		t.Errorf("outcome %+v: want passed with SeenErr set", out)
	}
}

// TestPassIsBoundToTheSite: a pass earned on one member site is refused on another.
func TestPassIsBoundToTheSite(t *testing.T) {
	setNow(t, time.Now())
	c := newTestChallenger(t, Config{})
	w := httptest.NewRecorder()
	c.Serve(w, get("https://example.org/"), pass.LevelCookie, prefixA)
	var value string
	for _, ck := range w.Result().Cookies() {
		if ck.Name == "floodgate_pass" {
			value = ck.Value
		}
	}
	if value == "" {
		t.Fatal("the cookie level set no pass")
	}
	for host, want := range map[string]pass.Reason{"example.org": "", "EXAMPLE.org:443": "", "other.example.net": pass.ReasonOtherUserAgent} {
		r := get("https://" + host + "/")
		r.Header.Set("Cookie", "floodgate_pass="+value)
		if _, err := c.Check(r, prefixA, pass.LevelCookie); pass.ReasonOf(err) != want {
			t.Errorf("the pass from example.org on %s: %v, want %q", host, err, want)
		}
	}
}

func TestCheck(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	setNow(t, t0)
	c := newTestChallenger(t, Config{})
	s := c.cfg.Signer
	// A pass is bound to the browser and the site: what binding() makes of a request to
	// example.org with uaTest.
	bound := uaTest + "\x00example.org"
	work := s.Issue(prefixA, bound, pass.LevelWork, t0, time.Hour)
	cookie := s.Issue(prefixA, bound, pass.LevelCookie, t0, time.Hour)
	old := s.Issue(prefixA, bound, pass.LevelWork, t0.Add(-2*time.Hour), time.Hour)
	tests := []struct {
		name    string
		cookies []string // Cookie header lines
		prefix  netip.Prefix
		need    pass.Level
		want    pass.Reason
	}{
		{"no cookie", nil, prefixA, pass.LevelCookie, pass.ReasonMissing},
		{"other cookies only", []string{"a=b; c=d"}, prefixA, pass.LevelCookie, pass.ReasonMissing},
		{"good", []string{"a=b; floodgate_pass=" + work + "; c=d"}, prefixA, pass.LevelWork, ""},
		{"quoted value", []string{`floodgate_pass="` + work + `"`}, prefixA, pass.LevelWork, ""},
		{"stronger than needed", []string{"floodgate_pass=" + work}, prefixA, pass.LevelCookie, ""},
		{"weaker than needed", []string{"floodgate_pass=" + cookie}, prefixA, pass.LevelWork, pass.ReasonWeakerLevel},
		{"copied to another network", []string{"floodgate_pass=" + work}, prefixB, pass.LevelCookie, pass.ReasonOtherNetwork},
		{"expired", []string{"floodgate_pass=" + old}, prefixA, pass.LevelCookie, pass.ReasonExpired},
		{"garbage", []string{"floodgate_pass=xyz"}, prefixA, pass.LevelCookie, pass.ReasonMalformed},
		{"an expired and a good one", []string{"floodgate_pass=" + old, "floodgate_pass=" + work}, prefixA, pass.LevelWork, ""},
		{"name is a suffix only", []string{"xfloodgate_pass=" + work}, prefixA, pass.LevelCookie, pass.ReasonMissing},
		// Issue 10: a member site's dozens of cookies before the pass (it was ignored after the 64th).
		{"after 100 other cookies", []string{manyCookies(100) + "; floodgate_pass=" + work}, prefixA, pass.LevelWork, ""},
		{"after 100 other cookie lines", append(slices.Repeat([]string{"a=b"}, 100), "floodgate_pass="+work), prefixA, pass.LevelWork, ""},
		// Work stays bounded: past maxPassCookies forged passes, a good one is not looked at.
		{"after many forged passes", []string{strings.Repeat("floodgate_pass=xyz; ", maxPassCookies) + "floodgate_pass=" + work}, prefixA, pass.LevelCookie, pass.ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get("https://example.org/")
			for _, l := range tc.cookies {
				r.Header.Add("Cookie", l)
			}
			p, err := c.Check(r, tc.prefix, tc.need)
			if got := pass.ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.want)
			}
			if tc.want == "" && !p.Level.Satisfies(tc.need) {
				t.Errorf("pass level %v does not satisfy %v", p.Level, tc.need)
			}
		})
	}
}

// manyCookies returns n cookies "c0=v; c1=v; ...".
func manyCookies(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("c%d=v", i)
	}
	return strings.Join(parts, "; ")
}

func TestReturnPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"/a/b?x=1&y=2", "/a/b?x=1&y=2"},
		{"/caf%C3%A9", "/caf%C3%A9"},
		{"/a b", "/a%20b"},
		{`/a"onload=x`, "/a%22onload=x"},
		{"/a?q='x'", "/a?q=%27x%27"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"},
		{"", "/"},
		{"a", "/"},
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"/\\evil.example", "/"},
		{"/a\\b", "/"},
		{"https://evil.example/", "/"},
		{"/\nevil", "/"},
		{"/\x7f", "/"},
		{"/%zz", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
	}
	for _, tc := range tests {
		if got := returnPath(tc.in); got != tc.want {
			t.Errorf("returnPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNew(t *testing.T) {
	s, _ := pass.NewSigner(testKey)
	tests := []struct {
		name string
		cfg  Config
		want string // "" = ok
	}{
		{"defaults", Config{Signer: s}, ""},
		{"no signer", Config{}, "no Signer"},
		{"bad cookie name", Config{Signer: s, CookieName: "a b"}, `cookie name "a b"`},
		{"difficulty too high", Config{Signer: s, Difficulty: 40}, "difficulty 40: expected 1 to 24"},
		{"negative difficulty", Config{Signer: s, Difficulty: -1}, "difficulty -1"},
		{"short pass TTL", Config{Signer: s, PassTTL: time.Second}, "pass TTL 1s"},
		{"challenge TTL", Config{Signer: s, ChallengeTTL: 48 * time.Hour}, "challenge TTL 48h0m0s"},
		{"relative verify path", Config{Signer: s, VerifyPath: "verify"}, `verify path "verify"`},
		{"two problems", Config{Difficulty: 99}, "no Signer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.cfg.CookieName != DefaultCookieName || c.cfg.PassTTL != DefaultPassTTL || c.cfg.Difficulty != DefaultDifficulty || c.VerifyPath() != DefaultVerifyPath {
					t.Errorf("defaults not filled: %+v", c.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := New(Config{Difficulty: 99}); err == nil || !strings.Contains(err.Error(), "difficulty 99") {
		t.Errorf("joined errors: %v", err)
	}
}

func TestLoadTemplate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.html", `<!DOCTYPE html><html lang="{{.Lang}}"><title>OUR HOST {{.Host}}</title>
{{if eq .Level "cookie"}}<meta http-equiv="refresh" content="0; url={{.ReturnTo}}">{{else}}
<form id="fg-form" method="post" action="{{.VerifyPath}}" data-nonce="{{.Nonce}}" data-bits="{{.Difficulty}}" data-level="{{.Level}}" data-done="{{.Text.Done}}">
<input type="hidden" name="c" value="{{.Challenge}}"><input type="hidden" name="a"><input type="hidden" name="r" value="{{.ReturnTo}}"></form>
<script nonce="{{.CSPNonce}}">{{.Script}}</script>{{end}}</html>`)
	tests := []struct {
		name, path, want string
	}{
		{"syntax error", write("syntax.html", "<p>\n{{if .Host}}\n<p>no end</p>"), "syntax.html:"},
		{"unknown field", write("field.html", "<p>{{.Hostname}}</p>"), "can't evaluate field Hostname"},
		{"missing file", filepath.Join(dir, "none.html"), "none.html"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadTemplate(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	tmpl, err := LoadTemplate(good)
	if err != nil {
		t.Fatal(err)
	}
	setNow(t, time.Now())
	c := newTestChallenger(t, Config{Template: tmpl, Difficulty: 8})
	w := httptest.NewRecorder()
	c.Serve(w, get("https://example.org/x"), pass.LevelWork, prefixA)
	if !strings.Contains(w.Body.String(), "OUR HOST example.org") {
		t.Fatalf("custom template not used:\n%s", w.Body.String())
	}
	s := readPage(t, w.Body.String())
	if out := c.HandleVerify(httptest.NewRecorder(), post(c, s.challenge, s.solve(t), "/x"), prefixA); !out.Passed {
		t.Errorf("answer to a custom page refused: %+v", out)
	}
}

func TestExempt(t *testing.T) {
	e, err := NewExempt([]string{"/api/**", "/hooks/*.php", "/status"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, target, accept string
		want                   bool
	}{
		{"GET", "/robots.txt", "", true},
		{"POST", "/.well-known/acme-challenge/abc", "", true},
		{"GET", "/.well-known/security.txt", "", true},
		{"GET", "/feed", "", true},
		{"GET", "/feed/", "", true},
		{"GET", "/category/news/feed/", "", true},
		{"GET", "/comments/feed", "", true},
		{"GET", "/rss", "", true},
		{"GET", "/rss.xml", "", true},
		{"GET", "/atom.xml", "", true},
		{"GET", "/index.xml", "", true},
		{"HEAD", "/news.rss", "", true},
		{"GET", "/blog/posts.atom", "", true},
		{"GET", "/?feed=rss2", "", true},
		{"GET", "/spip.php?page=backend", "", true},
		{"GET", "/spip.php?page=backend-breves&id_rubrique=3", "", true},
		{"GET", "/spip.php?lang=fr&page=backend", "", true},
		{"GET", "/backend.php3", "", true},
		{"GET", "/blog/?feed=atom", "", true},
		{"GET", "/index.php?feed=rss2", "", true},
		{"GET", "/2024/01/post/feed/", "", true},
		{"POST", "/api/v1/items", "", true},
		{"POST", "/hooks/gitlab.php", "", true},
		{"GET", "/status", "", true},
		{"GET", "/", "", false},
		{"GET", "/robots.txt.bak", "", false},
		{"GET", "/.well-known", "", false},
		{"POST", "/feed", "", false},
		{"POST", "/news", "application/rss+xml", false},
		{"GET", "/feedback", "", false},
		{"GET", "/spip.php?page=article", "", false},
		{"GET", "/spip.php?page=backendx", "", false},
		{"GET", "/index.php?notfeed=1", "", false},
		{"GET", "/hooks/sub/gitlab.php", "", false},
		{"GET", "/statusx", "", false},
		{"GET", "/wp-login.php", "text/html", false},
		// Issue 10: exemptions a client can borrow. The Accept header is anyone's to send; a
		// feed parameter on another page is that page; dot segments leave the exempt folder.
		{"GET", "/news", "application/rss+xml, application/xml;q=0.9", false},
		{"GET", "/news", "Application/Atom+XML", false},
		{"GET", "/", "application/feed+json", false},
		{"GET", "/page?feed=1", "", false},
		{"GET", "/page?feed=rss2", "", false},
		{"GET", "/?s=x&feed=rss2", "", false},
		{"GET", "/?feed=rss2&s=x", "", false},
		{"GET", "/?feed=1", "", false},
		{"GET", "/wp-login.php?feed=rss2", "", false},
		{"GET", "/spip.php?page=backend&recherche=x", "", false},
		{"GET", "/spip.php?page=recherche&id_rubrique=1", "", false},
		{"GET", "/.well-known/../page", "", false},
		{"GET", "/.well-known/..%2fpage", "", false},
		{"GET", "/.well-known/%2e%2e/page", "", false},
		{"GET", "/wp-json/../page", "", false},
		{"GET", "/api/../page", "", false},
		{"GET", "/api/%2e%2e/wp-login.php", "", false},
		{"GET", "/robots.txt/../page", "", false},
		{"GET", "/wp-login.php/feed", "", false},
		{"GET", "/wp-login.php/feed/", "", false},
		{"GET", "/index.php/rss.xml", "", false},
		{"GET", "//api/x", "", true},
		{"GET", "/./robots.txt", "", true},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(tc.method, "https://example.org"+tc.target, nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		if got := e.IsExempt(r); got != tc.want {
			t.Errorf("%s %s (Accept %q): exempt %v, want %v", tc.method, tc.target, tc.accept, got, tc.want)
		}
	}
	var none *Exempt
	if !none.IsExempt(httptest.NewRequest("GET", "/robots.txt", nil)) || none.IsExempt(httptest.NewRequest("GET", "/api/x", nil)) {
		t.Error("nil *Exempt: built-ins only")
	}
	if _, err := NewExempt([]string{"api/*"}); err == nil {
		t.Error("NewExempt accepted a path without a leading '/'")
	}
}

// BenchmarkCheck measures reading and verifying the pass cookie of a request
// carrying a few other cookies, as on every request of a challenged site.
func BenchmarkCheck(b *testing.B) {
	c := newTestChallenger(b, Config{})
	tok := c.cfg.Signer.Issue(prefixA, uaTest, pass.LevelWork, time.Now(), time.Hour)
	r := get("https://example.org/")
	r.Header.Set("Cookie", "_ga=GA1.2.3; spip_session=abc; floodgate_pass="+tok+"; lang=fr")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Check(r, prefixA, pass.LevelWork); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeCookie is the cost of a cookie challenge, the answer every client without a
// pass gets from a site under attack: a flood of them retrying at once is answered this
// often.
func BenchmarkServeCookie(b *testing.B) {
	c := newTestChallenger(b, Config{})
	r := get("https://example.org/article/1?page=2")
	r.Header.Set("Accept-Language", "fr-FR,fr;q=0.9")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		if err := c.Serve(w, r, pass.LevelCookie, prefixA); err != nil {
			b.Fatal(err)
		}
	}
}

// A challenge page's header, written by hand into one allocation, is what net/http's own
// Header.Set and http.SetCookie would write: the pass cookie line byte for byte as
// http.Cookie makes it (plain and HTTPS, a cookie name too long for the header's buffer),
// the CSP naming the page's nonce, the length of the page, and a Set-Cookie already on the
// answer kept.
func TestChallengeHeaderAsNetHTTPWritesIt(t *testing.T) {
	for _, tc := range []struct {
		name, cookieName, target string
		level                    pass.Level
		https                    bool
		before                   []string // Set-Cookie lines already on the answer
	}{
		{"cookie level, plain HTTP", "", "http://example.org/article/1?page=2", pass.LevelCookie, false, nil},
		{"cookie level, HTTPS", "", "https://example.org/article/1?page=2", pass.LevelCookie, true, nil},
		{"cookie level, a long cookie name", strings.Repeat("n", 700), "https://example.org/", pass.LevelCookie, true, nil},
		{"cookie level, another cookie set before", "", "http://example.org/", pass.LevelCookie, false, []string{"site=1; Path=/"}},
		{"script level", "", "http://example.org/x", pass.LevelScript, false, nil},
	} {
		c := newTestChallenger(t, Config{CookieName: tc.cookieName})
		t0 := time.Unix(1_800_000_000, 0)
		setNow(t, t0)
		r := get(tc.target, "Accept-Language", "fr")
		w := httptest.NewRecorder()
		for _, l := range tc.before {
			w.Header().Add("Set-Cookie", l)
		}
		if err := c.Serve(w, r, tc.level, prefixA); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		h := w.Result().Header
		var want []string
		want = append(want, tc.before...)
		if tc.level == pass.LevelCookie {
			want = append(want, (&http.Cookie{
				Name:     c.cfg.CookieName,
				Value:    c.cfg.Signer.Issue(prefixA, binding(r), pass.LevelCookie, t0, c.cfg.PassTTL),
				Path:     "/",
				MaxAge:   int(c.cfg.PassTTL / time.Second),
				Expires:  t0.Add(c.cfg.PassTTL).UTC(),
				HttpOnly: true,
				Secure:   tc.https,
				SameSite: http.SameSiteLaxMode,
			}).String())
		}
		if got := h.Values("Set-Cookie"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: Set-Cookie\n%q\nwant\n%q", tc.name, got, want)
		}
		m := reCSP.FindStringSubmatch(h.Get("Content-Security-Policy"))
		if m == nil || !strings.Contains(w.Body.String(), `nonce="`+m[1]+`"`) || len(h.Values("Content-Security-Policy")) != 1 {
			t.Errorf("%s: CSP %q: no nonce of the page's", tc.name, h.Values("Content-Security-Policy"))
		}
		if got, want := h.Get("Content-Length"), len(w.Body.Bytes()); got != strconv.Itoa(want) {
			t.Errorf("%s: Content-Length %q, page of %d bytes", tc.name, got, want)
		}
		for k, v := range map[string]string{"Content-Type": "text/html; charset=utf-8", "Content-Language": "fr", "Cache-Control": "no-store",
			"X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "same-origin"} {
			if got := h.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s: %s %q, want %q", tc.name, k, got, v)
			}
		}
	}
}
