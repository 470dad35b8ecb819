package floodgate_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/floodgate-proxy/floodgate/modules/floodgate"

	"github.com/floodgate-proxy/floodgate/internal/redistest"
	"github.com/floodgate-proxy/floodgate/internal/reloadtest"
)

// Browser and crawler user agents used throughout.
const (
	uaBrowser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
	uaGPTBot  = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
	// Client addresses travel in X-Forwarded-For from the trusted loopback peer: only
	// loopback traffic, yet distinct networks and ASNs (see testdata/mmdb/README.md).
	ipAmazon = "3.0.0.5"
	ipOrange = "90.0.0.7"
)

var e2eRules = abs("../../testdata/rules/e2e/sites.yaml")

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

// upstream is the test backend: it counts what reaches it.
type upstream struct {
	*httptest.Server
	hits atomic.Int64
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		fmt.Fprintf(w, "upstream %s\n", r.URL.Path)
	}))
	t.Cleanup(u.Close)
	return u
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proxy is a running Caddy with floodgate.
type proxy struct {
	t    *testing.T
	port int
	log  string
	// global holds more global options, such as a log for floodgate's own lines.
	global string
	// admin is Caddy's admin address; empty: off.
	admin string
	// looseProxies leaves trusted_proxies_strict out (what floodgate warns about).
	looseProxies bool
	// noErrorRoutes leaves the handle_errors route out: floodgate writes its refusals itself.
	noErrorRoutes bool
}

// caddyfile renders a Caddyfile for the test: floodgate options, then a site proxying to up.
func (p *proxy) caddyfile(globalOpts, upstreamAddr, extra string) string {
	admin := p.admin
	if admin == "" {
		admin = "off"
	}
	strict := "trusted_proxies_strict"
	if p.looseProxies {
		strict = ""
	}
	errorRoutes := "handle_errors 429 {\n\t\trespond \"slow down\" 429\n\t}"
	if p.noErrorRoutes {
		errorRoutes = ""
	}
	return fmt.Sprintf(`{
	admin %s
	persist_config off
	servers {
		trusted_proxies static 127.0.0.1/32
		%s
	}
	floodgate {
		asn_db %s
		%s
	}
	%s
}
http://:%d {
	bind 127.0.0.1
	floodgate
	%s
	%s
	reverse_proxy %s
	log {
		output file %s
		format json
	}
}
`, admin, strict, abs("../../testdata/mmdb/test-asn.mmdb"), globalOpts, p.global, p.port, errorRoutes, extra, upstreamAddr, p.log)
}

// load adapts and loads a Caddyfile into the running Caddy, as `floodgate reload` does.
func load(cf string) error {
	adapter := caddyconfig.GetAdapter("caddyfile")
	cfg, warns, err := adapter.Adapt([]byte(cf), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		return fmt.Errorf("adapt: %w", err)
	}
	_ = warns
	return caddy.Load(cfg, true)
}

func startProxy(t *testing.T, globalOpts, upstreamAddr, extra string) *proxy {
	t.Helper()
	return startProxyWith(t, &proxy{}, globalOpts, upstreamAddr, extra)
}

// startProxyWith starts Caddy for p, whose global field may hold more global options.
func startProxyWith(t *testing.T, p *proxy, globalOpts, upstreamAddr, extra string) *proxy {
	t.Helper()
	p.t, p.port, p.log = t, freePort(t), filepath.Join(t.TempDir(), "access.log")
	if err := load(p.caddyfile(globalOpts, upstreamAddr, extra)); err != nil {
		t.Fatalf("starting Caddy: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return p
}

// reloadSafeClient opens a connection per request: a kept-alive connection to the server a reload
// replaces may be closed under the next request (EOF), which no client of a proxy should see
// as floodgate's doing.
var reloadSafeClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// afterReload waits until the configuration a reload replaced has closed its listener: from then
// on every new connection reaches the new configuration. Until then a connection may land on the
// old listener (Caddy binds each configuration's with SO_REUSEPORT) and be served by the old
// configuration, dropped (EOF) or reset ("connection reset by peer"); see internal/reloadtest.
func (p *proxy) afterReload() { reloadtest.OldListenerGone(p.t, p.port) }

// inOneMinute runs try, which checks requests against per-minute budgets on keys of its own
// for each attempt (1, 2, …: another host or client address), until a run fails inside one
// minute or passes. The stores count in epoch-aligned minute windows: a run across a minute's
// end weighs the past minute's hits just under 1, rounded down (internal/store slidingCount),
// so one more request passes than the budget; such a run proves nothing and is tried again on
// a fresh budget. A run takes well under a minute, so the next cannot cross another minute's end.
// try returns its failures rather than ending the test, so that any of them is retried then.
func inOneMinute(t *testing.T, try func(attempt int) error) {
	t.Helper()
	minute := func(t time.Time) int64 { return t.Unix() / 60 }
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := try(attempt)
		if err == nil {
			return
		}
		if end := time.Now(); attempt < 3 && minute(start) != minute(end) {
			t.Logf("run %d crossed a minute's end (%s to %s), trying again on a fresh budget: %v",
				attempt, start.Format(time.StampMilli), end.Format(time.StampMilli), err)
			continue
		}
		t.Fatal(err)
	}
}

// clearOfMinuteEnd is inOneMinute for a check whose budget cannot be made fresh for a second
// try (one junk-host bucket, a site's POST count, an access log compared whole): when less than
// 3 s are left of the current minute it waits for the next to begin, at a cost of 75 ms a run
// on average, so that a part taking well under 3 s counts in one window. Call the function it
// returns at the end of that part: a part that still crossed a minute's end (a machine so slow
// that 3 s were not enough) is named in the log, as the likely cause of a count off by one.
func clearOfMinuteEnd(t *testing.T) (end func()) {
	t.Helper()
	const need = 3 * time.Second
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < need {
		time.Sleep(left) // the clock itself is the condition: the next minute has begun
	}
	start := time.Now()
	return func() {
		if end := time.Now(); start.Unix()/60 != end.Unix()/60 {
			t.Logf("this part crossed a minute's end (%s to %s): per-minute budgets let one more through there",
				start.Format(time.StampMilli), end.Format(time.StampMilli))
		}
	}
}

// get sends one request from client address ip with user agent ua.
func (p *proxy) get(ip, ua, path string) *http.Response {
	p.t.Helper()
	return p.getHost("localhost", ip, ua, path)
}

// getHost sends one request for host from client address ip with user agent ua, on a
// connection of its own.
func (p *proxy) getHost(host, ip, ua, path string) *http.Response {
	p.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path), nil)
	req.Host = host
	req.Header.Set("User-Agent", ua)
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := reloadSafeClient.Do(req)
	if err != nil {
		p.t.Fatalf("GET %s%s: %v", host, path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (p *proxy) status(ip, ua, path string) int { return p.get(ip, ua, path).StatusCode }

// crawlPastBudget sends the GPTBot budget (5) plus one and checks the last is throttled,
// while a browser from another network passes at the same moment.
func crawlPastBudget(t *testing.T, p *proxy, up *upstream) {
	t.Helper()
	inOneMinute(t, func(attempt int) error {
		host := fmt.Sprintf("budget%d.test", attempt) // GPTBot's budget is per bot+host
		before := up.hits.Load()
		for i := 0; i < 5; i++ {
			if s := p.getHost(host, ipAmazon, uaGPTBot, fmt.Sprintf("/page%d", i)).StatusCode; s != 200 {
				return fmt.Errorf("GPTBot request %d within budget: status %d, want 200", i+1, s)
			}
		}
		resp := p.getHost(host, ipAmazon, uaGPTBot, "/page6")
		if resp.StatusCode != http.StatusTooManyRequests {
			return fmt.Errorf("GPTBot past its budget: status %d, want 429", resp.StatusCode)
		}
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 60 {
			return fmt.Errorf("Retry-After = %q, want whole seconds in 1..60", resp.Header.Get("Retry-After"))
		}
		if s := p.getHost(host, ipOrange, uaBrowser, "/").StatusCode; s != 200 {
			return fmt.Errorf("browser from another network while GPTBot is throttled: status %d, want 200", s)
		}
		if got := up.hits.Load() - before; got != 6 {
			return fmt.Errorf("upstream saw %d requests, want 6 (5 GPTBot + 1 browser)", got)
		}
		return nil
	})
}

func TestThrottleCrawlerNotBrowser(t *testing.T) {
	cases := []struct {
		name  string
		store func(t *testing.T) string
	}{
		{"memory", func(*testing.T) string { return "store memory" }},
		{"redis-batched", func(t *testing.T) string {
			return "store redis://" + redistest.Start(t).Addr
		}},
		{"redis-exact", func(t *testing.T) string {
			return "store redis://" + redistest.Start(t).Addr + " {\n\t\t\tmode exact\n\t\t}"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up := newUpstream(t)
			p := startProxy(t, "rules "+e2eRules+"\n\t\t"+c.store(t), up.Listener.Addr().String(), "")
			crawlPastBudget(t, p, up)
		})
	}
}

func TestCountersSurviveReload(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			opt := "store memory"
			if store == "redis" {
				opt = "store redis://" + redistest.Start(t).Addr
			}
			up := newUpstream(t)
			p := startProxy(t, "rules "+e2eRules+"\n\t\t"+opt, up.Listener.Addr().String(), "")
			inOneMinute(t, func(attempt int) error {
				host := fmt.Sprintf("budget%d.test", attempt) // GPTBot's budget is per bot+host
				for i := 0; i < 3; i++ {
					if s := p.getHost(host, ipAmazon, uaGPTBot, "/").StatusCode; s != 200 {
						return fmt.Errorf("before reload, request %d: %d", i+1, s)
					}
				}
				// A reload that changes the site but not the store keeps the counters.
				cf := p.caddyfile("rules "+e2eRules+"\n\t\t"+opt, up.Listener.Addr().String(), "header X-Reloaded "+host)
				if err := load(cf); err != nil {
					t.Fatalf("reload: %v", err)
				}
				p.afterReload()
				if got := p.get(ipOrange, uaBrowser, "/").Header.Get("X-Reloaded"); got != host {
					return fmt.Errorf("after the reload, X-Reloaded: %q, want %q: the new configuration does not answer", got, host)
				}
				codes := []int{
					p.getHost(host, ipAmazon, uaGPTBot, "/").StatusCode,
					p.getHost(host, ipAmazon, uaGPTBot, "/").StatusCode,
					p.getHost(host, ipAmazon, uaGPTBot, "/").StatusCode,
				}
				if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
					return fmt.Errorf("after reload, requests 4-6 got %v, want [200 200 429]: counters were reset by the reload", codes)
				}
				return nil
			})
		})
	}
}

func TestBadRulesKeepRunningConfig(t *testing.T) {
	up := newUpstream(t)
	p := startProxy(t, "rules "+e2eRules, up.Listener.Addr().String(), "")
	broken := abs("../../testdata/rules/e2e/broken.yaml")
	err := load(p.caddyfile("rules "+broken, up.Listener.Addr().String(), ""))
	if err == nil {
		t.Fatal("loading a broken rule file succeeded")
	}
	want := broken + `:7: rate "5/fortnight": unknown period "fortnight"`
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error does not say file:line and what is wrong:\n got: %v\nwant: ...%s...", err, want)
	}
	// The running configuration still serves and still applies its rules.
	crawlPastBudget(t, p, up)
}

func TestActionsAndAnnotations(t *testing.T) {
	up := newUpstream(t)
	p := startProxy(t, "rules "+e2eRules+" shipped", up.Listener.Addr().String(),
		`header /whoami X-Class "{http.vars.floodgate.class}"
	handle /whoami {
		respond "{http.vars.floodgate.class}|{http.vars.floodgate.bot}|{http.vars.floodgate.rule}|{http.vars.floodgate.asn}|{http.vars.floodgate.prefix}|{http.vars.floodgate.action}"
	}`)
	body := func(ip, ua string) string {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/whoami", p.port), nil)
		req.Host = "localhost"
		req.Header.Set("User-Agent", ua)
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got, want := body(ipAmazon, uaGPTBot), "ai-crawler|GPTBot|test-gptbot|16509|3.0.0.0/24|pass"; got != want {
		t.Errorf("placeholders for GPTBot from AWS: %q, want %q", got, want)
	}
	// Googlebot from Google's published range is verified; from elsewhere it is an impostor.
	const uaGooglebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	if s := p.status("66.249.66.1", uaGooglebot, "/"); s != 200 {
		t.Errorf("real Googlebot: status %d, want 200", s)
	}
	if s := p.status(ipOrange, uaGooglebot, "/"); s != 403 {
		t.Errorf("Googlebot impostor from a residential network: status %d, want 403", s)
	}
	if s := p.status(ipOrange, uaBrowser, "/wp-content/uploads/2024/shell.php"); s != 403 {
		t.Errorf("script in an upload folder: status %d, want 403", s)
	}
	// Delay: the second SlowBot request in a minute is held, then passes.
	defer clearOfMinuteEnd(t)()
	if s := p.status(ipOrange, "SlowBot/1.0", "/"); s != 200 {
		t.Errorf("SlowBot first request: %d", s)
	}
	if s := p.status(ipOrange, "SlowBot/1.0", "/"); s != 200 {
		t.Errorf("SlowBot delayed request: %d, want 200 after the delay", s)
	}

	// Access-log lines carry the floodgate fields.
	f, err := os.Open(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var seen []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Status    int `json:"status"`
			Floodgate struct {
				Class, Bot, Rule, Action, ActingRule string
				HeadersInconsistent                  bool `json:"headers_inconsistent"`
			} `json:"floodgate"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("access log line is not JSON: %v", err)
		}
		seen = append(seen, fmt.Sprintf("%d %s %s %s", line.Status, line.Floodgate.Class, line.Floodgate.Bot, line.Floodgate.Action))
		// The test client claims a browser but sends no Accept-Language: the log says so.
		if line.Floodgate.Class == "browser" && !line.Floodgate.HeadersInconsistent {
			t.Errorf("access log: a browser User-Agent without Accept-Language is not marked headers_inconsistent: %s", sc.Text())
		}
	}
	wantLines := []string{
		"200 ai-crawler GPTBot pass",
		"200 search-bot Googlebot pass",
		"403 bot impostor:Googlebot block",
		"403 browser  block",
		"200 bot SlowBot pass",
		"200 bot SlowBot delay",
	}
	if strings.Join(seen, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("access log floodgate fields:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(wantLines, "\n"))
	}
}

func TestBadASNDatabaseIsAClearError(t *testing.T) {
	up := newUpstream(t)
	for _, db := range []string{
		abs("../../testdata/maxmind-test/bad/invalid-data-record-offset.mmdb"),
		abs("../../testdata/maxmind-test/bad/metadata-is-an-uint128.mmdb"),
		"/nonexistent/GeoLite2-ASN.mmdb",
	} {
		p := &proxy{t: t, port: freePort(t), log: filepath.Join(t.TempDir(), "access.log")}
		cf := strings.Replace(p.caddyfile("rules "+e2eRules, up.Listener.Addr().String(), ""),
			abs("../../testdata/mmdb/test-asn.mmdb"), db, 1)
		err := load(cf)
		if err == nil {
			_ = caddy.Stop()
			t.Fatalf("asn_db %s: loading succeeded", db)
		}
		if !strings.Contains(err.Error(), "asn_db") || !strings.Contains(err.Error(), db) {
			t.Errorf("asn_db %s: error does not name the option and the file: %v", db, err)
		}
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestVarsMatcherReadsPlaceholders: floodgate's variables are the request's placeholders, so
// a vars matcher that names them as placeholders routes on them.
func TestVarsMatcherReadsPlaceholders(t *testing.T) {
	up := newUpstream(t)
	p := startProxy(t, "rules "+e2eRules+" shipped", up.Listener.Addr().String(),
		`handle /matched {
		@ai vars {http.vars.floodgate.class} ai-crawler
		respond @ai "ai-crawler"
		respond "other"
	}`)
	for _, c := range []struct{ ua, want string }{{uaGPTBot, "ai-crawler"}, {uaBrowser, "other"}} {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/matched", p.port), nil)
		req.Host = "localhost"
		req.Header.Set("User-Agent", c.ua)
		req.Header.Set("X-Forwarded-For", ipAmazon)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := string(b); got != c.want {
			t.Errorf("vars matcher on {http.vars.floodgate.class} for %q: %q, want %q", c.ua, got, c.want)
		}
	}
}
