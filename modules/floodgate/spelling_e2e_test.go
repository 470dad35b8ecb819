package floodgate_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// loggingUpstream records the request target of everything that reaches it.
type loggingUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newLoggingUpstream(t *testing.T) *loggingUpstream {
	u := &loggingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Method+" "+r.RequestURI)
		u.mu.Unlock()
		io.WriteString(w, "ran "+r.URL.Path+"\n")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *loggingUpstream) take() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.seen
	u.seen = nil
	return s
}

// raw sends one request with the request line written by hand (net/http would clean the
// path, as curl --path-as-is does not) and returns the status.
func raw(t *testing.T, p *proxy, method, target, host, ip string) int {
	t.Helper()
	return rawRequest(t, p, fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nX-Forwarded-For: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		method, target, host, uaBrowser, ip))
}

// rawRequest writes request, a whole HTTP/1.1 request as it goes on the wire, to p on a
// connection of its own and returns the answer's status.
func rawRequest(t *testing.T, p *proxy, request string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(request)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		line, _, _ := strings.Cut(request, "\r\n")
		t.Fatalf("%s: %v", line, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSpellingsDoNotReachUpstream (issue 10): every spelling of a script in an upload folder
// that Apache or nginx would run is refused before the backend; a logging upstream must not
// see one of them. And the login and XML-RPC budgets count every spelling of their script.
func TestSpellingsDoNotReachUpstream(t *testing.T) {
	up := newLoggingUpstream(t)
	p := startProxy(t, "rules shipped", up.Listener.Addr().String(), "")
	for _, target := range []string{
		"/wp-content/uploads/x.php",
		"//wp-content/uploads/x.php",
		"/wp-content//uploads/x.php",
		"/./wp-content/uploads/x.php",
		"/%2e/wp-content/uploads/x.php",
		"/%2E/wp-content/uploads/x.php",
		"/wp-content/x/../uploads/x.php",
		"/wp-content/x/%2e%2e/uploads/x.php",
		"/wp-content%2fuploads%2fx.php",
		"/wp-content/uploads/x.php/y",
		"/wp-content/uploads/x.php/",
		"/wp-content/uploads/x.PHP",
		"/wp-content/uploads/x.p%68p",
		"/wp-content/uploads/x.php8",
		"/wp-content/uploads/x.pht",
		"/wp-content/uploads/x.phtml",
		"/wp-content/uploads/x.phar",
		"/wp-content/uploads/x.php.jpg",
		"/wp-content/uploads/x.php.",
		"/wp-content/uploads/x.php%20",
		"/wp-content/uploads/x.php%00.jpg",
		"/wp-content/uploads/x.php;.jpg",
		"/wp-content/uploads/x.php?x=1",
		`/wp-content\uploads\x.php`,
		"/blog/wp-content/uploads/x.php",
		"/blog/wp-content/uploads/2024/05/x.php",
		"/spip/IMG/x.php",
		"/IMG/x.php5",
		"/IMG/x.PhP3",
		"/tmp/x.phtml",
		"/spip/tmp/x.php",
		"/local/cache-vignettes/L100/x.php",
		"/wp-content/cache/x.php",
	} {
		code := raw(t, p, "GET", target, "shop.test", ipOrange)
		if seen := up.take(); len(seen) > 0 {
			t.Errorf("GET %s reached the upstream (%d) as %v", target, code, seen)
		} else if code != http.StatusForbidden && code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 403", target, code)
		}
	}
	// Ordinary files of the same folders still flow.
	for _, target := range []string{"/wp-content/uploads/2024/05/photo.jpg", "/IMG/arton12.jpg", "/wp-content/themes/x/functions.php"} {
		if code := raw(t, p, "GET", target, "shop.test", ipOrange); code != 200 {
			t.Errorf("GET %s: %d, want 200", target, code)
		}
		up.take()
	}
}

// TestLoginBudgetsCountEverySpelling: the shipped xmlrpc budget (5/min per address and site)
// counts //xmlrpc.php, /./xmlrpc.php, /xmlrpc.php/x… as /xmlrpc.php; wp-login's (10/min) too.
func TestLoginBudgetsCountEverySpelling(t *testing.T) {
	up := newLoggingUpstream(t)
	p := startProxy(t, "rules shipped", up.Listener.Addr().String(), "")
	for _, c := range []struct {
		spellings []string
		budget    int
	}{
		{[]string{"//xmlrpc.php", "/./xmlrpc.php", "/xmlrpc.php/x", "/%78mlrpc.php", "/a/../xmlrpc.php"}, 5},
		{[]string{"//wp-login.php", "/./wp-login.php", "/wp-login.php/x", "/%2e/wp-login.php", "/WP/../wp-login.php"}, 10},
	} {
		inOneMinute(t, func(attempt int) error {
			ip := fmt.Sprintf("90.0.9.%d", attempt) // the budgets are per address and site
			for i := 0; i < c.budget; i++ {
				target := c.spellings[i%len(c.spellings)]
				if code := raw(t, p, "POST", target, "shop.test", ip); code != 200 {
					t.Fatalf("POST %s, %d of a budget of %d: %d", target, i+1, c.budget, code)
				}
			}
			var errs []error
			for _, target := range c.spellings {
				if code := raw(t, p, "POST", target, "shop.test", ip); code != http.StatusTooManyRequests {
					errs = append(errs, fmt.Errorf("POST %s past the budget of %d: %d, want 429", target, c.budget, code))
				}
			}
			return errors.Join(errs...)
		})
	}
}

// TestHostSpellingsAreTheSite: a configured site's host spelled differently (Victim.Test..,
// [victim.test], :8080) is that site: its POST burst counts them all, its quarantine applies
// to all (issue 10: victim.test.. and [victim.test] escaped the site key).
func TestHostSpellingsAreTheSite(t *testing.T) {
	up := newLoggingUpstream(t)
	rules := writeRules(t, t.TempDir(), "sites.yaml", `
rules:
  - name: post-burst
    match:
      method: [POST]
    budgets:
      - rate: 5/min
        per: host
        action: quarantine
        cooldown: 1m
sites:
  - hosts: [victim.test]
`)
	p := startProxy(t, "rules "+rules, up.Listener.Addr().String(), "")
	spellings := []string{"victim.test", "Victim.Test", "victim.test.", "victim.test..", "[victim.test]", "VICTIM.TEST:8080"}
	end := clearOfMinuteEnd(t)
	for i := 0; i < 6; i++ {
		raw(t, p, "POST", "/form", spellings[i%len(spellings)], fmt.Sprintf("90.0.%d.1", i))
	}
	end()
	for _, h := range spellings {
		if code := raw(t, p, "POST", "/form", h, "90.0.200.1"); code != http.StatusTooManyRequests {
			t.Errorf("POST to Host %q after the site's POST burst: %d, want 429 (quarantined)", h, code)
		}
	}
	if code := raw(t, p, "POST", "/form", "other.test", "90.0.200.1"); code != 200 {
		t.Errorf("POST to another site: %d, want 200", code)
	}
}

// TestJunkHostsShareOneBucket: Hosts that are not names (16 KB of letters, bytes no name
// holds) are one site, normalize.JunkHost: a client inventing a new one per request meets one
// per-host budget instead of making a key each (issue 10: 50k random 16 KB Hosts grew memory
// linearly).
func TestJunkHostsShareOneBucket(t *testing.T) {
	up := newLoggingUpstream(t)
	rules := writeRules(t, t.TempDir(), "junk.yaml", `
rules:
  - name: per-host
    match:
      method: [GET]
    budgets:
      - rate: 5/min
        per: host
        action: throttle
`)
	p := startProxy(t, "rules "+rules, up.Listener.Addr().String(), "")
	junk := func(i int) string {
		if i%2 == 0 {
			return strings.Repeat("a", 300+i) + ".test" // longer than any DNS name
		}
		return fmt.Sprintf("x!%d~y", i) // characters Go lets through, no name holds
	}
	defer clearOfMinuteEnd(t)()
	for i := 0; i < 5; i++ {
		if code := raw(t, p, "GET", "/", junk(i), ipOrange); code != 200 {
			t.Fatalf("junk host %d within the shared budget: %d", i, code)
		}
	}
	for i := 5; i < 8; i++ {
		if code := raw(t, p, "GET", "/", junk(i), ipOrange); code != http.StatusTooManyRequests {
			t.Errorf("junk host %d past the one junk bucket's budget: %d, want 429", i, code)
		}
	}
	if code := raw(t, p, "GET", "/", "member.test", ipOrange); code != 200 {
		t.Errorf("a real site beside the junk: %d, want 200", code)
	}
}
