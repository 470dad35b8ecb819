package floodgate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// benchHandler provisions the app with the shipped rules, the test ASN database and the
// memory store, and a handler on it, without a server around them.
func benchHandler(b *testing.B) *Handler {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	db, _ := filepath.Abs("../../testdata/mmdb/test-asn.mmdb")
	app := &App{ASNDB: db}
	if err := app.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = app.Cleanup() })
	app.state.logger = zap.NewNop()
	return &Handler{app: app, logger: zap.NewNop()}
}

var nextOK = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })

// BenchmarkHandlerDecision measures ServeHTTP up to the next handler: classification, ASN
// lookup, counting against every budget that applies, variables and log fields.
func BenchmarkHandlerDecision(b *testing.B) {
	cases := []struct{ name, ip, ua string }{
		{"browser", "90.0.0.7", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
		{"gptbot", "3.0.0.5", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"},
		{"googlebot-verified", "66.249.66.1", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
		{"curl", "90.0.0.8", "curl/8.5.0"},
	}
	// Provision first: its log lines must not land inside the benchmark result lines.
	h := benchHandler(b)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				// One request per site, reused: the benchmark measures floodgate, not net/http.
				reqs := make([]*http.Request, 100)
				for i := range reqs {
					r := httptest.NewRequest("GET", "http://site"+strconv.Itoa(i)+".example.org/page", nil)
					r.Header.Set("User-Agent", c.ua)
					vars := map[string]any{caddyhttp.ClientIPVarKey: c.ip}
					ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars)
					reqs[i] = r.WithContext(ctx)
				}
				w := httptest.NewRecorder()
				i := 0
				for pb.Next() {
					i++
					// Caddy gives every request its own log fields; so does the benchmark.
					r := reqs[i%len(reqs)]
					r = r.WithContext(context.WithValue(r.Context(), caddyhttp.ExtraLogFieldsCtxKey, new(caddyhttp.ExtraLogFields)))
					_ = h.ServeHTTP(w, r, nextOK)
				}
			})
		})
	}
}
