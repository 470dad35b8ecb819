package floodgate_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWaitingRequestMeetsTheSwitch: requests of the tiers refused first (a crawler within
// its budget, declared automation) that wait for the backend while their site switches to
// under-attack mode get what a request arriving after the switch gets — a challenge — and
// never reach the backend on their stale decision; browsers waiting beside them (a new
// one, a returning visitor) keep the turn they waited for and are served. The backend holds its one slot (backend_max_inflight 1) until the
// test lets it go, so nothing here depends on timing.
func TestWaitingRequestMeetsTheSwitch(t *testing.T) {
	release := make(chan struct{})
	var served sync.Map // path -> true
	var inBackend atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inBackend.Add(1)
		if r.URL.Path == "/first" {
			<-release
		}
		served.Store(r.URL.Path, true)
		fmt.Fprint(w, "page")
	}))
	t.Cleanup(up.Close)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	admin := l.Addr().String()
	l.Close()
	p := startProxyWith(t, &proxy{admin: admin},
		"rules "+protectRules+"\n\t\tprotect {\n\t\t\tbackend_max_inflight 1\n\t\t\tmax_wait 30s\n\t\t}",
		up.Listener.Addr().String(), "")
	call := adminCaller(t, admin)
	waiting := func() int {
		_, body := call("GET", "/floodgate/admission")
		var s struct{ Waiting int }
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatalf("GET /floodgate/admission: %v: %s", err, body)
		}
		return s.Waiting
	}

	// A returning visitor: its first page, before anything, leaves a visitor cookie in its jar.
	person := &http.Client{Jar: newJar(), Timeout: 30 * time.Second}
	if code, _ := p.hit(person, "GET", "w.example", "90.9.9.9", uaBrowser, "/hello"); code != 200 {
		t.Fatalf("the person's first page: %d", code)
	}

	first := make(chan int, 1)
	go func() {
		code, _ := p.hit(e2eClient, "GET", "w.example", "90.1.1.1", uaBrowser, "/first")
		first <- code
	}()
	for deadline := time.Now().Add(10 * time.Second); inBackend.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first request never reached the backend")
		}
	}
	type result struct {
		who  string
		code int
	}
	results := make(chan result, 4)
	waiters := []struct {
		who, ip, ua, path string
		client            *http.Client
	}{
		{"new browser", "90.2.2.2", uaBrowser, "/new", e2eClient},
		{"declared automation", "90.4.4.4", "curl/8.5.0", "/automation", e2eClient},
		{"crawler within its budget", "3.0.0.9", "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)", "/crawler", e2eClient},
		{"returning visitor", "90.9.9.9", uaBrowser, "/returning", person},
	}
	for _, wt := range waiters {
		go func() {
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", p.port, wt.path), nil)
			req.Host = "w.example"
			req.Header.Set("User-Agent", wt.ua)
			req.Header.Set("X-Forwarded-For", wt.ip)
			if wt.ua == uaBrowser {
				// What every browser sends: without it, a browser's User-Agent is a tier lower
				// (classify.HeaderFlagsOf), among the tiers refused first.
				req.Header.Set("Accept-Language", "fr-FR,fr;q=0.9")
				req.Header.Set("Sec-Fetch-Mode", "navigate")
				req.Header.Set("Sec-Fetch-Site", "none")
			}
			code := 0
			if resp, err := wt.client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			results <- result{wt.who, code}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); waiting() < len(waiters); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting for the backend after 10 s, want %d", waiting(), len(waiters))
		}
	}
	if code, body := call("POST", "/floodgate/under-attack?site=w.example&mode=on"); code != http.StatusNoContent {
		t.Fatalf("switching w.example on: %d %s", code, body)
	}
	close(release)
	if code := <-first; code != 200 {
		t.Errorf("the request admitted before the switch: %d, want 200", code)
	}
	want := map[string]int{"new browser": 200, "declared automation": http.StatusForbidden, "crawler within its budget": http.StatusForbidden, "returning visitor": 200}
	for range waiters {
		r := <-results
		if r.code != want[r.who] {
			t.Errorf("%s, waiting when the site switched: %d, want %d", r.who, r.code, want[r.who])
		}
	}
	for _, path := range []string{"/automation", "/crawler"} {
		if _, ok := served.Load(path); ok {
			t.Errorf("%s reached the backend on its decision from before the switch", path)
		}
	}
	_, metrics := call("GET", "/metrics")
	if !strings.Contains(metrics, `floodgate_rechecked_total{action="challenge"} 2`) {
		t.Errorf("/metrics lacks floodgate_rechecked_total{action=\"challenge\"} 2:\n%s", grepLines(metrics, "rechecked"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
