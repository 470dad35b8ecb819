package floodgate

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// benchHandler provisions the app with the shipped rules, the test ASN database and the
// memory store, and a handler on it, without a server around them.
func benchHandler(b testing.TB) *Handler {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	db, _ := filepath.Abs("../../testdata/mmdb/test-asn.mmdb")
	// Thousands of requests a second on a hundred sites would (rightly) put them under
	// attack within a second: the benchmark measures the decision path, not challenge pages.
	app := &App{ASNDB: db, Protect: ProtectConfig{UnderAttack: UnderAttackConfig{Rate: "off"}}}
	if err := app.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	if err := app.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = app.Cleanup() })
	app.state.logger = zap.NewNop()
	return &Handler{app: app, logger: zap.NewNop()}
}

// startTime is the request's start_time variable in BenchmarkHandlerDecision (boxed once).
var startTime any = time.Unix(0, 0)

var nextOK = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })

// BenchmarkHandlerDecision measures ServeHTTP up to the next handler: classification, ASN
// lookup, counting against every budget that applies, variables and log fields. Allowed
// cases rotate client addresses over 4,096 /24 networks (so that they stay within their
// budgets); the throttled case is one crawler past its budget.
//
// Every request gets what Caddy gives it (caddyhttp.PrepareRequest): the server, its own vars
// map holding the client address, its own log fields. Making those costs allocations that are Caddy's,
// not floodgate's: the "caddy-only" case makes them and calls the next handler directly, and
// every case reports fg-allocs/op, its allocations per request less those.
func BenchmarkHandlerDecision(b *testing.B) {
	cases := []struct {
		name, ua string
		rotate   bool
		ip       string
		noFG     bool
		logged   bool // the server keeps an access log: floodgate adds its fields to it
	}{
		{"caddy-only", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", true, "", true, false},
		{"browser-allowed", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", true, "", false, false},
		{"googlebot-verified", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", false, "66.249.66.1", false, false},
		{"gptbot-throttled", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", false, "3.0.0.5", false, false},
		{"browser-allowed-logged", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", true, "", false, true},
	}
	// Client addresses: 90.a.b.c, 16 per /24, so each address and network stays within the
	// shipped browser budgets however long the benchmark runs.
	ips := make([]any, 1<<16)
	for i := range ips {
		ips[i] = fmt.Sprintf("90.%d.%d.%d", i>>12&0xff, i>>4&0xff, i&0xf+1)
	}
	probe := httptest.NewRequest("GET", "http://site0.example.org/page", nil)
	caddyAllocs := testing.AllocsPerRun(1000, func() { _ = nextOK.ServeHTTP(nil, caddyRequest(probe, ips[1], false)) })
	// Provision first: its log lines must not land inside the benchmark result lines.
	h := benchHandler(b)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var seq atomic.Int64
			defer measureCPU(b, "fg-allocs/op", caddyAllocs)()
			b.RunParallel(func(pb *testing.PB) {
				// One request per site, reused: the benchmark measures floodgate, not net/http.
				reqs := make([]*http.Request, 100)
				for i := range reqs {
					reqs[i] = httptest.NewRequest("GET", "http://site"+strconv.Itoa(i)+".example.org/page", nil)
					reqs[i].Header.Set("User-Agent", c.ua)
				}
				w := httptest.NewRecorder()
				ip := any(c.ip)
				for pb.Next() {
					// Every answer starts with an empty header, as a server's does: the
					// recorder is reused, and a visitor cookie appended to the last
					// request's would grow one slice for the whole run and keep every
					// request's flight (the cookie's bytes) alive.
					clear(w.Header())
					n := seq.Add(1)
					if c.rotate {
						ip = ips[(n*2654435761)&(1<<16-1)]
					}
					r := caddyRequest(reqs[int(n)%len(reqs)], ip, c.logged)
					if c.noFG {
						_ = nextOK.ServeHTTP(w, r)
						continue
					}
					_ = h.ServeHTTP(w, r, nextOK)
				}
			})
		})
	}
}

// Servers of the requests caddyRequest makes. No error routes: a refusal is written by
// floodgate. No access log, as in the overhead benchmark, unless logged.
var (
	benchServer       = new(caddyhttp.Server)
	benchLoggedServer = &caddyhttp.Server{Logs: &caddyhttp.ServerLogConfig{}}
)

// caddyRequest is r as Caddy hands it to the first handler, from client address ip: its own
// replacer, vars and log fields.
func caddyRequest(r *http.Request, ip any, logged bool) *http.Request {
	s := benchServer
	if logged {
		s = benchLoggedServer
	}
	// Caddy's server makes a replacer for every request (caddy.NewReplacer, its
	// placeholders' values): handlers may set values in it.
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.ServerCtxKey, s)
	// The vars Caddy sets before any handler: prepareRequest's two, and start_time
	// (addHTTPVarsToReplacer). reverse_proxy adds a fourth and floodgate four more: eight,
	// as many as a small Go map holds (with a ninth it grows into a table, three
	// allocations and a rehash per request, which a benchmark with two would not show).
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{
		caddyhttp.TrustedProxyVarKey: false,
		caddyhttp.ClientIPVarKey:     ip,
		"start_time":                 startTime,
	})
	return r.WithContext(context.WithValue(ctx, caddyhttp.ExtraLogFieldsCtxKey, new(caddyhttp.ExtraLogFields)))
}

// measureCPU starts measuring the process's CPU time and allocations; the function it
// returns reports them per operation: cpu-ns/op, and allocs (a metric's name) less less.
func measureCPU(b *testing.B, allocs string, less float64) func() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cpu, mallocs := processCPU(), ms.Mallocs
	return func() {
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(ms.Mallocs-mallocs)/float64(b.N)-less, allocs)
	}
}

// processCPU is the CPU time the process used so far, user and system, in nanoseconds: on a
// shared machine, steadier than wall time per operation.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
