package floodgate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/floodgate-proxy/floodgate/internal/protect"
)

// BenchmarkHandlerChallenge measures what a stealth flood costs the proxy in floodgate: every
// request a browser User-Agent from a fresh address, no cookie, on a site under attack, so
// every answer is a cookie challenge written by floodgate (the issue11 and stealth-closed
// cells of the matrix benchmark answer about 12,000 of them a second). cpu-ns/op is the
// process's CPU per answer, floodgate's part only (no connection, no net/http writing).
func BenchmarkHandlerChallenge(b *testing.B) {
	h := benchHandler(b)
	for i := range 100 {
		h.app.state.protection.detector.SetMode("site"+strconv.Itoa(i)+".example.org", protect.ModeOn)
	}
	srv := new(caddyhttp.Server) // no error routes, no access log
	b.ReportAllocs()
	var seq atomic.Uint32
	defer measureCPU(b, "mallocs/op", 0)()
	b.RunParallel(func(pb *testing.PB) {
		reqs := make([]*http.Request, 100)
		for i := range reqs {
			reqs[i] = httptest.NewRequest("GET", "http://site"+strconv.Itoa(i)+".example.org/article/"+strconv.Itoa(1000+i)+"?page=3", nil)
			reqs[i].Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
			reqs[i].Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
			reqs[i].Header.Set("Accept-Language", "fr-FR,fr;q=0.9,en;q=0.5")
		}
		w := &challengeSink{h: make(http.Header)}
		for pb.Next() {
			n := seq.Add(1) * 2654435761 // a fresh address each time, 90.0.0.0/8 and up
			ip := netip.AddrFrom4([4]byte{byte(90 + n>>30), byte(n >> 16), byte(n >> 8), byte(n)}).String()
			r := reqs[int(n%100)]
			ctx := context.WithValue(r.Context(), caddyhttp.ServerCtxKey, srv)
			ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{
				caddyhttp.TrustedProxyVarKey: false,
				caddyhttp.ClientIPVarKey:     ip,
				"start_time":                 startTime,
			})
			r = r.WithContext(context.WithValue(ctx, caddyhttp.ExtraLogFieldsCtxKey, new(caddyhttp.ExtraLogFields)))
			clear(w.h)
			w.status = 0
			_ = h.ServeHTTP(w, r, nextOK)
			if w.status != http.StatusForbidden {
				b.Fatalf("status %d, want a challenge (403)", w.status)
			}
		}
	})
}

// challengeSink is a ResponseWriter that keeps the status and drops the body.
type challengeSink struct {
	h      http.Header
	status int
}

func (w *challengeSink) Header() http.Header         { return w.h }
func (w *challengeSink) WriteHeader(status int)      { w.status = status }
func (w *challengeSink) Write(p []byte) (int, error) { return len(p), nil }
