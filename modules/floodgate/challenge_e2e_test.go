package floodgate_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/browsertest"
)

var protectRules = abs("../../testdata/rules/e2e/protect.yaml")

// contentUpstream serves pages titled "member content <path>" and records the paths it saw.
type contentUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]int
}

func newContentUpstream(t *testing.T) *contentUpstream {
	u := &contentUpstream{seen: map[string]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen[r.URL.Path]++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>member content %s</title><p>the member's page", r.URL.Path)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *contentUpstream) hitsOf(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[path]
}

// TestBrowserPassesChallengesThroughFloodgate: headless Chromium loads challenged pages
// through floodgate at each level, passes, and reaches the member's page; a plain HTTP
// client without the cookie never does.
func TestBrowserPassesChallengesThroughFloodgate(t *testing.T) {
	chromium := browsertest.Find(t)
	up := newContentUpstream(t)
	p := startProxy(t, "rules "+protectRules, up.Listener.Addr().String(), "")
	for _, level := range []string{"cookie", "script", "work"} {
		t.Run(level, func(t *testing.T) {
			path := "/" + level + "/article-1"
			// A plain client without a cookie jar gets the challenge page, never the content.
			for i := 0; i < 3; i++ {
				resp := p.get("127.0.0.1", uaBrowser, path)
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("plain client at level %s: status %d, want 403 (challenge page)", level, resp.StatusCode)
				}
			}
			if n := up.hitsOf(path); n != 0 {
				t.Fatalf("the upstream saw %d requests for %s before any challenge was passed", n, path)
			}
			start := time.Now()
			title, final := browsertest.Browse(t, chromium, fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path), "member content "+path, "fr-FR,fr;q=0.9")
			t.Logf("level %s: Chromium reached %q at %s in %v", level, title, final, time.Since(start))
			if up.hitsOf(path) == 0 {
				t.Fatalf("Chromium's title says it got the page, yet the upstream never served %s", path)
			}
		})
	}
}

// TestCopiedPassIsRefusedElsewhere: a pass earned from one network, copied to a client on
// another network (or with another browser), is refused; on its own network it works.
func TestCopiedPassIsRefusedElsewhere(t *testing.T) {
	up := newContentUpstream(t)
	p := startProxy(t, "rules "+protectRules, up.Listener.Addr().String(), "")
	base := fmt.Sprintf("http://127.0.0.1:%d", p.port)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	fetch := func(c *http.Client, ip, ua, cookie string) (int, string) {
		req, _ := http.NewRequest("GET", base+"/cookie/page", nil)
		req.Header.Set("User-Agent", ua)
		req.Header.Set("X-Forwarded-For", ip)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The cookie level hands the pass in Set-Cookie: a client keeping cookies has it.
	if code, _ := fetch(client, ipOrange, uaBrowser, ""); code != http.StatusForbidden {
		t.Fatalf("first visit: %d, want the challenge page", code)
	}
	code, body := fetch(client, ipOrange, uaBrowser, "")
	if code != 200 || !strings.Contains(body, "member content") {
		t.Fatalf("second visit with the pass: %d, want the page", code)
	}
	var passCookie string
	for _, c := range jar.Cookies(mustURL(base)) {
		if strings.Contains(c.Name, "pass") {
			passCookie = c.Name + "=" + c.Value
		}
	}
	if passCookie == "" {
		t.Fatal("no pass cookie in the jar")
	}
	hits := up.hitsOf("/cookie/page")
	plain := &http.Client{Timeout: 10 * time.Second}
	if code, _ := fetch(plain, "90.0.0.99", uaBrowser, passCookie); code != 200 {
		t.Errorf("the pass from the same /24: %d, want 200", code)
	}
	if code, _ := fetch(plain, ipAmazon, uaBrowser, passCookie); code != http.StatusForbidden {
		t.Errorf("the pass copied to another network: %d, want 403 (challenged again)", code)
	}
	if code, _ := fetch(plain, ipOrange, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0", passCookie); code != http.StatusForbidden {
		t.Errorf("the pass copied to another browser: %d, want 403", code)
	}
	// A pass is bound to its site: copied to another member site behind the same floodgate,
	// from the same network and browser, it is refused.
	other, _ := http.NewRequest("GET", base+"/cookie/page", nil)
	other.Host = "another-member.example"
	other.Header.Set("User-Agent", uaBrowser)
	other.Header.Set("X-Forwarded-For", ipOrange)
	other.Header.Set("Cookie", passCookie)
	if resp, err := plain.Do(other); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("the pass copied to another member site: %v %v, want 403", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	tampered := passCookie[:len(passCookie)-2] + "AA"
	if code, _ := fetch(plain, ipOrange, uaBrowser, tampered); code != http.StatusForbidden {
		t.Errorf("an altered pass: %d, want 403", code)
	}
	if got := up.hitsOf("/cookie/page") - hits; got != 1 {
		t.Errorf("the upstream served %d requests with copied or altered passes, want only the 1 legitimate one", got)
	}
	// A site's challenge_exempt paths (rule file, sites:) are never challenged.
	if code, _ := p.hit(plain, "GET", "api.example", ipAmazon, uaBrowser, "/cookie/api/orders"); code != 200 {
		t.Errorf("an exempt path of api.example: %d, want 200", code)
	}
	if code, _ := p.hit(plain, "GET", "api.example", ipAmazon, uaBrowser, "/cookie/page"); code != http.StatusForbidden {
		t.Errorf("a path of api.example that is not exempt: %d, want 403", code)
	}
	// Never challenged: robots.txt and feeds, even on a challenged path.
	for _, path := range []string{"/robots.txt", "/cookie/feed/", "/.well-known/security.txt"} {
		if s := p.status(ipAmazon, uaBrowser, path); s != 200 {
			t.Errorf("%s: %d, want 200 (never challenged)", path, s)
		}
	}
}
