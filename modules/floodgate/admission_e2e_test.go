package floodgate_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAdmissionKeepsPeopleServed: with no caps and no rate trigger set (admission as
// shipped), a closed-loop flood of unknown clients on one site, retrying as fast as refusals
// come back, against a backend of 4 workers that refuses past a short backlog (as PHP-FPM
// does): people browsing another site, with cookie jars, are all served — they are more
// trusted, so they never wait behind the flood (should their site be challenged, a browser
// passes the cookie level in one round trip) — and the flooded site switches to
// under-attack mode from backend pressure alone.
func TestAdmissionKeepsPeopleServed(t *testing.T) {
	backend := newPool(t, 4, 8, 20*time.Millisecond)
	p, logPath := startProtectedProxy(t, backend.Listener.Addr().String(), "protect {\n\t\t}")
	var floodOK, floodRefused atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for c := 0; c < 48; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				code, _ := p.hit(e2eClient, "GET", "f.example", fmt.Sprintf("3.1.%d.%d", c, i%250+1), "scraper/1.0", fmt.Sprintf("/p/%d", i))
				if code == 200 {
					floodOK.Add(1)
				} else {
					floodRefused.Add(1)
				}
			}
		}(c)
	}
	// People keep cookies and follow a challenge's refresh, as browsers do: a page counts as
	// served when it arrives, at once or one round trip after a cookie challenge.
	var peopleOK, peopleTotal, challenged atomic.Int64
	var people sync.WaitGroup
	for v := 0; v < 4; v++ {
		people.Add(1)
		go func(v int) {
			defer people.Done()
			browser := &http.Client{Jar: newJar(), Timeout: 10 * time.Second}
			for i := 0; i < 20; i++ {
				path := fmt.Sprintf("/article/%d", i)
				code, _ := p.hit(browser, "GET", "e.example", fmt.Sprintf("90.3.%d.1", v), uaBrowser, path)
				if code == 403 { // a cookie challenge: the page refreshes at once
					challenged.Add(1)
					code, _ = p.hit(browser, "GET", "e.example", fmt.Sprintf("90.3.%d.1", v), uaBrowser, path)
				}
				peopleTotal.Add(1)
				if code == 200 {
					peopleOK.Add(1)
				} else {
					t.Logf("person %d page %d: %d", v, i, code)
				}
				time.Sleep(300 * time.Millisecond) // reading the page
			}
		}(v)
	}
	people.Wait()
	close(stop)
	wg.Wait()
	t.Logf("people: %d of %d pages (%d after a cookie challenge); flood: %d served, %d refused; the backend refused %d (its backlog full)", peopleOK.Load(), peopleTotal.Load(), challenged.Load(), floodOK.Load(), floodRefused.Load(), backend.overloaded.Load())
	if peopleOK.Load() != peopleTotal.Load() {
		t.Errorf("people got %d of %d pages during the flood, want all", peopleOK.Load(), peopleTotal.Load())
	}
	var reasons []string
	for _, l := range logLines(t, logPath, "site under attack: challenging clients that are not known good") {
		t.Logf("under attack: %v: %v", l["site"], l["reason"])
		if l["site"] == "f.example" {
			reasons = append(reasons, fmt.Sprint(l["reason"]))
		}
	}
	if len(reasons) == 0 || !strings.Contains(reasons[0], "pressure") {
		t.Errorf("f.example switched on for %q, want backend pressure (no rate trigger is set)", reasons)
	}
}

// TestVisitorCookieOnOrdinaryPages: a browser gets a visitor cookie with an ordinary page —
// HttpOnly, and Secure when a trusted TLS-terminating proxy says the client came over HTTPS
// (X-Forwarded-Proto) — a second page moments later carries no new one, a crawler gets none,
// and none is set once the challenge block turns it off.
func TestVisitorCookieOnOrdinaryPages(t *testing.T) {
	backend := newPool(t, 4, 64, time.Millisecond)
	p, _ := startProtectedProxy(t, backend.Listener.Addr().String(), "")
	get := func(host, ua, ip string, header ...string) *http.Response {
		return p.getWith(host, ip, ua, "/", header...)
	}
	visitor := func(resp *http.Response) *http.Cookie {
		for _, c := range resp.Cookies() {
			if c.Name == "floodgate_visitor" {
				return c
			}
		}
		return nil
	}
	first := get("e.example", uaBrowser, "90.4.0.1", "X-Forwarded-Proto", "https")
	c := visitor(first)
	if first.StatusCode != 200 || c == nil || !c.HttpOnly || !c.Secure {
		t.Fatalf("first page: %d, cookie %+v; want 200 with an HttpOnly, Secure visitor cookie", first.StatusCode, c)
	}
	if c := visitor(get("e.example", uaBrowser, "90.4.0.1", "Cookie", "floodgate_visitor="+c.Value)); c != nil {
		t.Errorf("second page a moment later set the cookie again: %+v", c)
	}
	if c := visitor(get("e.example", uaBrowser, "90.4.0.2")); c == nil || c.Secure {
		t.Errorf("plain HTTP: cookie %+v, want one without Secure", c)
	}
	if c := visitor(get("e.example", "scraper/1.0", "90.4.0.3")); c != nil {
		t.Errorf("a client that is not a browser got a visitor cookie")
	}
	// Turned off for every site (a shared cache in front): none.
	p, _ = startProtectedProxy(t, backend.Listener.Addr().String(), "challenge {\n\t\t\tvisitor_cookie off\n\t\t}")
	if c := visitor(get("e.example", uaBrowser, "90.4.0.4")); c != nil {
		t.Errorf("visitor_cookie off: a cookie was set")
	}
}
