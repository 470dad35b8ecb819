package floodgate_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestStrangerCannotQuarantineAMember (issue 10): with the shipped rules, 125 POSTs from
// rotating addresses to a shop's ordinary pages do not shut a customer's POST out. A burst on
// the scripts abuse aims at (wp-login.php) does quarantine the site: a stranger's POST then
// gets 429 with a Retry-After of the cooldown (not the budget's window), and a customer
// holding a pass keeps posting.
func TestStrangerCannotQuarantineAMember(t *testing.T) {
	up := newLoggingUpstream(t)
	local := writeRules(t, t.TempDir(), "local.yaml", `
rules:
  - name: account-challenge
    match:
      path: ["/account"]
    action: challenge
`)
	p := startProxy(t, "rules shipped "+local, up.Listener.Addr().String(), "")
	post := func(client *http.Client, ip, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path), nil)
		req.Host = "shop.test"
		req.Header.Set("User-Agent", uaBrowser)
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// A customer earns a pass first (a cookie challenge on their account page).
	customer := &http.Client{Jar: newJar(), Timeout: 10 * time.Second}
	const customerIP = "90.0.77.7"
	p.hit(customer, "GET", "shop.test", customerIP, uaBrowser, "/account")
	if code, _ := p.hit(customer, "GET", "shop.test", customerIP, uaBrowser, "/account"); code != 200 {
		t.Fatalf("the customer did not earn a pass: %d", code)
	}

	ordinary := []string{"/", "/contact/", "/?wc-ajax=add_to_cart", "/wp-comments-post.php", "/wp-admin/admin-ajax.php"}
	for i := 0; i < 125; i++ {
		post(e2eClient, fmt.Sprintf("90.%d.%d.9", 1+i/250, i%250), ordinary[i%len(ordinary)])
	}
	if code := post(e2eClient, "90.0.88.8", "/checkout/").StatusCode; code != 200 {
		t.Fatalf("a new customer's POST after 125 strangers' POSTs to ordinary pages: %d, want 200", code)
	}

	// A brute force on wp-login.php from rotating addresses quarantines the site.
	for i := 0; i < 125; i++ {
		post(e2eClient, fmt.Sprintf("90.%d.%d.1", 10+i/250, i%250), "/wp-login.php")
	}
	resp := post(e2eClient, "90.0.99.9", "/checkout/")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a stranger's POST on the quarantined site: %d, want 429", resp.StatusCode)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 590 || ra > 600 {
		t.Errorf("Retry-After %q, want the 10-minute cooldown (590-600 s)", resp.Header.Get("Retry-After"))
	}
	// A cookie pass costs a scraper one round trip, so it is no way through a quarantine
	// (else a brute force would fetch one per address first); script and work passes and
	// returning visitors are spared (TestPrecedence's quarantine rows).
	if code := post(customer, customerIP, "/checkout/").StatusCode; code != http.StatusTooManyRequests {
		t.Errorf("a cookie-pass holder's POST during the quarantine: %d, want 429", code)
	}
	if code, _ := p.hit(e2eClient, "GET", "shop.test", "90.0.99.9", uaBrowser, "/"); code != 200 {
		t.Errorf("a GET during the quarantine: %d, want 200 (pages flow)", code)
	}
}
