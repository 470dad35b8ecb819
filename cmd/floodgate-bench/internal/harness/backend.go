package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Headers the load generator sets so that the backend can account its capacity per traffic
// class and phase. Neither proxy reads them; they only label the request for the report.
const (
	// HeaderClass names the population a request comes from (see Class).
	HeaderClass = "X-Bench-Class"
	// HeaderPhase names the phase the request was sent in (see Phase).
	HeaderPhase = "X-Bench-Phase"
	// HeaderBackendTime is set by the backend on the answers it serves: the milliseconds
	// the request spent in it (waiting for a worker and working), so that the clients can
	// tell the backend's part of a latency from the proxy's (and their own).
	HeaderBackendTime = "X-Bench-Backend-Ms"
)

// PoolConfig sets the capacity of the shared backend: like a PHP-FPM pool behind a web
// server, a fixed number of workers, a bounded queue in front of them, and a longest wait.
type PoolConfig struct {
	// Workers is how many requests run at once.
	Workers int `json:"workers"`
	// Queue is how many requests may wait for a worker; one more is refused at once (503).
	Queue int `json:"queue"`
	// QueueTimeout is the longest a request waits for a worker before it fails (504).
	QueueTimeout time.Duration `json:"queue_timeout_ns"`
	// DynamicCost is how long a dynamic request (a page, a POST) holds its worker.
	DynamicCost time.Duration `json:"dynamic_cost_ns"`
	// StaticCost is how long a static file (.css, .js, images, fonts) holds its worker.
	StaticCost time.Duration `json:"static_cost_ns"`
}

// Validate says what is wrong with c, if anything.
func (c PoolConfig) Validate() error {
	var errs []error
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("backend workers: %d, expected at least 1", c.Workers))
	}
	if c.Queue < 0 {
		errs = append(errs, fmt.Errorf("backend queue: %d, expected 0 or more", c.Queue))
	}
	if c.QueueTimeout <= 0 {
		errs = append(errs, fmt.Errorf("backend queue timeout: %v, expected a positive duration", c.QueueTimeout))
	}
	if c.DynamicCost <= 0 || c.StaticCost < 0 {
		errs = append(errs, fmt.Errorf("backend costs: dynamic %v, static %v, expected dynamic > 0 and static >= 0", c.DynamicCost, c.StaticCost))
	}
	return errors.Join(errs...)
}

// Capacity is how many dynamic requests per second the pool can serve.
func (c PoolConfig) Capacity() float64 {
	if c.DynamicCost <= 0 {
		return 0
	}
	return float64(c.Workers) / c.DynamicCost.Seconds()
}

// staticExts are the file extensions served as static files.
var staticExts = map[string]bool{
	".css": true, ".js": true, ".png": true, ".jpg": true, ".jpeg": true, ".gif": true,
	".svg": true, ".ico": true, ".woff": true, ".woff2": true, ".webp": true,
}

// IsStatic says whether the backend serves p as a static file (by its extension).
func IsStatic(p string) bool {
	return staticExts[strings.ToLower(path.Ext(p))]
}

// BackendStats counts what the backend did for one class in one phase.
type BackendStats struct {
	// Arrived is how many requests reached the backend.
	Arrived int64 `json:"arrived"`
	// Served is how many got a worker and a 200.
	Served int64 `json:"served"`
	// QueueFull is how many were refused at once because the queue was full (503).
	QueueFull int64 `json:"queue_full_503"`
	// TimedOut is how many waited QueueTimeout for a worker in vain (504).
	TimedOut int64 `json:"timed_out_504"`
	// Gone is how many were abandoned by the proxy (client gone) while waiting.
	Gone int64 `json:"gone"`
	// WorkerSeconds is the worker time spent on the served requests.
	WorkerSeconds float64 `json:"worker_seconds"`
}

// Backend is the shared web server of many sites: every Host is a site, every request waits
// for one of a fixed pool of workers. It implements http.Handler.
type Backend struct {
	cfg     PoolConfig
	slots   chan struct{}
	pending atomic.Int64

	// hold keeps a worker busy for d; tests replace it to control time.
	hold func(d time.Duration)

	mu    sync.Mutex
	stats map[string]map[string]*BackendStats // class -> phase
}

// NewBackend returns a backend with the pool cfg.
func NewBackend(cfg PoolConfig) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Backend{
		cfg:   cfg,
		slots: make(chan struct{}, cfg.Workers),
		hold:  time.Sleep,
		stats: map[string]map[string]*BackendStats{},
	}, nil
}

// pageBody is the HTML of every dynamic page: about 4 KB, naming its assets.
var pageBody = func() []byte {
	var b strings.Builder
	b.WriteString("<!doctype html><html><head><title>member site</title>")
	for _, a := range PageAssets {
		if strings.HasSuffix(a, ".css") {
			fmt.Fprintf(&b, `<link rel="stylesheet" href="%s">`, a)
		} else if strings.HasSuffix(a, ".js") {
			fmt.Fprintf(&b, `<script src="%s"></script>`, a)
		}
	}
	b.WriteString("</head><body>")
	for _, a := range PageAssets {
		if IsStatic(a) && !strings.HasSuffix(a, ".css") && !strings.HasSuffix(a, ".js") {
			fmt.Fprintf(&b, `<img src="%s" alt="">`, a)
		}
	}
	for b.Len() < 4000 {
		b.WriteString("<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>")
	}
	b.WriteString("</body></html>")
	return []byte(b.String())
}()

// staticBody is the body of every static file (1 KB).
var staticBody = []byte(strings.Repeat("x", 1024))

// ServeHTTP queues the request for a worker, holds the worker for the request's cost and
// answers 200; or 503 when the queue is full, 504 when no worker came within QueueTimeout.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t0 := time.Now()
	class, phase := label(r.Header.Get(HeaderClass)), label(r.Header.Get(HeaderPhase))
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 64<<10))
	}
	static := IsStatic(r.URL.Path)
	cost := b.cfg.DynamicCost
	if static {
		cost = b.cfg.StaticCost
	}
	b.count(class, phase, func(s *BackendStats) { s.Arrived++ })

	n := b.pending.Add(1)
	defer b.pending.Add(-1)
	if n > int64(b.cfg.Workers+b.cfg.Queue) {
		b.count(class, phase, func(s *BackendStats) { s.QueueFull++ })
		http.Error(w, "503 backend queue full", http.StatusServiceUnavailable)
		return
	}
	if err := b.acquire(r.Context()); err != nil {
		if errors.Is(err, errQueueTimeout) {
			b.count(class, phase, func(s *BackendStats) { s.TimedOut++ })
			http.Error(w, "504 no worker in time", http.StatusGatewayTimeout)
		} else {
			b.count(class, phase, func(s *BackendStats) { s.Gone++ })
		}
		return
	}
	// Like PHP, the worker finishes its script even if the client has gone.
	b.hold(cost)
	<-b.slots
	b.count(class, phase, func(s *BackendStats) { s.Served++; s.WorkerSeconds += cost.Seconds() })
	w.Header().Set(HeaderBackendTime, strconv.FormatFloat(float64(time.Since(t0).Microseconds())/1000, 'f', 2, 64))

	if static {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = w.Write(staticBody)
		return
	}
	if _, err := r.Cookie("sess"); err != nil {
		http.SetCookie(w, &http.Cookie{Name: "sess", Value: "s" + fmt.Sprint(time.Now().UnixNano()), Path: "/", HttpOnly: true})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(pageBody)
}

var errQueueTimeout = errors.New("queue timeout")

// acquire waits for a worker, at most QueueTimeout.
func (b *Backend) acquire(ctx context.Context) error {
	select {
	case b.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(b.cfg.QueueTimeout)
	defer t.Stop()
	select {
	case b.slots <- struct{}{}:
		return nil
	case <-t.C:
		return errQueueTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Backend) count(class, phase string, f func(*BackendStats)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.stats[class]
	if m == nil {
		m = map[string]*BackendStats{}
		b.stats[class] = m
	}
	s := m[phase]
	if s == nil {
		s = &BackendStats{}
		m[phase] = s
	}
	f(s)
}

// Stats returns a copy of the counts so far: class -> phase -> stats.
func (b *Backend) Stats() map[string]map[string]BackendStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]map[string]BackendStats, len(b.stats))
	for c, m := range b.stats {
		out[c] = make(map[string]BackendStats, len(m))
		for p, s := range m {
			out[c][p] = *s
		}
	}
	return out
}

// label bounds a class or phase label taken from a header: short and printable, "none"
// when missing.
func label(s string) string {
	if s == "" {
		return "none"
	}
	if len(s) > 32 {
		s = s[:32]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}
