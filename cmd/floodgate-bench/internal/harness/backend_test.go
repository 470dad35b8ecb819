package harness

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatedBackend returns a backend whose workers hold until release is closed, and a channel
// that receives each cost as a worker starts holding.
func gatedBackend(t *testing.T, cfg PoolConfig) (*Backend, chan time.Duration, chan struct{}) {
	t.Helper()
	b, err := NewBackend(cfg)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan time.Duration, 100)
	release := make(chan struct{})
	b.hold = func(d time.Duration) {
		started <- d
		<-release
	}
	return b, started, release
}

func serve(b *Backend, method, path, class, phase string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://site01.example.org"+path, strings.NewReader(""))
	req.Header.Set(HeaderClass, class)
	req.Header.Set(HeaderPhase, phase)
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, req)
	return rec
}

func TestBackendQueueFullIs503(t *testing.T) {
	b, started, release := gatedBackend(t, PoolConfig{Workers: 1, Queue: 1, QueueTimeout: time.Hour, DynamicCost: 50 * time.Millisecond, StaticCost: time.Millisecond})
	var wg sync.WaitGroup
	codes := make([]int, 2)
	wg.Add(1)
	go func() { defer wg.Done(); codes[0] = serve(b, "GET", "/", "human", "calm").Code }()
	<-started // the only worker is busy
	wg.Add(1)
	go func() { defer wg.Done(); codes[1] = serve(b, "GET", "/a", "ai-crawler", "flood").Code }()
	// Wait until the second request is queued (pending = 2), without sleeping on a clock.
	for i := 0; b.pending.Load() < 2; i++ {
		if i > 1e7 {
			t.Fatal("second request never queued")
		}
		time.Sleep(time.Microsecond)
	}
	if got := serve(b, "GET", "/b", "stealth-scraper", "flood").Code; got != http.StatusServiceUnavailable {
		t.Fatalf("third request with 1 worker busy and 1 queued: status %d, want 503", got)
	}
	close(release)
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Fatalf("the busy and the queued request got %v, want 200 200", codes)
	}
	st := b.Stats()
	if s := st["stealth-scraper"]["flood"]; s.Arrived != 1 || s.QueueFull != 1 || s.Served != 0 || s.WorkerSeconds != 0 {
		t.Errorf("refused class stats = %+v, want arrived 1, queue full 1, nothing served", s)
	}
	if s := st["human"]["calm"]; s.Served != 1 || s.WorkerSeconds != 0.05 {
		t.Errorf("human calm stats = %+v, want 1 served for 0.05 worker-seconds", s)
	}
	if s := st["ai-crawler"]["flood"]; s.Served != 1 {
		t.Errorf("queued request stats = %+v, want served 1", s)
	}
}

func TestBackendWaitTooLongIs504(t *testing.T) {
	b, started, release := gatedBackend(t, PoolConfig{Workers: 1, Queue: 10, QueueTimeout: time.Millisecond, DynamicCost: 20 * time.Millisecond, StaticCost: time.Millisecond})
	done := make(chan int)
	go func() { done <- serve(b, "POST", "/wp-login.php", "post-burst", "flood").Code }()
	<-started
	if got := serve(b, "GET", "/", "human", "flood").Code; got != http.StatusGatewayTimeout {
		t.Fatalf("request waiting behind a held worker past the queue timeout: status %d, want 504", got)
	}
	close(release)
	if got := <-done; got != 200 {
		t.Fatalf("held request: %d, want 200", got)
	}
	if s := b.Stats()["human"]["flood"]; s.TimedOut != 1 || s.Served != 0 {
		t.Errorf("stats = %+v, want one 504", s)
	}
	if s := b.Stats()["post-burst"]["flood"]; s.Served != 1 || s.WorkerSeconds != 0.02 {
		t.Errorf("POST stats = %+v, want served 1 for 0.02 worker-seconds", s)
	}
}

func TestBackendCostsAndResponses(t *testing.T) {
	cfg := PoolConfig{Workers: 2, Queue: 0, QueueTimeout: time.Second, DynamicCost: 40 * time.Millisecond, StaticCost: 2 * time.Millisecond}
	b, err := NewBackend(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var held []time.Duration
	var mu sync.Mutex
	b.hold = func(d time.Duration) { mu.Lock(); held = append(held, d); mu.Unlock() }
	tests := []struct {
		path       string
		cost       time.Duration
		wantCookie bool
		wantType   string
	}{
		{"/", 40 * time.Millisecond, true, "text/html"},
		{"/article/12?page=2", 40 * time.Millisecond, true, "text/html"},
		{"/assets/site.css", 2 * time.Millisecond, false, "application/octet-stream"},
		{"/img/logo.PNG", 2 * time.Millisecond, false, "application/octet-stream"},
		{"/wp-login.php", 40 * time.Millisecond, true, "text/html"},
	}
	for _, tt := range tests {
		held = held[:0]
		rec := serve(b, "GET", tt.path, "", "")
		if rec.Code != 200 || len(held) != 1 || held[0] != tt.cost {
			t.Errorf("%s: status %d, held %v, want 200 and one hold of %v", tt.path, rec.Code, held, tt.cost)
		}
		if got := rec.Header().Get("Set-Cookie") != ""; got != tt.wantCookie {
			t.Errorf("%s: Set-Cookie present = %v, want %v", tt.path, got, tt.wantCookie)
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.wantType) {
			t.Errorf("%s: Content-Type %q, want %s", tt.path, rec.Header().Get("Content-Type"), tt.wantType)
		}
	}
	if s := b.Stats()["none"]["none"]; s.Served != int64(len(tests)) {
		t.Errorf("unlabelled requests counted under none/none: %+v, want %d served", s, len(tests))
	}
	// A request that already has the session cookie gets no new one.
	req := httptest.NewRequest("GET", "http://site01.example.org/", nil)
	req.AddCookie(&http.Cookie{Name: "sess", Value: "x"})
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, req)
	if rec.Header().Get("Set-Cookie") != "" {
		t.Errorf("a returning browser got a new cookie: %q", rec.Header().Get("Set-Cookie"))
	}
}

func TestPoolConfigValidate(t *testing.T) {
	good := PoolConfig{Workers: 1, Queue: 0, QueueTimeout: time.Second, DynamicCost: time.Millisecond, StaticCost: 0}
	tests := []struct {
		name string
		mod  func(*PoolConfig)
		want string
	}{
		{"good", func(*PoolConfig) {}, ""},
		{"no workers", func(c *PoolConfig) { c.Workers = 0 }, "expected at least 1"},
		{"negative queue", func(c *PoolConfig) { c.Queue = -1 }, "expected 0 or more"},
		{"no timeout", func(c *PoolConfig) { c.QueueTimeout = 0 }, "positive duration"},
		{"free pages", func(c *PoolConfig) { c.DynamicCost = 0 }, "expected dynamic > 0"},
	}
	for _, tt := range tests {
		c := good
		tt.mod(&c)
		err := c.Validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
		if _, nerr := NewBackend(c); (nerr == nil) != (tt.want == "") {
			t.Errorf("%s: NewBackend error = %v", tt.name, nerr)
		}
	}
	if got := (PoolConfig{Workers: 8, DynamicCost: 50 * time.Millisecond}).Capacity(); got != 160 {
		t.Errorf("Capacity of 8 workers at 50ms = %v, want 160", got)
	}
}

func TestLabelIsBounded(t *testing.T) {
	tests := map[string]string{"": "none", "human": "human", "a\nb": "a?b", strings.Repeat("x", 40): strings.Repeat("x", 32)}
	for in, want := range tests {
		if got := label(in); got != want {
			t.Errorf("label(%q) = %q, want %q", in, got, want)
		}
	}
}
