package floodgate_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTierAttackerCookies (issue 11, as an attacker): a browser that kept what floodgate
// gave it — a visitor cookie from an ordinary page, a cookie pass from a challenge — is
// admitted in tier "browser", before browsers that kept nothing ("new"). What a bot can
// send buys nothing: a visitor cookie or pass replayed from another network, with another
// User-Agent (a rotating one) or on another site, an altered one, a cookie of the wrong
// name, or the Sec-Fetch-* headers browsers send: every one of them is "new", as a client
// that never answered. The tier is read from the access log.
func TestTierAttackerCookies(t *testing.T) {
	backend := newPool(t, 4, 64, time.Millisecond)
	p, _ := startProtectedProxy(t, backend.Listener.Addr().String(), "")
	const uaOther = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
	n := 0
	// send makes one request with a path of its own, so that its access-log line is found.
	send := func(host, ip, ua, path string, header ...string) (string, *http.Response) {
		n++
		tagged := fmt.Sprintf("%s?n=%d", path, n)
		// Accept-Language as browsers send: no header signal lowers the tier.
		return tagged, p.getWith(host, ip, ua, tagged, append([]string{"Accept-Language", "en-GB,en;q=0.8"}, header...)...)
	}
	cookieOf := func(resp *http.Response, name string) string {
		for _, c := range resp.Cookies() {
			if c.Name == name {
				return c.Name + "=" + c.Value
			}
		}
		t.Fatalf("no %s cookie in the answer (%d)", name, resp.StatusCode)
		return ""
	}

	want := map[string]string{} // tagged path → tier
	expect := func(tier, why, host, ip, ua, path string, header ...string) *http.Response {
		tagged, resp := send(host, ip, ua, path, header...)
		want[tagged] = tier + " (" + why + ")"
		return resp
	}
	// A person's first page: kept nothing yet. The answer carries a visitor cookie.
	visitor := cookieOf(expect("new", "first page", "e.example", "90.5.0.1", uaBrowser, "/"), "floodgate_visitor")
	expect("browser", "visitor cookie, same network, browser and site", "e.example", "90.5.0.9", uaBrowser, "/a", "Cookie", visitor)
	expect("new", "visitor cookie replayed from another network", "e.example", "90.5.1.1", uaBrowser, "/b", "Cookie", visitor)
	expect("new", "visitor cookie with another User-Agent", "e.example", "90.5.0.1", uaOther, "/c", "Cookie", visitor)
	expect("new", "visitor cookie on another site", "b.example", "90.5.0.1", uaBrowser, "/d", "Cookie", visitor)
	altered := visitor[:len(visitor)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(visitor, "AA")]
	expect("new", "altered visitor cookie", "e.example", "90.5.0.1", uaBrowser, "/e", "Cookie", altered)
	expect("new", "visitor cookie under the pass's name", "e.example", "90.5.0.1", uaBrowser, "/f",
		"Cookie", "floodgate_pass="+strings.TrimPrefix(visitor, "floodgate_visitor="))
	expect("new", "Sec-Fetch headers, no cookie", "e.example", "90.5.2.1", uaBrowser, "/g",
		"Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "none", "Sec-Fetch-Dest", "document", "Sec-Fetch-User", "?1")

	// A cookie pass, earned by answering a cookie challenge: the browser ranks with those
	// that kept a cookie (not trusted: any jar earns one), and only where it was earned.
	pass := cookieOf(expect("new", "challenged", "d.example", "90.6.0.1", uaBrowser, "/cookie/x"), "floodgate_pass")
	expect("browser", "cookie pass", "d.example", "90.6.0.1", uaBrowser, "/h", "Cookie", pass)
	expect("new", "cookie pass replayed from another network", "d.example", "90.6.7.1", uaBrowser, "/i", "Cookie", pass)
	expect("new", "cookie pass with another User-Agent", "d.example", "90.6.0.1", uaOther, "/j", "Cookie", pass)
	expect("new", "cookie pass on another site", "e.example", "90.6.0.1", uaBrowser, "/k", "Cookie", pass)

	got := map[string]string{}
	f, err := os.Open(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Request struct {
				URI string `json:"uri"`
			} `json:"request"`
			Floodgate struct {
				Tier string `json:"tier"`
			} `json:"floodgate"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			got[line.Request.URI] = line.Floodgate.Tier
		}
	}
	for path, w := range want {
		if tier := got[path]; !strings.HasPrefix(w, tier+" (") || tier == "" {
			t.Errorf("%s: tier %q, want %s", path, tier, w)
		}
	}
}

// TestFirstVisitorCookieWhenTheBackendIsShort: a person whose first page waited for the
// backend (its site at its limit) still gets a visitor cookie with that page, so that its
// next pages show they kept it (tier browser, ahead of clients that keep nothing) — a
// flood elsewhere must not leave new people in the lowest browser tier for their whole
// visit.
func TestFirstVisitorCookieWhenTheBackendIsShort(t *testing.T) {
	backend := newPool(t, 4, 64, 300*time.Millisecond)
	p, _ := startProtectedProxy(t, backend.Listener.Addr().String(), "")
	var wg sync.WaitGroup
	for i := range 2 { // b.example's max_inflight is 2: these hold it
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.hit(e2eClient, "GET", "b.example", fmt.Sprintf("90.7.%d.1", i), "scraper/1.0", "/slow")
		}()
	}
	backend.waitInflight(t, "b.example", 2) // both hold the site's share
	start := time.Now()
	resp := p.getWith("b.example", "90.7.9.1", uaBrowser, "/", "Accept-Language", "en")
	waited := time.Since(start)
	wg.Wait()
	var got bool
	for _, c := range resp.Cookies() {
		got = got || c.Name == "floodgate_visitor"
	}
	if resp.StatusCode != 200 || !got {
		t.Fatalf("first page after waiting %v: %d, visitor cookie %v; want 200 with one", waited, resp.StatusCode, got)
	}
}

// getWith sends a GET of path to host from client address ip with user agent ua and the
// header name, value pairs given; the body is read and closed.
func (p *proxy) getWith(host, ip, ua, path string, header ...string) *http.Response {
	p.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path), nil)
	req.Host = host
	req.Header.Set("User-Agent", ua)
	req.Header.Set("X-Forwarded-For", ip)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e2eClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestFirstVisitorCookieOnAShedPage: a person's first page that the backend has no room for
// (503, its wait bound passed) still carries the visitor cookie, so that the person's next
// page ranks with the browsers that kept one — a person shed once is not left with the
// clients that never keep anything.
func TestFirstVisitorCookieOnAShedPage(t *testing.T) {
	backend := newPool(t, 4, 64, 3*time.Second)
	p, _ := startProtectedProxy(t, backend.Listener.Addr().String(), "protect {\n\t\t\tmax_wait 200ms\n\t\t}")
	var wg sync.WaitGroup
	for i := range 2 { // b.example's max_inflight is 2: these hold it past the wait bound
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.hit(e2eClient, "GET", "b.example", fmt.Sprintf("90.8.%d.1", i), "scraper/1.0", "/slow")
		}()
	}
	backend.waitInflight(t, "b.example", 2) // both hold the site's share
	resp := p.getWith("b.example", "90.8.9.1", uaBrowser, "/", "Accept-Language", "en")
	wg.Wait()
	var got bool
	for _, c := range resp.Cookies() {
		got = got || c.Name == "floodgate_visitor"
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !got {
		t.Fatalf("first page shed: %d, visitor cookie %v; want 503 with one", resp.StatusCode, got)
	}
}
