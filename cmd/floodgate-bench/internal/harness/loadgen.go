package harness

import (
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Outcome is what became of one request, as the client saw it.
type Outcome string

// The outcomes.
const (
	// OK is a 2xx or 3xx answer.
	OK Outcome = "ok"
	// Throttled is a 429.
	Throttled Outcome = "throttled_429"
	// Blocked is a 403.
	Blocked Outcome = "blocked_403"
	// Unavailable is a 503 (the backend's queue was full).
	Unavailable Outcome = "unavailable_503"
	// GatewayTimeout is a 504 (no backend worker in time).
	GatewayTimeout Outcome = "timeout_504"
	// OtherStatus is any other status.
	OtherStatus Outcome = "other_status"
	// Failed is a transport error or a client timeout.
	Failed Outcome = "error"
	// Dropped is a request the generator did not send because its in-flight bound was reached.
	Dropped Outcome = "dropped"
)

// Outcomes lists the outcomes in report order.
var Outcomes = []Outcome{OK, Throttled, Blocked, Unavailable, GatewayTimeout, OtherStatus, Failed, Dropped}

// OutcomeOf maps a status code (or a transport error) to an outcome.
func OutcomeOf(status int, err error) Outcome {
	switch {
	case err != nil:
		return Failed
	case status >= 200 && status < 400:
		return OK
	case status == http.StatusTooManyRequests:
		return Throttled
	case status == http.StatusForbidden:
		return Blocked
	case status == http.StatusServiceUnavailable:
		return Unavailable
	case status == http.StatusGatewayTimeout:
		return GatewayTimeout
	default:
		return OtherStatus
	}
}

// Sample is one request's result.
type Sample struct {
	// Class is the population.
	Class Class
	// Phase is the phase it was sent in.
	Phase Phase
	// At is when it was sent, in seconds from the start.
	At float32
	// Latency is the time to the end of the response body, in milliseconds.
	Latency float32
	// Backend is the part of Latency spent in the backend (waiting for a worker and
	// working), in milliseconds, as it said (HeaderBackendTime); -1 when it did not serve
	// the request (the proxy answered, or the backend refused). For a refreshed page, the
	// last answer's.
	Backend float32
	// Outcome is what became of it.
	Outcome Outcome
	// Site is the site index.
	Site int16
	// Static is true for a static file.
	Static bool
	// Refreshed is true for a human page that answered with a meta refresh (a cookie
	// challenge, say) which the browser followed; Latency then covers the whole visit.
	Refreshed bool
	// Returning is true for a regular (Session.Regular): in the flood, a returning visitor
	// whose cookie jar holds what the proxy set in calm times. Other sessions are new
	// visitors, each with an empty jar when it begins.
	Returning bool
}

// RunConfig says where and how hard the generator may send.
type RunConfig struct {
	// Target is the proxy's loopback address (127.0.0.1:port); every connection goes there.
	Target string
	// Targets, when set, replaces Target with several proxies (a load balancer in front of
	// them): human session i goes to Targets[i%n], open-loop request i and closed-loop
	// worker i likewise.
	Targets []string
	// MaxClosedRequests bounds the requests the closed-loop workers send in all.
	MaxClosedRequests int64
	// History, when set, gives a regular's cookie jar, before its first request, what its
	// visits of the previous days left there (a cookie for the site host, from address ip
	// with User-Agent ua); nil: the jar starts empty.
	History func(ip netip.Addr, ua, host string) *http.Cookie
	// MaxInFlight bounds the open-loop requests in flight; past it, requests are dropped
	// (and counted).
	MaxInFlight int
	// MaxSessions bounds the human sessions running at once.
	MaxSessions int
	// HumanTimeout is how long a human waits for one response.
	HumanTimeout time.Duration
	// AttackTimeout is how long other clients wait for one response.
	AttackTimeout time.Duration
	// AssetParallel is how many assets a human's browser fetches at once.
	AssetParallel int
	// Part says which traffic this process sends: all of it (the zero value), or only the
	// flood (AI crawlers, stealth scrapers, the POST burst) or only the rest (people and
	// Googlebot), when the flood runs in a process of its own (FloodProcess).
	Part Part
	// Start, when set, is the run's time zero (a flood process and the harness share it);
	// zero: when Run is called.
	Start time.Time
}

// Part is which traffic a Run sends (RunConfig.Part).
type Part uint8

// The parts.
const (
	AllTraffic Part = iota
	FloodOnly
	WithoutFlood
)

// sends reports whether a run of part p sends the requests of class c.
func (p Part) sends(c Class) bool {
	switch p {
	case FloodOnly:
		return IsFloodClass(c)
	case WithoutFlood:
		return !IsFloodClass(c)
	}
	return true
}

// IsFloodClass reports whether c is one of the flood's populations.
func IsFloodClass(c Class) bool {
	return c == AICrawlers || c == StealthScrapers || c == PostBurst
}

// DefaultRunConfig returns the generator's limits for target.
func DefaultRunConfig(target string) RunConfig {
	return RunConfig{Target: target, MaxInFlight: 2000, MaxSessions: 3000, MaxClosedRequests: 1_000_000, HumanTimeout: 15 * time.Second, AttackTimeout: 10 * time.Second, AssetParallel: 4}
}

// Results are the samples of one run.
type Results struct {
	// Samples holds one entry per request, including dropped ones.
	Samples []Sample
	// Elapsed is the run's wall time.
	Elapsed time.Duration
	// Start is when the run started (offset 0 of the samples).
	Start time.Time
}

// CheckLoopback returns an error unless addr is host:port with a loopback IP host.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("target %q: expected host:port: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("target %q: expected a loopback address (127.0.0.0/8 or ::1); floodgate-bench sends no traffic elsewhere", addr)
	}
	return nil
}

// NewLoopbackTransport returns a transport that connects every request, whatever its URL's
// host, to target (a loopback address): URLs carry the member site's name, so Host headers
// and cookie jars behave as for real sites.
func NewLoopbackTransport(target string, maxIdle int) (*http.Transport, error) {
	if err := CheckLoopback(target); err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", target)
		},
		MaxIdleConns:        maxIdle,
		MaxIdleConnsPerHost: maxIdle,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}, nil
}

// recorder collects samples from many goroutines.
type recorder struct {
	mu      sync.Mutex
	samples []Sample
}

func (r *recorder) add(s Sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

// Run replays sched against cfg.Target: human sessions closed-loop (each waits for its
// answers and thinks), the other populations open-loop at their scheduled times. It returns
// when every scheduled request was sent or dropped and every answer came back (or timed
// out); it never runs longer than the scenario plus the longest client timeout.
func Run(ctx context.Context, sc Scenario, sched *Schedule, cfg RunConfig) (*Results, error) {
	targets := cfg.Targets
	if len(targets) == 0 {
		targets = []string{cfg.Target}
	}
	trs := make([]*http.Transport, len(targets))
	for i, t := range targets {
		tr, err := NewLoopbackTransport(t, 1024)
		if err != nil {
			return nil, err
		}
		defer tr.CloseIdleConnections()
		trs[i] = tr
	}
	if cfg.MaxInFlight < 1 || cfg.MaxSessions < 1 || cfg.AssetParallel < 1 || cfg.HumanTimeout <= 0 || cfg.AttackTimeout <= 0 {
		return nil, fmt.Errorf("run config %+v: expected positive bounds and timeouts", cfg)
	}
	hardStop := sc.Duration() + max(cfg.HumanTimeout, cfg.AttackTimeout) + 5*time.Second
	ctx, cancel := context.WithTimeout(ctx, hardStop)
	defer cancel()

	rec := &recorder{samples: make([]Sample, 0, len(sched.Requests)+len(sched.Sessions)*12)}
	start := cfg.Start
	if start.IsZero() {
		start = time.Now()
	}
	since := func() time.Duration { return time.Since(start) }
	var wg sync.WaitGroup

	attackClients := make([]*http.Client, len(trs))
	for i, tr := range trs {
		attackClients[i] = &http.Client{Transport: tr, Timeout: cfg.AttackTimeout, CheckRedirect: noRedirect}
	}
	sem := make(chan struct{}, cfg.MaxInFlight)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range sched.Requests {
			q := sched.Requests[i]
			if !cfg.Part.sends(q.Class) {
				continue
			}
			if !sleepUntil(ctx, start, q.At) {
				return
			}
			select {
			case sem <- struct{}{}:
			default:
				rec.add(Sample{Class: q.Class, Phase: sc.PhaseAt(q.At), At: float32(q.At.Seconds()), Outcome: Dropped, Site: int16(q.Site), Static: IsStatic(q.Path)})
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				var body io.Reader
				if q.Method == http.MethodPost {
					body = strings.NewReader("log=admin&pwd=letmein&wp-submit=Log+In")
				}
				phase := sc.PhaseAt(since())
				rec.add(do(ctx, attackClients[i%len(attackClients)], q.Method, q.Site, q.Path, body, q.IP, q.UA, q.Class, phase, start))
			}()
		}
	}()

	if workers := sc.ClosedWorkers(); len(workers) > 0 && cfg.Part != WithoutFlood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !sleepUntil(ctx, start, sc.Calm) {
				return
			}
			floodCtx, stop := context.WithDeadline(ctx, start.Add(sc.Duration()))
			defer stop()
			RunClosedLoop(floodCtx, workers, cfg.MaxClosedRequests, func(w *ClosedWorker, q Request) Sample {
				var body io.Reader
				if q.Method == http.MethodPost {
					body = strings.NewReader("log=admin&pwd=letmein&wp-submit=Log+In")
				}
				return do(floodCtx, attackClients[w.Index%len(attackClients)], q.Method, q.Site, q.Path, body, q.IP, q.UA, q.Class, Flood, start)
			}, func(smp Sample) {
				// A request cut at the end of the run is not an answer.
				if floodCtx.Err() == nil || smp.Outcome != Failed {
					rec.add(smp)
				}
			})
		}()
	}

	sessSem := make(chan struct{}, cfg.MaxSessions)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range sched.Sessions {
			if !cfg.Part.sends(Humans) {
				return
			}
			s := &sched.Sessions[i]
			if !sleepUntil(ctx, start, s.At) {
				return
			}
			select {
			case sessSem <- struct{}{}:
			default:
				rec.add(Sample{Class: Humans, Phase: sc.PhaseAt(s.At), At: float32(s.At.Seconds()), Outcome: Dropped, Site: int16(s.Site)})
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sessSem }()
				runSession(ctx, sc, s, trs[i%len(trs)], cfg, rec, start)
			}()
		}
	}()
	wg.Wait()
	return &Results{Samples: rec.samples, Elapsed: since(), Start: start}, nil
}

// runSession plays one human: a page, then its uncached assets a few at a time, then a
// pause; until the pages or the run's time are over.
func runSession(ctx context.Context, sc Scenario, s *Session, tr http.RoundTripper, cfg RunConfig, rec *recorder, start time.Time) {
	jar, _ := cookiejar.New(nil)
	if s.Regular && cfg.History != nil {
		if c := cfg.History(s.IP, s.UA, Host(s.Site)); c != nil {
			jar.SetCookies(&url.URL{Scheme: "http", Host: Host(s.Site), Path: "/"}, []*http.Cookie{c})
		}
	}
	client := &http.Client{Transport: tr, Jar: jar, Timeout: cfg.HumanTimeout}
	returning := s.Regular
	add := func(smp Sample) {
		smp.Returning = returning
		rec.add(smp)
	}
	for _, p := range s.Pages {
		t := time.Since(start)
		if t >= sc.Duration() || ctx.Err() != nil {
			return
		}
		smp := visitPage(ctx, sc, client, s, p.Path, start)
		add(smp)
		if smp.Outcome == OK {
			lim := make(chan struct{}, cfg.AssetParallel)
			var wg sync.WaitGroup
			for _, a := range p.Assets {
				lim <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-lim }()
					add(do(ctx, client, http.MethodGet, s.Site, a, nil, s.IP, s.UA, Humans, sc.PhaseAt(time.Since(start)), start))
				}()
			}
			wg.Wait()
		}
		if p.Think > 0 {
			tm := time.NewTimer(p.Think)
			select {
			case <-tm.C:
			case <-ctx.Done():
				tm.Stop()
				return
			}
		}
	}
}

// maxRefreshes bounds the meta refreshes a human's browser follows for one page.
const maxRefreshes = 2

// metaRefresh matches <meta http-equiv="refresh" content="N; url=U">.
var metaRefresh = regexp.MustCompile(`(?i)<meta\s+http-equiv=["']?refresh["']?\s+content=["']?\s*(\d+)\s*;\s*url=([^"'>\s]+)`)

// MetaRefresh returns the delay and same-site target of an HTML page's meta refresh, as a
// browser follows it ("Retry shortly" pages, cookie challenges); ok is false when there is
// none, or it points elsewhere than a path of the same site.
func MetaRefresh(page []byte) (delay time.Duration, target string, ok bool) {
	m := metaRefresh.FindSubmatch(page)
	if m == nil {
		return 0, "", false
	}
	n, err := strconv.Atoi(string(m[1]))
	target = html.UnescapeString(string(m[2]))
	if err != nil || n < 0 || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") {
		return 0, "", false
	}
	return time.Duration(min(n, 10)) * time.Second, target, true
}

// visitPage loads a page as a browser does: when the answer is an HTML page that refreshes
// itself (a cookie challenge, say), it waits and loads the target, keeping cookies, up to
// maxRefreshes times. The sample is the final answer's, with the latency of the whole visit
// and Refreshed set.
func visitPage(ctx context.Context, sc Scenario, c *http.Client, s *Session, path string, start time.Time) Sample {
	t0 := time.Now()
	smp, page := doCapture(ctx, c, http.MethodGet, s.Site, path, nil, s.IP, s.UA, Humans, sc.PhaseAt(time.Since(start)), start, true)
	first := smp
	for i := 0; i < maxRefreshes && smp.Outcome != OK; i++ {
		delay, target, ok := MetaRefresh(page)
		if !ok || time.Since(start)+delay >= sc.Duration() {
			break
		}
		tm := time.NewTimer(delay)
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
			return smp
		}
		smp, page = doCapture(ctx, c, http.MethodGet, s.Site, target, nil, s.IP, s.UA, Humans, sc.PhaseAt(time.Since(start)), start, true)
		smp.Refreshed = true
	}
	if smp.Refreshed {
		smp.At, smp.Phase, smp.Static = first.At, first.Phase, false
		smp.Latency = float32(float64(time.Since(t0).Microseconds()) / 1000)
	}
	return smp
}

// do sends one request and measures it to the end of the body.
func do(ctx context.Context, c *http.Client, method string, site int, path string, body io.Reader, ip netip.Addr, ua string, class Class, phase Phase, start time.Time) Sample {
	smp, _ := doCapture(ctx, c, method, site, path, body, ip, ua, class, phase, start, false)
	return smp
}

// doCapture is do that also returns the beginning of an HTML answer's body when capture is
// set (for the humans' browsers, which follow meta refreshes).
func doCapture(ctx context.Context, c *http.Client, method string, site int, path string, body io.Reader, ip netip.Addr, ua string, class Class, phase Phase, start time.Time, capture bool) (Sample, []byte) {
	t0 := time.Now()
	smp := Sample{Class: class, Phase: phase, At: float32(t0.Sub(start).Seconds()), Site: int16(site), Static: IsStatic(path)}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+Host(site)+path, body)
	if err != nil {
		smp.Outcome = Failed
		return smp, nil
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("X-Forwarded-For", ip.String())
	req.Header.Set("Accept", BrowserAccept)
	if class == Humans || class == StealthScrapers {
		// What every browser sends; the stealth scrapers pass for browsers.
		req.Header.Set("Accept-Language", acceptLanguageOf(ip))
	}
	req.Header.Set(HeaderClass, string(class))
	req.Header.Set(HeaderPhase, string(phase))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	var head []byte
	if err == nil {
		if capture && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			head, err = io.ReadAll(io.LimitReader(resp.Body, 16<<10))
		}
		if err == nil {
			_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		}
		_ = resp.Body.Close()
	}
	smp.Latency = float32(float64(time.Since(t0).Microseconds()) / 1000)
	smp.Backend = -1
	status := 0
	if resp != nil {
		status = resp.StatusCode
		if v, perr := strconv.ParseFloat(resp.Header.Get(HeaderBackendTime), 32); perr == nil {
			smp.Backend = float32(v)
		}
	}
	smp.Outcome = OutcomeOf(status, err)
	return smp, head
}

// sleepUntil waits until start+at, or returns false when ctx ends first.
func sleepUntil(ctx context.Context, start time.Time, at time.Duration) bool {
	d := time.Until(start.Add(at))
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
