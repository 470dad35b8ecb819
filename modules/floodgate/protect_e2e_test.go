package floodgate_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/modules/floodgate"
)

// pool is a backend of limited capacity, like a PHP-FPM pool: a fixed number of workers,
// each request holding one for hold; at most backlog requests wait for a worker, the rest
// get 503 at once, as an overloaded shared server does.
type pool struct {
	*httptest.Server
	workers    chan struct{}
	waiting    atomic.Int64
	overloaded atomic.Int64 // requests refused because the backlog was full
	backlog    int64
	hold       time.Duration
	served     sync.Map // host -> *atomic.Int64

	mu          sync.Mutex
	inflight    map[string]int // host -> requests holding a worker or waiting for one
	maxInflight map[string]int
}

func newPool(t *testing.T, workers, backlog int, hold time.Duration) *pool {
	p := &pool{workers: make(chan struct{}, workers), backlog: int64(backlog), hold: hold,
		inflight: map[string]int{}, maxInflight: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.waiting.Add(1) > p.backlog+int64(cap(p.workers)) {
			p.waiting.Add(-1)
			p.overloaded.Add(1)
			http.Error(w, "backend overloaded", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		p.inflight[r.Host]++
		p.maxInflight[r.Host] = max(p.maxInflight[r.Host], p.inflight[r.Host])
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.inflight[r.Host]--
			p.mu.Unlock()
		}()
		p.workers <- struct{}{}
		time.Sleep(p.hold)
		<-p.workers
		p.waiting.Add(-1)
		n, _ := p.served.LoadOrStore(r.Host, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		fmt.Fprintf(w, "page of %s", r.Host)
	}))
	t.Cleanup(p.Close)
	return p
}

// waitInflight waits, for at most 10 s, until n requests of host are in the backend (holding
// a worker or waiting for one).
func (p *pool) waitInflight(t *testing.T, host string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		p.mu.Lock()
		in := p.inflight[host]
		p.mu.Unlock()
		if in >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests of %s in the backend after 10 s, want %d", in, host, n)
		}
	}
}

// hit sends one request to host through the proxy and returns its status and latency.
func (p *proxy) hit(client *http.Client, method, host, ip, ua, path string) (int, time.Duration) {
	req, _ := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path), nil)
	req.Host = host
	req.Header.Set("User-Agent", ua)
	req.Header.Set("X-Forwarded-For", ip)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, time.Since(start)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

var e2eClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// median latency of n sequential browser GETs to host.
func (p *proxy) medianLatency(t *testing.T, host string, n int) time.Duration {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		code, d := p.hit(e2eClient, "GET", host, fmt.Sprintf("90.0.1.%d", i+1), uaBrowser, "/")
		if code != 200 {
			t.Fatalf("%s: status %d", host, code)
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// logLines returns floodgate's own log lines (not access logs) with the given message.
func logLines(t *testing.T, path, msg string) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func startProtectedProxy(t *testing.T, upstreamAddr, protectOpts string) (*proxy, string) {
	logPath := filepath.Join(t.TempDir(), "floodgate.log")
	p := startProxyWith(t, &proxy{global: "log default {\n\t\toutput file " + logPath + "\n\t\tformat json\n\t}"},
		"rules "+protectRules+"\n\t\t"+protectOpts, upstreamAddr, "")
	return p, logPath
}

// TestPOSTBurstQuarantinesSite: site A under a POST burst is quarantined, A's GETs still
// work, and site B keeps being served: A's POSTs past its budget never reach the backend.
// (B's latency is logged; how it compares with calm is a benchmark's question, see
// cmd/floodgate-bench.)
func TestPOSTBurstQuarantinesSite(t *testing.T) {
	floodgate.PaceFor(t, 20*time.Millisecond) // 320 quarantined POSTs, each held (pace.go): not 40 s of holds
	backend := newPool(t, 4, 16, 20*time.Millisecond)
	p, logPath := startProtectedProxy(t, backend.Listener.Addr().String(), "protect {\n\t\t\tbackend_max_inflight 4\n\t\t}")
	calm := p.medianLatency(t, "b.example", 15)
	defer clearOfMinuteEnd(t)() // A's first 31 POSTs count against 30/min; then it is quarantined

	// The burst: 8 senders posting to A as fast as they can for a bounded count.
	var codes sync.Map
	var wg sync.WaitGroup
	stopB := make(chan struct{})
	var during []time.Duration
	var bMu sync.Mutex
	var bRefused atomic.Int64
	var bWG sync.WaitGroup
	bWG.Add(1)
	go func() { // B's visitors, during the burst
		defer bWG.Done()
		for i := 0; ; i++ { // at least one, however late this goroutine runs
			code, d := p.hit(e2eClient, "GET", "b.example", fmt.Sprintf("90.0.2.%d", i%250+1), uaBrowser, "/")
			if code == 200 {
				bMu.Lock()
				during = append(during, d)
				bMu.Unlock()
			} else {
				bRefused.Add(1)
			}
			select {
			case <-stopB:
				return
			case <-time.After(20 * time.Millisecond): // a visitor's pace, not a condition
			}
		}
	}()
	for s := 0; s < 8; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				code, _ := p.hit(e2eClient, "POST", "a.example", fmt.Sprintf("3.0.%d.%d", s, i+1), uaBrowser, "/wp-comments-post.php")
				n, _ := codes.LoadOrStore(code, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		}(s)
	}
	wg.Wait()
	close(stopB)
	bWG.Wait()
	counts := map[any]int64{}
	codes.Range(func(k, v any) bool { counts[k] = v.(*atomic.Int64).Load(); return true })
	t.Logf("320 POSTs to a.example: %v", counts)
	if counts[429] < 250 {
		t.Errorf("only %d of 320 POSTs were refused: the site was not quarantined after its budget of 30/min", counts[429])
	}
	if code, _ := p.hit(e2eClient, "POST", "a.example", "90.0.0.50", uaBrowser, "/contact"); code != 429 {
		t.Errorf("a POST to the quarantined site from a new client: %d, want 429", code)
	}
	if code, _ := p.hit(e2eClient, "GET", "a.example", "90.0.0.51", uaBrowser, "/"); code != 200 {
		t.Errorf("a GET on the quarantined site: %d, want 200 (pages keep flowing)", code)
	}
	if code, _ := p.hit(e2eClient, "POST", "b.example", "90.0.0.52", uaBrowser, "/contact"); code != 200 {
		t.Errorf("a POST to another site: %d, want 200", code)
	}
	warn := logLines(t, logPath, "site quarantined: its POST rate looks like a compromised site; its POSTs get 429, its pages still flow")
	if len(warn) != 1 || warn[0]["site"] != "a.example" {
		t.Errorf("quarantine warnings: %v, want exactly one naming a.example", warn)
	}
	slices.Sort(during)
	if len(during) == 0 || bRefused.Load() != 0 {
		t.Fatalf("site B during the burst: %d served, %d not, want every request served", len(during), bRefused.Load())
	}
	t.Logf("site B median latency: calm %v, during A's burst %v (%d requests)", calm, during[len(during)/2], len(during))
	// A's POST budget is 30/min, counted exactly in memory: the backend saw at most those 30
	// POSTs (the 31st started the quarantine) and the one GET above.
	if n := backend.servedOf("a.example"); n > 30+1 {
		t.Errorf("the backend served %d requests of a.example, past its POST budget of 30 and one GET: the quarantine did not hold", n)
	}
}

// servedOf is how many requests of host the backend served.
func (p *pool) servedOf(host string) int64 {
	n, ok := p.served.Load(host)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// TestInflightCapKeepsOtherSitesUp: a flood on one site leaves every request of the other
// sites served, because the flooded site only gets its share of the backend. The same flood
// on a site without a cap shows what happens otherwise. Counts, not durations: the flood
// lasts as long as e.example's 30 visits.
func TestInflightCapKeepsOtherSitesUp(t *testing.T) {
	run := func(t *testing.T, flooded string) (floodOK, floodRefused, otherOK, otherTotal int64, maxFlood int) {
		backend := newPool(t, 4, 8, 20*time.Millisecond)
		p, _ := startProtectedProxy(t, backend.Listener.Addr().String(), "protect {\n\t\t\tmax_wait 500ms\n\t\t}")
		var fOK, fRefused, oOK, oTotal atomic.Int64
		var wg sync.WaitGroup
		var visited atomic.Bool   // e.example's visitors are done: the flood stops
		for c := 0; c < 48; c++ { // the flood: 48 clients back to back
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for i := 0; !visited.Load() && i < 1000; i++ {
					code, _ := p.hit(e2eClient, "GET", flooded, fmt.Sprintf("90.1.%d.%d", c, i%250+1), uaBrowser, "/search")
					if code == 200 {
						fOK.Add(1)
					} else {
						fRefused.Add(1)
					}
				}
			}(c)
		}
		wg.Add(1)
		go func() { // e.example's visitors: 30 of them, one every 50ms
			defer wg.Done()
			defer visited.Store(true)
			for i := 0; i < 30; i++ {
				code, _ := p.hit(e2eClient, "GET", "e.example", fmt.Sprintf("90.2.0.%d", i%250+1), uaBrowser, "/")
				oTotal.Add(1)
				if code == 200 {
					oOK.Add(1)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		wg.Wait()
		backend.mu.Lock()
		defer backend.mu.Unlock()
		return fOK.Load(), fRefused.Load(), oOK.Load(), oTotal.Load(), backend.maxInflight[flooded]
	}
	// d.example has max_inflight 2 (testdata/rules/e2e/protect.yaml).
	fOK, fRefused, oOK, oTotal, maxD := run(t, "d.example")
	t.Logf("flood on d.example (max_inflight 2): %d served, %d refused, at most %d at once in the backend; e.example %d of %d served", fOK, fRefused, maxD, oOK, oTotal)
	if oOK != oTotal || fOK+fRefused < 48 {
		t.Errorf("e.example served %d of %d requests during d.example's flood of %d requests, want all served", oOK, oTotal, fOK+fRefused)
	}
	if maxD > 2 {
		t.Errorf("d.example had %d requests in the backend at once, past its max_inflight of 2", maxD)
	}
	// The same flood on a site without a cap takes the whole backend.
	_, _, oOK2, oTotal2, maxX := run(t, "nocap.example")
	t.Logf("flood on nocap.example (no cap): up to %d at once in the backend; e.example %d of %d served", maxX, oOK2, oTotal2)
	if maxX <= 2 {
		t.Errorf("without a cap the flood never had more than %d requests in the backend: the test's flood is too weak to show anything", maxX)
	}
}

// TestUnderAttackMode: a crawler flood on site C switches C into under-attack mode;
// visitors holding a pass still get through, the flood is challenged, and the mode switches
// off after the flood.
func TestUnderAttackMode(t *testing.T) {
	backend := newPool(t, 8, 64, 2*time.Millisecond)
	p, logPath := startProtectedProxy(t, backend.Listener.Addr().String(),
		"protect {\n\t\t\tunder_attack {\n\t\t\t\ton_after 1s\n\t\t\t\toff_after 3s\n\t\t\t}\n\t\t}")
	// A visitor earns a pass on a challenged path first (cookie level: kept in a jar).
	jar := newJar()
	visitor := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	const visitorIP = "90.0.3.3"
	p.hit(visitor, "GET", "c.example", visitorIP, uaBrowser, "/cookie/login")
	if code, _ := p.hit(visitor, "GET", "c.example", visitorIP, uaBrowser, "/cookie/login"); code != 200 {
		t.Fatalf("the visitor did not earn a pass: %d", code)
	}

	// A regular reads a page in calm and keeps the visitor cookie it gets with it.
	const regularIP = "90.0.3.4"
	var visitorCookie string
	for _, c := range p.getWith("c.example", regularIP, uaBrowser, "/").Cookies() {
		if c.Name == "floodgate_visitor" {
			visitorCookie = c.Value
		}
	}
	if visitorCookie == "" {
		t.Fatal("the regular got no visitor cookie with a calm page")
	}

	// The flood: browser-looking scrapers from many addresses, no cookies, up to 60
	// requests/s, until stop is closed or each client sent n requests.
	var challenged, served, sent atomic.Int64
	flood := func(stop <-chan struct{}, n int) {
		var wg sync.WaitGroup
		for c := 0; c < 6; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for i := 0; i < n; i++ {
					select {
					case <-stop:
						return
					default:
					}
					code, _ := p.hit(e2eClient, "GET", "c.example", fmt.Sprintf("3.0.%d.%d", c, i%250+1), uaBrowser, fmt.Sprintf("/page/%d", i))
					sent.Add(1)
					switch code {
					case 403:
						challenged.Add(1)
					case 200:
						served.Add(1)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}(c)
		}
		wg.Wait()
	}
	on := func() bool {
		return len(logLines(t, logPath, "site under attack: challenging clients that are not known good")) > 0
	}
	// Flood until the site switches on (one second past 20/sec), for at most 20 s.
	stop := make(chan struct{})
	flooded := make(chan struct{})
	go func() { defer close(flooded); flood(stop, 200) }()
	for deadline := time.Now().Add(20 * time.Second); !on(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			close(stop)
			<-flooded
			t.Fatalf("a flood at up to 60 requests/s on a site with attack_rate 20/sec did not switch it on in 20 s (served %d, challenged %d)", served.Load(), challenged.Load())
		}
	}
	close(stop)
	<-flooded
	// While it is on (at least off_after, 3 s, and as long as the flood lasts), every flood
	// request is challenged, and the pass holder gets every page.
	challenged.Store(0)
	sent.Store(0)
	var visitorOK atomic.Int64
	var visitorDone sync.WaitGroup
	visitorDone.Add(1)
	go func() {
		defer visitorDone.Done()
		for i := 0; i < 10; i++ {
			if code, _ := p.hit(visitor, "GET", "c.example", visitorIP, uaBrowser, fmt.Sprintf("/article/%d", i)); code == 200 {
				visitorOK.Add(1)
			}
		}
	}()
	flood(nil, 10)
	visitorDone.Wait()
	// The regular's visitor cookie spares it the cookie-level challenge on its pages and
	// their images (a challenge page where an image was asked for is a broken page); the same
	// cookie from another network, a tampered one, or none, earn nothing.
	for _, path := range []string{"/article/1", "/img/photo.jpg", "/css/site.css"} {
		if code := p.getWith("c.example", regularIP, uaBrowser, path, "Cookie", "floodgate_visitor="+visitorCookie).StatusCode; code != 200 {
			t.Errorf("under attack, the regular with its visitor cookie got %d for %s, want 200", code, path)
		}
	}
	tampered := []byte(visitorCookie)
	tampered[len(tampered)/2] ^= 1
	for _, tt := range []struct{ name, ip, cookie string }{
		{"the cookie from another network", "91.2.3.4", visitorCookie},
		{"a tampered cookie", regularIP, string(tampered)},
		{"a cookie of another name's value", regularIP, "AAAA" + visitorCookie[4:]},
		{"no cookie", regularIP, ""},
	} {
		if code := p.getWith("c.example", tt.ip, uaBrowser, "/img/photo.jpg", "Cookie", "floodgate_visitor="+tt.cookie).StatusCode; code != 403 {
			t.Errorf("under attack, %s got %d, want the challenge (403)", tt.name, code)
		}
	}
	t.Logf("under attack: %d of %d flood requests challenged; the pass holder got %d of 10 pages", challenged.Load(), sent.Load(), visitorOK.Load())
	if challenged.Load() != sent.Load() {
		t.Errorf("while under attack, only %d of %d flood requests were challenged", challenged.Load(), sent.Load())
	}
	if visitorOK.Load() != 10 {
		t.Errorf("the visitor holding a pass got %d of 10 pages while the site was under attack", visitorOK.Load())
	}
	// After the flood the mode switches off (10s window, then 3s calm), and a new visitor
	// without a pass gets the page again.
	deadline := time.Now().Add(40 * time.Second)
	for len(logLines(t, logPath, "site no longer under attack")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the site never left under-attack mode after the flood")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if code, _ := p.hit(e2eClient, "GET", "c.example", "90.0.4.4", uaBrowser, "/"); code != 200 {
		t.Errorf("a new visitor after the attack: %d, want 200", code)
	}
}

func newJar() http.CookieJar {
	j, _ := cookiejar.New(nil)
	return j
}
