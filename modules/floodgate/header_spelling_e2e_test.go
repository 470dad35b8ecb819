package floodgate_test

import (
	"fmt"
	"net/http"
	"testing"
)

// rawUA sends one GET with its User-Agent header line written by hand, the header's name
// spelled as given, and returns the status.
func rawUA(t *testing.T, p *proxy, host, ip, name, ua, path string) int {
	t.Helper()
	return rawRequest(t, p, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n%s: %s\r\nX-Forwarded-For: %s\r\nConnection: close\r\n\r\n",
		path, host, name, ua, ip))
}

// TestUserAgentHeaderSpellings: the handler reads the User-Agent by its canonical key
// (classify.HeaderValue, not Header.Get); a crawler writing the header's name in another
// case is still known by it, and throttled past its budget like the canonical spelling.
func TestUserAgentHeaderSpellings(t *testing.T) {
	for _, name := range []string{"User-Agent", "user-agent", "USER-AGENT", "User-agent", "uSeR-aGeNt"} {
		t.Run(name, func(t *testing.T) {
			// A proxy each: the crawler's network has budgets of its own across hosts.
			up := newUpstream(t)
			p := startProxy(t, "rules "+e2eRules, up.Listener.Addr().String(), "")
			inOneMinute(t, func(attempt int) error {
				host := fmt.Sprintf("spelled-%s-%d.test", name, attempt) // GPTBot's budget is per bot+host
				for i := 0; i < 5; i++ {
					if s := rawUA(t, p, host, ipAmazon, name, uaGPTBot, fmt.Sprintf("/page%d", i)); s != 200 {
						return fmt.Errorf("GPTBot request %d within budget: status %d, want 200", i+1, s)
					}
				}
				if s := rawUA(t, p, host, ipAmazon, name, uaGPTBot, "/page6"); s != http.StatusTooManyRequests {
					return fmt.Errorf("GPTBot past its budget, header spelled %q: status %d, want 429", name, s)
				}
				return nil
			})
		})
	}
}
