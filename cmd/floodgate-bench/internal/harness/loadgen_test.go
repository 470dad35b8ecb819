package harness

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		status int
		err    error
		want   Outcome
	}{
		{200, nil, OK}, {204, nil, OK}, {302, nil, OK}, {429, nil, Throttled}, {403, nil, Blocked},
		{503, nil, Unavailable}, {504, nil, GatewayTimeout}, {404, nil, OtherStatus}, {500, nil, OtherStatus},
		{0, errors.New("connection refused"), Failed}, {200, errors.New("body cut"), Failed},
	}
	for _, tt := range tests {
		if got := OutcomeOf(tt.status, tt.err); got != tt.want {
			t.Errorf("OutcomeOf(%d, %v) = %s, want %s", tt.status, tt.err, got, tt.want)
		}
	}
}

func TestMetaRefresh(t *testing.T) {
	tests := []struct {
		page   string
		delay  time.Duration
		target string
		ok     bool
	}{
		{`<meta http-equiv="refresh" content="1; url=/article?id=7&amp;p=2">`, time.Second, "/article?id=7&p=2", true},
		{`<META HTTP-EQUIV=refresh CONTENT="0;url=/">`, 0, "/", true},
		{`<meta http-equiv="refresh" content="99; url=/x">`, 10 * time.Second, "/x", true},
		{`<meta http-equiv="refresh" content="1; url=https://elsewhere.example/">`, 0, "", false},
		{`<meta http-equiv="refresh" content="1; url=//elsewhere.example/">`, 0, "", false},
		{`<meta http-equiv="refresh" content="5">`, 0, "", false},
		{`<p>no refresh</p>`, 0, "", false},
	}
	for _, tt := range tests {
		d, target, ok := MetaRefresh([]byte(tt.page))
		if d != tt.delay || target != tt.target || ok != tt.ok {
			t.Errorf("MetaRefresh(%q) = %v %q %v, want %v %q %v", tt.page, d, target, ok, tt.delay, tt.target, tt.ok)
		}
	}
}

// A human's browser follows a cookie challenge (403, Set-Cookie, meta refresh) and gets
// the page; the sample is the page's, marked Refreshed.
func TestVisitPageFollowsCookieChallenge(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Host != "site03.example.org" || r.Header.Get("X-Forwarded-For") != "90.1.2.3" {
			http.Error(w, "wrong host or client "+r.Host, http.StatusBadRequest)
			return
		}
		if _, err := r.Cookie("pass"); err != nil {
			http.SetCookie(w, &http.Cookie{Name: "pass", Value: "ok", Path: "/"})
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<html><head><meta http-equiv="refresh" content="0; url=` + r.URL.RequestURI() + `"></head></html>`))
			return
		}
		_, _ = w.Write([]byte("the page"))
	}))
	defer srv.Close()
	tr, err := NewLoopbackTransport(srv.Listener.Addr().String(), 4)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: tr, Jar: jar, Timeout: 5 * time.Second}
	s := &Session{Site: 3, IP: AddrAt(NetworksOf(Residential)[0].Prefix, 0x010203), UA: BrowserUserAgents[0]}
	sc := DefaultScenario()
	smp := visitPage(context.Background(), sc, c, s, "/article/9", time.Now())
	if smp.Outcome != OK || !smp.Refreshed || hits.Load() != 2 || smp.Class != Humans || smp.Site != 3 {
		t.Fatalf("visit = %+v after %d hits, want OK, refreshed, 2 hits", smp, hits.Load())
	}
	// The pass is kept: the next page needs no refresh.
	smp = visitPage(context.Background(), sc, c, s, "/", time.Now())
	if smp.Outcome != OK || smp.Refreshed || hits.Load() != 3 {
		t.Fatalf("second visit = %+v after %d hits, want OK without refresh", smp, hits.Load())
	}
}

// Run replays a tiny schedule against the backend itself: every scheduled request is
// accounted (sent or dropped), humans fetch pages and assets, the backend sees the labels.
func TestRunAccountsEveryRequest(t *testing.T) {
	sc := DefaultScenario()
	sc.Calm, sc.Flood, sc.FloodFactor, sc.ThinkTime, sc.Sites, sc.AttackedSites = 300*time.Millisecond, 500*time.Millisecond, 2, 50*time.Millisecond, 4, 1
	sc.Pool.DynamicCost, sc.HumanLoad = 5*time.Millisecond, 0.5
	sched, err := sc.Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBackend(sc.Pool)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop, err := StartBackend(b)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	res, err := Run(context.Background(), sc, sched, DefaultRunConfig(addr))
	if err != nil {
		t.Fatal(err)
	}
	open := map[Class]int{}
	humans := 0
	for _, s := range res.Samples {
		if s.Class == Humans {
			humans++
		} else {
			open[s.Class]++
		}
		if s.Outcome == Failed || s.Outcome == OtherStatus {
			t.Errorf("sample %+v: a transport error or odd status against the bare backend", s)
		}
	}
	want := map[Class]int{}
	for _, q := range sched.Requests {
		want[q.Class]++
	}
	for c, n := range want {
		if open[c] != n {
			t.Errorf("%s: %d samples, want one per scheduled request (%d)", c, open[c], n)
		}
	}
	if humans == 0 || len(sched.Sessions) == 0 {
		t.Fatalf("%d human samples from %d sessions", humans, len(sched.Sessions))
	}
	st := b.Stats()
	if st["human"]["calm"].Arrived == 0 || st["none"] != nil {
		t.Errorf("backend stats %+v: want labelled human traffic and nothing unlabelled", st)
	}
	if got := st[string(PostBurst)]["flood"].Arrived; got != int64(want[PostBurst]) {
		t.Errorf("backend saw %d POST-burst requests, want %d", got, want[PostBurst])
	}
	if _, err := Run(context.Background(), sc, sched, RunConfig{Target: "192.0.2.1:80"}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("Run to a non-loopback target: %v, want a loopback error", err)
	}
}

// Run spreads sessions and flood over several targets, gives regulars (and only them) their
// history cookie, and keeps the closed-loop flood within its bound.
func TestRunTargetsHistoryAndClosedLoop(t *testing.T) {
	sc := DefaultScenario()
	// The flood lasts long enough for 40 requests on a loaded machine: the bound, not the
	// clock, ends it.
	sc.Calm, sc.Flood, sc.ThinkTime, sc.Sites, sc.AttackedSites = 300*time.Millisecond, 1500*time.Millisecond, 50*time.Millisecond, 4, 1
	sc.Pool.DynamicCost, sc.HumanLoad, sc.People = 5*time.Millisecond, 0.5, 3
	sc.Closed = ClosedLoop{AI: 2, Stealth: 2}
	sched, err := sc.Build()
	if err != nil {
		t.Fatal(err)
	}
	regular := map[string]bool{}
	for _, s := range sched.Sessions {
		if s.Regular {
			regular[s.IP.String()] = true
		}
	}
	if len(regular) != 3 {
		t.Fatalf("%d regulars in the schedule, want 3", len(regular))
	}
	var mu sync.Mutex
	hits := map[int]int{}
	var regularWith, regularWithout, otherWith int
	var targets []string
	for k := range 2 {
		b, err := NewBackend(sc.Pool)
		if err != nil {
			t.Fatal(err)
		}
		addr, stop, err := StartBackend(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, cerr := r.Cookie("history")
			mu.Lock()
			hits[k]++
			if r.Header.Get(HeaderClass) == string(Humans) {
				switch ip := r.Header.Get("X-Forwarded-For"); {
				case regular[ip] && cerr == nil:
					regularWith++
				case regular[ip]:
					regularWithout++
				case cerr == nil:
					otherWith++
				}
			}
			mu.Unlock()
			b.ServeHTTP(w, r)
		}))
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		targets = append(targets, addr)
	}
	cfg := DefaultRunConfig("")
	cfg.Targets, cfg.MaxClosedRequests = targets, 40
	cfg.History = func(ip netip.Addr, ua, host string) *http.Cookie {
		if !regular[ip.String()] || ua == "" || !strings.HasSuffix(host, ".example.org") {
			t.Errorf("history asked for %v %q %q, want a regular's address, UA and site", ip, ua, host)
		}
		return &http.Cookie{Name: "history", Value: "visited"}
	}
	res, err := Run(context.Background(), sc, sched, cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := 0
	for _, s := range res.Samples {
		if s.Class == AICrawlers || s.Class == StealthScrapers {
			closed++
			if s.Phase != Flood {
				t.Errorf("closed-loop sample %+v outside the flood", s)
			}
		}
	}
	if closed == 0 || closed > 40 {
		t.Errorf("%d closed-loop samples, want some and at most the bound 40", closed)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits[0] == 0 || hits[1] == 0 {
		t.Errorf("requests per target %v, want both targets used", hits)
	}
	if regularWith == 0 || regularWithout != 0 || otherWith != 0 {
		t.Errorf("regulars' requests with the history cookie %d, without %d; others with it %d: want every regular's and nobody else's", regularWith, regularWithout, otherWith)
	}
}
