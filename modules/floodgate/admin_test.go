package floodgate_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestAdminAPI switches a site's under-attack mode by hand and lifts a quarantine through
// Caddy's admin endpoint, as a tech would with curl.
func TestAdminAPI(t *testing.T) {
	up := newContentUpstream(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	admin := l.Addr().String()
	l.Close()
	p := startProxyWith(t, &proxy{admin: admin}, "rules "+protectRules, up.Listener.Addr().String(), "")
	call := adminCaller(t, admin)
	sites := func() (quarantined, attacked []string) {
		code, body := call("GET", "/floodgate/sites")
		if code != 200 {
			t.Fatalf("GET /floodgate/sites: %d %s", code, body)
		}
		var out struct {
			Quarantined []struct{ Site string } `json:"quarantined"`
			UnderAttack []string                `json:"under_attack"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("GET /floodgate/sites: %v: %s", err, body)
		}
		for _, q := range out.Quarantined {
			quarantined = append(quarantined, q.Site)
		}
		return quarantined, out.UnderAttack
	}

	if code, _ := p.hit(e2eClient, "GET", "c.example", ipOrange, uaBrowser, "/"); code != 200 {
		t.Fatalf("c.example before: %d", code)
	}
	// Issue 10: site= spelled as a client may spell the host names the same site.
	if code, body := call("POST", "/floodgate/under-attack?site=C.Example:8080&mode=on"); code != http.StatusNoContent {
		t.Fatalf("switching c.example on: %d %s", code, body)
	}
	if code, _ := p.hit(e2eClient, "GET", "c.example", ipOrange, uaBrowser, "/"); code != http.StatusForbidden {
		t.Errorf("c.example under attack by hand: %d, want 403 (challenge)", code)
	}
	if _, attacked := sites(); len(attacked) != 1 || attacked[0] != "c.example" {
		t.Errorf("under attack: %v, want [c.example]", attacked)
	}
	call("POST", "/floodgate/under-attack?site=c.example&mode=off")
	if code, _ := p.hit(e2eClient, "GET", "c.example", ipOrange, uaBrowser, "/"); code != 200 {
		t.Errorf("c.example switched off by hand: %d, want 200", code)
	}
	if code, _ := call("POST", "/floodgate/under-attack?site=c.example&mode=sometimes"); code != http.StatusBadRequest {
		t.Errorf("a bad mode: %d, want 400", code)
	}

	// A site nobody configured and no request named is refused, for every mode, and never
	// listed; a configured site's host spelled differently is that site; a host seen in
	// requests (not configured) is known.
	for _, bad := range []string{"shop", "shop.example", "c.example.evil"} {
		for _, mode := range []string{"on", "off", "auto"} {
			if code, body := call("POST", "/floodgate/under-attack?site="+bad+"&mode="+mode); code != http.StatusNotFound || !strings.Contains(body, "is not known") {
				t.Errorf("site=%s mode=%s: %d %s, want 404 naming the site as not known", bad, mode, code, body)
			}
		}
	}
	// Names that are no host at all are refused as malformed (400), never looked up.
	for _, junk := range []string{"%2e", "*", "a..b"} {
		for _, mode := range []string{"on", "off", "auto"} {
			if code, body := call("POST", "/floodgate/under-attack?site="+junk+"&mode="+mode); code != http.StatusBadRequest {
				t.Errorf("site=%s mode=%s: %d %s, want 400 (not a host name)", junk, mode, code, body)
			}
		}
	}
	if _, attacked := sites(); len(attacked) != 0 {
		t.Errorf("under attack after refused names: %v, want none", attacked)
	}
	if code, body := call("POST", "/floodgate/under-attack?site=C.Example:8080&mode=on"); code != http.StatusNoContent {
		t.Errorf("site=C.Example:8080: %d %s, want 204 (c.example)", code, body)
	}
	if _, attacked := sites(); len(attacked) != 1 || attacked[0] != "c.example" {
		t.Errorf("under attack after C.Example:8080 on: %v, want [c.example]", attacked)
	}
	call("POST", "/floodgate/under-attack?site=c.example&mode=off")
	p.hit(e2eClient, "GET", "seen.example", ipOrange, uaBrowser, "/")
	if code, body := call("POST", "/floodgate/under-attack?site=seen.example&mode=auto"); code != http.StatusNoContent {
		t.Errorf("site=seen.example (seen in a request): %d %s, want 204", code, body)
	}

	// 31 POSTs pass a.example's budget of 30/min: quarantined; lifted by hand.
	end := clearOfMinuteEnd(t)
	for i := 0; i < 31; i++ {
		p.hit(e2eClient, "POST", "a.example", ipOrange, uaBrowser, "/form")
	}
	end()
	if q, _ := sites(); len(q) != 1 || q[0] != "a.example" {
		t.Fatalf("quarantined: %v, want [a.example]", q)
	}
	if code, _ := call("DELETE", "/floodgate/quarantine?site=a%20example"); code != http.StatusBadRequest {
		t.Errorf("lifting the quarantine of a junk host: %d, want 400", code)
	}
	if code, body := call("DELETE", "/floodgate/quarantine?site=A.Example.:80"); code != http.StatusNoContent {
		t.Fatalf("lifting the quarantine: %d %s", code, body)
	}
	if q, _ := sites(); len(q) != 0 {
		t.Errorf("still quarantined after lifting: %v", q)
	}
	if code, _ := call("DELETE", "/floodgate/quarantine?site=a.example"); code != http.StatusNotFound {
		t.Errorf("lifting a quarantine that is not there: %d, want 404", code)
	}

	// The metrics a tech watches, on the admin endpoint's /metrics.
	code, metrics := call("GET", "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		`floodgate_challenges_issued_total{level="cookie"} 1`,
		`floodgate_quarantines_total{site="a.example"} 1`,
		`floodgate_quarantine_refusals_total 1`, // the POST that tripped it
		`floodgate_delayed_requests 0`,
		`floodgate_under_attack_switches_total{to="on"} 2`,
		`floodgate_under_attack_switches_total{to="off"} 2`,
		`floodgate_requests_total{action="challenge",class="browser",rule="under-attack"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// adminCaller returns a function that calls Caddy's admin endpoint at admin, as a tech would
// with curl, and returns the status and body.
func adminCaller(t *testing.T, admin string) func(method, path string) (int, string) {
	return func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+admin+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}
