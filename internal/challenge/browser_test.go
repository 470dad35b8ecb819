package challenge

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/browsertest"
	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// clientPrefix is the network prefix the test site binds passes to: the
// client's /24 (IPv4) or /64 (IPv6).
func clientPrefix(r *http.Request) netip.Prefix {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
}

// protectedSite is a tiny site behind a Challenger: /cookie/…, /script/… and
// /work/… demand a pass of that level; it records what happened.
type protectedSite struct {
	c *Challenger

	mu       sync.Mutex
	served   map[pass.Level]time.Time // first challenge page served
	passed   map[pass.Level]time.Duration
	outcomes []Outcome
	content  int             // protected pages served
	langs    map[string]bool // languages of the challenge pages served
}

// startSite serves a protectedSite on a loopback port.
func startSite(t testing.TB, cfg Config) (*protectedSite, *httptest.Server) {
	t.Helper()
	site := &protectedSite{c: newTestChallenger(t, cfg), served: map[pass.Level]time.Time{},
		passed: map[pass.Level]time.Duration{}, langs: map[string]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(site)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return site, srv
}

func (s *protectedSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	prefix := clientPrefix(r)
	if s.c.IsVerify(r) {
		out := s.c.HandleVerify(w, r, prefix)
		s.mu.Lock()
		s.outcomes = append(s.outcomes, out)
		if out.Passed {
			s.passed[out.Level] = time.Since(s.served[out.Level])
		}
		s.mu.Unlock()
		return
	}
	level, err := pass.ParseLevel(strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")[0])
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if p, err := s.c.Check(r, prefix, level); err == nil {
		s.mu.Lock()
		s.content++
		s.mu.Unlock()
		fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>PROTECTED CONTENT %s (pass level %s) at %s</title></head><body><h1>Protected</h1></body></html>", level, p.Level, html.EscapeString(r.URL.RequestURI()))
		return
	}
	s.mu.Lock()
	if _, ok := s.served[level]; !ok {
		s.served[level] = time.Now()
	}
	s.langs[chooseLang(r.Header.Get("Accept-Language"))] = true
	s.mu.Unlock()
	s.c.Serve(w, r, level, prefix)
}

// TestBrowserPassesEveryLevel has a real browser pass each level and reach
// the protected content; a plain HTTP client never does.
func TestBrowserPassesEveryLevel(t *testing.T) {
	chromium := browsertest.Find(t)
	site, srv := startSite(t, Config{})
	for _, level := range []pass.Level{pass.LevelCookie, pass.LevelScript, pass.LevelWork} {
		t.Run(level.String(), func(t *testing.T) {
			path := "/" + level.String() + "/article?id=7"
			want := fmt.Sprintf("PROTECTED CONTENT %s (pass level %s) at %s", level, level, path)
			_, final := browsertest.Browse(t, chromium, srv.URL+path, want, "fr-FR,fr;q=0.9,en;q=0.5")
			if final != srv.URL+path {
				t.Errorf("final URL %s, want %s", final, srv.URL+path)
			}
			site.mu.Lock()
			defer site.mu.Unlock()
			if _, ok := site.served[level]; !ok {
				t.Errorf("the browser was never challenged at %s", level)
			}
			if level == pass.LevelCookie {
				return
			}
			d, ok := site.passed[level]
			if !ok {
				t.Fatalf("no accepted answer recorded for %s; outcomes %+v", level, site.outcomes)
			}
			bits := site.c.cfg.Difficulty
			if level == pass.LevelScript {
				bits = ScriptDifficulty
			}
			t.Logf("%s level, %d bits: %v from challenge page served to answer accepted (load, solve, post)", level, bits, d.Round(time.Millisecond))
		})
	}
	site.mu.Lock()
	for _, out := range site.outcomes {
		if !out.Passed {
			t.Errorf("the browser's answer was refused: %+v", out)
		}
	}
	if !site.langs["fr"] || len(site.langs) != 1 {
		t.Errorf("page languages %v, want only fr (the browser asks for French)", site.langs)
	}
	content := site.content
	site.mu.Unlock()

	// A plain client without the cookie gets the challenge, never the content.
	for _, level := range []string{"cookie", "script", "work"} {
		resp, err := http.Get(srv.URL + "/" + level + "/article")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("plain client at %s: status %d, want 403", level, resp.StatusCode)
		}
	}
	site.mu.Lock()
	defer site.mu.Unlock()
	if site.content != content {
		t.Errorf("a plain client reached the protected content")
	}
}

// BenchmarkBrowserWork has headless Chromium solve the work level at 16
// (the default), 18 and 20 bits, b.N times each, and reports the mean time
// from challenge page served to answer accepted (page load, Web Worker
// start, solve, post) as ms/solve. Each run starts a browser: use
// -benchtime 10x.
func BenchmarkBrowserWork(b *testing.B) {
	chromium := browsertest.Find(b)
	for _, bits := range []int{DefaultDifficulty, 18, 20} {
		b.Run(fmt.Sprintf("bits=%d", bits), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				site, srv := startSite(b, Config{Difficulty: bits})
				browsertest.Browse(b, chromium, srv.URL+fmt.Sprintf("/work/bench%d", i), "PROTECTED CONTENT work", "fr-FR,fr;q=0.9,en;q=0.5")
				site.mu.Lock()
				d, ok := site.passed[pass.LevelWork]
				site.mu.Unlock()
				if !ok {
					b.Fatal("no accepted answer")
				}
				total += d
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/solve")
		})
	}
}
