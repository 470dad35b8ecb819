package floodgate_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRefusalOnTheWire (issue 9: a refusal must stay as cheap as Caddy's own respond 429):
// where the server has no handle_errors route, floodgate writes a GPTBot's refusal past its
// budget itself, and a client sees what Caddy's `header Retry-After` + `respond 429` sends:
// the status, Retry-After, Content-Length 0 and no body, not chunked, no other header (no
// cookie, no log of floodgate's own), and the connection kept alive for the next request.
// Both of a crawler's spellings of its User-Agent are refused alike.
func TestRefusalOnTheWire(t *testing.T) {
	up := newUpstream(t)
	p := startProxyWith(t, &proxy{noErrorRoutes: true}, "rules "+e2eRules+"\n\t\tstore memory", up.Listener.Addr().String(), "")
	for _, ua := range []string{uaGPTBot, strings.ToUpper(uaGPTBot)} {
		inOneMinute(t, func(attempt int) error {
			host := fmt.Sprintf("wire%d-%d.test", attempt, len(ua)%7+strings.Count(ua, "G")) // a budget of its own
			for i := range 5 {                                                               // GPTBot's budget: 5 per bot+host
				if s := p.getHost(host, ipAmazon, ua, fmt.Sprintf("/page%d", i)).StatusCode; s != 200 {
					return fmt.Errorf("GPTBot request %d within budget: status %d", i+1, s)
				}
			}
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			for n := range 2 { // two refusals on one connection: kept alive
				req := fmt.Sprintf("GET /page%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nX-Forwarded-For: %s\r\n\r\n", 6+n, host, ua, ipAmazon)
				if _, err := io.WriteString(conn, req); err != nil {
					return fmt.Errorf("refusal %d: the connection was not kept: %v", n+1, err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					return fmt.Errorf("refusal %d: %v", n+1, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusTooManyRequests {
					return fmt.Errorf("refusal %d: status %d, want 429", n+1, resp.StatusCode)
				}
				if resp.ContentLength != 0 || len(body) != 0 || len(resp.TransferEncoding) != 0 || resp.Close {
					return fmt.Errorf("refusal %d: Content-Length %d, body %q, Transfer-Encoding %v, close %v; want 0, empty, none, kept alive",
						n+1, resp.ContentLength, body, resp.TransferEncoding, resp.Close)
				}
				if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 || len(resp.Header.Values("Retry-After")) != 1 {
					return fmt.Errorf("refusal %d: Retry-After %q, want one value of whole seconds in 1..60", n+1, resp.Header.Values("Retry-After"))
				}
				var names []string
				for k := range resp.Header {
					names = append(names, k)
				}
				slices.Sort(names)
				if want := []string{"Content-Length", "Date", "Retry-After", "Server"}; !slices.Equal(names, want) {
					return fmt.Errorf("refusal %d: header fields %v, want %v (what Caddy's respond 429 sends)", n+1, names, want)
				}
			}
			return nil
		})
	}
}
