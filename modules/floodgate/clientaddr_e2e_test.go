package floodgate_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// Behind a load balancer that appends the address it saw to X-Forwarded-For, the client
// writes everything to the left of it. These tests send, from the trusted peer (127.0.0.1),
// headers such as "66.249.66.1, 81.2.71.1": the client is 81.2.71.1 whatever it puts first.

const (
	uaGooglebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	realClient  = "81.2.71.1"
)

// clientAddrRules: a small per-address budget and a cookie challenge, beside the shipped rules.
const clientAddrRules = `
rules:
  - name: counted
    match:
      path: ["/counted/**"]
    budgets:
      - rate: 3/min
        per: ip
        action: throttle
  - name: login-challenge
    match:
      path: ["/login"]
    action: challenge
`

// whoami asks the proxy who the client is, sending X-Forwarded-For xff.
func whoami(t *testing.T, p *proxy, client *http.Client, xff, ua, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path), nil)
	req.Host = "shop.test"
	req.Header.Set("User-Agent", ua)
	req.Header.Set("X-Forwarded-For", xff)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestClientCannotPickItsAddress (issue 10, critical): with trusted proxies configured as
// Caddyfile.example does (trusted_proxies_strict), "X-Forwarded-For: 66.249.66.1, 81.2.71.1"
// from the trusted peer does not make the client 66.249.66.1: no verified Googlebot, budgets
// keyed on the real client whatever it writes first, and a pass bound to the real client.
func TestClientCannotPickItsAddress(t *testing.T) {
	up := newUpstream(t)
	rules := writeRules(t, t.TempDir(), "local.yaml", clientAddrRules)
	p := startProxy(t, "rules shipped "+rules, up.Listener.Addr().String(), `handle /whoami {
		respond "{client_ip}|{http.vars.floodgate.class}|{http.vars.floodgate.rule}"
	}`)
	c := &http.Client{Timeout: 10 * time.Second}

	// Posing as Googlebot: the left-most entry is Google's, the client is not.
	code, body := whoami(t, p, c, "66.249.66.1, "+realClient, uaGooglebot, "/whoami")
	if code != http.StatusForbidden || strings.Contains(body, "search-bot") {
		t.Errorf("Googlebot UA, X-Forwarded-For 66.249.66.1, %s: %d %q; want 403 (an impostor, not a verified search-bot)", realClient, code, body)
	}
	code, body = whoami(t, p, c, "203.0.113.9, "+realClient, "curl/8.5.0", "/whoami")
	if !strings.HasPrefix(body, realClient+"|") {
		t.Errorf("client address %q (status %d), want %s", body, code, realClient)
	}
	// The real Googlebot, seen by the load balancer, is still verified.
	if code, body = whoami(t, p, c, "66.249.66.1", uaGooglebot, "/whoami"); code != 200 || !strings.Contains(body, "search-bot") {
		t.Errorf("real Googlebot: %d %q, want 200 search-bot", code, body)
	}

	// Rotating the left-most entry does not rotate past a per-address budget.
	inOneMinute(t, func(attempt int) error {
		client := fmt.Sprintf("81.2.71.%d", attempt) // realClient first, then a budget of its own
		var errs []error
		for i := 1; i <= 4; i++ {
			code, _ := whoami(t, p, c, fmt.Sprintf("90.0.%d.%d, %s", i, i, client), uaBrowser, "/counted/x")
			want := http.StatusOK
			if i == 4 {
				want = http.StatusTooManyRequests
			}
			if code != want {
				errs = append(errs, fmt.Errorf("request %d of a 3/min per-ip budget with a new left-most address: %d, want %d", i, code, want))
			}
		}
		return errors.Join(errs...)
	})

	// A pass earned by the real client is bound to it: another client writing the first's
	// address on the left does not carry it.
	jar := newJar()
	visitor := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	whoami(t, p, visitor, realClient, uaBrowser, "/login")
	if code, _ := whoami(t, p, visitor, realClient, uaBrowser, "/login"); code != 200 {
		t.Fatalf("the visitor did not earn a pass: %d", code)
	}
	if code, _ := whoami(t, p, visitor, "198.51.100.77, "+realClient, uaBrowser, "/login"); code != 200 {
		t.Errorf("the pass holder writing another address first: %d, want 200 (still the same client)", code)
	}
	if code, _ := whoami(t, p, visitor, realClient+", "+ipAmazon, uaBrowser, "/login"); code == 200 {
		t.Errorf("another client (%s) claiming %s on the left carried its pass: 200, want a challenge", ipAmazon, realClient)
	}
	if n := up.hits.Load(); n > 6 {
		t.Errorf("upstream saw %d requests, want at most 6", n)
	}
}

// TestLooseTrustedProxiesWarned: a config trusting proxies without trusted_proxies_strict
// loads (it did before) but floodgate logs why it is dangerous.
func TestLooseTrustedProxiesWarned(t *testing.T) {
	logPath := t.TempDir() + "/floodgate.log"
	up := newUpstream(t)
	p := &proxy{looseProxies: true, global: "log default {\n\t\toutput file " + logPath + "\n\t\tformat json\n\t}"}
	startProxyWith(t, p, "", up.Listener.Addr().String(), "")
	const msg = "trusted_proxies without trusted_proxies_strict"
	if !logHas(t, logPath, msg) {
		t.Errorf("no warning %q in floodgate's log", msg)
	}
	// And the strict config of every other test does not warn.
	logPath2 := t.TempDir() + "/floodgate.log"
	p2 := &proxy{global: "log default {\n\t\toutput file " + logPath2 + "\n\t\tformat json\n\t}"}
	startProxyWith(t, p2, "", up.Listener.Addr().String(), "")
	if logHas(t, logPath2, msg) {
		t.Errorf("warned with trusted_proxies_strict set")
	}
}

// logHas reports whether a log file holds s.
func logHas(t *testing.T, path, s string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), s)
}
