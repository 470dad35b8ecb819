package harness

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSummarizeOverhead(t *testing.T) {
	runs := []OverheadRun{
		{Arm: ArmPlain, Repeat: 0, RPS: 1000, CPUMicrosPerRequest: 100},
		{Arm: ArmFloodgateMemory, Repeat: 0, RPS: 900, CPUMicrosPerRequest: 120},
		{Arm: ArmPlain, Repeat: 1, RPS: 2000, CPUMicrosPerRequest: 100},
		{Arm: ArmFloodgateMemory, Repeat: 1, RPS: 1900, CPUMicrosPerRequest: 110, Non200: 2},
		{Arm: ArmPlain, Repeat: 2, RPS: 1500, CPUMicrosPerRequest: 100},
		{Arm: ArmFloodgateMemory, Repeat: 2, RPS: 1200, CPUMicrosPerRequest: 150},
	}
	arms := summarizeOverhead([]string{ArmPlain, ArmFloodgateMemory}, runs)
	if len(arms) != 2 {
		t.Fatalf("%d arms, want 2", len(arms))
	}
	p, f := arms[0], arms[1]
	if p.RPSRatio != 1 || p.MedianRPS != 1500 {
		t.Errorf("plain = %+v, want ratio 1 and median 1500", p)
	}
	// Per-round ratios 0.9, 0.95, 0.8: median 0.9 (not 1300/1500 from the medians).
	if f.RPSRatio != 0.9 || f.MedianRPS != 1200 || f.CPURatio != 1.2 || f.Non200 != 2 {
		t.Errorf("floodgate = %+v, want rps ratio 0.9, median 1200, CPU ratio 1.2, 2 non-200", f)
	}
	if f.RPSSpread != round4(1000.0/1200) {
		t.Errorf("spread = %v, want (1900-900)/1200", f.RPSSpread)
	}
	r := &OverheadReport{Options: DefaultOverheadOptions(), Arms: arms, Runs: runs, Perf: "none"}
	wellFormed(t, r.SVG())
	if md := r.Markdown(); !strings.Contains(md, "| floodgate-memory | 1200 | 0.900 |") {
		t.Errorf("markdown lacks the floodgate row:\n%s", md)
	}
}

func TestParsePerfInstructions(t *testing.T) {
	tests := []struct {
		out  string
		want float64
		ok   bool
	}{
		{"123456789,,instructions:u,1000,100.00,,\n", 123456789, true},
		{"4521,,instructions,2000,100.00,,", 4521, true},
		{"<not supported>,,instructions,0,100.00,,", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parsePerfInstructions([]byte(tt.out))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parsePerfInstructions(%q) = %v %v, want %v %v", tt.out, got, ok, tt.want, tt.ok)
		}
	}
}

func TestProcCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	x := 0
	for i := 0; i < 5e7; i++ { // burn a little CPU so the count is not zero
		x += i
	}
	d, err := procCPU(os.Getpid())
	if err != nil || d <= 0 {
		t.Errorf("procCPU(self) = %v, %v; want a positive time (x=%d)", d, err, x)
	}
	if _, err := procCPU(-1); err == nil {
		t.Error("procCPU(-1) succeeded")
	}
}

// procTimes splits the CPU into user and system time, and procIO counts system calls: a
// process that writes to a pipe makes write calls, and spends time in the kernel doing so.
func TestProcTimesAndIO(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skip("no /proc/PID/io")
	}
	io0, err := procIO(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	buf := make([]byte, 1)
	for range 20000 { // a write and a read each: about 40,000 system calls
		if _, err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	io1, err := procIO(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := io1.writes - io0.writes; d < 20000 {
		t.Errorf("write calls counted %d, want at least the 20,000 made", d)
	}
	if d := io1.reads - io0.reads; d < 20000 {
		t.Errorf("read calls counted %d, want at least the 20,000 made", d)
	}
	ct, err := procTimes(os.Getpid())
	if err != nil || ct.system <= 0 {
		t.Errorf("procTimes(self) = %+v, %v; want system time after 40,000 system calls", ct, err)
	}
	if all, err := procCPU(os.Getpid()); err != nil || all < ct.user+ct.system {
		t.Errorf("procCPU(self) = %v, %v; want at least user+system %v", all, err, ct.user+ct.system)
	}
	if _, err := procIO(-1); err == nil {
		t.Error("procIO(-1) succeeded")
	}
}

// The idle meter charges a proxy's CPU outside its loaded windows to the time the other
// arms were loaded.
func TestIdleMeterSubtractsLoadedWindows(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	m := &idleMeter{start: time.Now().Add(-10 * time.Second), cpu0: map[string]time.Duration{}, pids: map[string]int{}}
	c, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	m.cpu0["a"], m.pids["a"] = c-2*time.Second, os.Getpid() // 2 s of CPU since the start
	// Loaded 5 s of the 10, using 1.5 s of CPU then: 0.5 s in the 5 s idle = 100 ms/s.
	runs := []OverheadRun{{Arm: "a", Requests: 5000, RPS: 1000, CPUMicrosPerRequest: 300}}
	arms := []OverheadArm{{Name: "a"}, {Name: "unknown"}}
	m.finish(arms, runs)
	if got := arms[0].IdleCPUPerSecond; got < 95 || got > 115 {
		t.Errorf("idle CPU %v ms/s, want about 100", got)
	}
	if arms[1].IdleCPUPerSecond != 0 {
		t.Errorf("an arm without a proxy got idle CPU %v", arms[1].IdleCPUPerSecond)
	}
}

// Every request of the overhead run comes from an address floodgate has not seen (issue 9's
// measure), spread evenly over the /24s of the residential network.
func TestOverheadAddrsFreshAndUnderBudgets(t *testing.T) {
	res := netip.MustParsePrefix("90.0.0.0/9")
	perPrefix := map[string]int{}
	seen := map[string]bool{}
	const n = overheadPrefixes * 8
	for i := uint64(0); i < n; i++ {
		s := overheadAddr(i)
		if seen[s] {
			t.Fatalf("request %d: address %s seen before", i, s)
		}
		seen[s] = true
		a := netip.MustParseAddr(s)
		if !res.Contains(a) {
			t.Fatalf("address %v outside the residential network", a)
		}
		p, _ := a.Prefix(24)
		perPrefix[p.String()]++
	}
	if len(perPrefix) != overheadPrefixes {
		t.Errorf("%d /24s, want %d", len(perPrefix), overheadPrefixes)
	}
	for p, c := range perPrefix {
		if c != 8 {
			t.Fatalf("%s got %d of %d requests, want an even spread", p, c, n)
		}
	}
}

func TestOverheadOptionsValidate(t *testing.T) {
	if err := DefaultOverheadOptions().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	bad := DefaultOverheadOptions()
	bad.Concurrency, bad.Repeats = 0, 0
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "concurrency 0") || !strings.Contains(err.Error(), "repeats 0") {
		t.Errorf("Validate() = %v, want both problems named", err)
	}
}

// floodgate's refusal is compared with plain Caddy's own respond 429, not with its pages.
func TestSummarizeOverheadRefusalBase(t *testing.T) {
	runs := []OverheadRun{
		{Arm: ArmPlain, Repeat: 0, RPS: 1000, CPUMicrosPerRequest: 100},
		{Arm: ArmPlainRefusal, Repeat: 0, RPS: 4000, CPUMicrosPerRequest: 40},
		{Arm: ArmFloodgateRefusal, Repeat: 0, RPS: 3000, CPUMicrosPerRequest: 44},
	}
	runs[2].SystemMicrosPerRequest, runs[2].ReadCallsPerRequest, runs[2].WriteCallsPerRequest = 8, 2, 1.02
	arms := summarizeOverhead([]string{ArmPlain, ArmPlainRefusal, ArmFloodgateRefusal}, runs)
	if got := arms[2]; got.MedianSystem != 8 || got.MedianReads != 2 || got.MedianWrites != 1.02 {
		t.Errorf("floodgate-429: system %v µs/req, reads %v, writes %v; want 8, 2, 1.02", got.MedianSystem, got.MedianReads, got.MedianWrites)
	}
	if got := arms[2]; got.CPURatio != 1.1 || got.RPSRatio != 0.75 {
		t.Errorf("floodgate-429: CPU ratio %v, req/s ratio %v; want 1.1 and 0.75 (to plain-429)", got.CPURatio, got.RPSRatio)
	}
	if got := arms[1]; got.CPURatio != 0.4 {
		t.Errorf("plain-429: CPU ratio %v, want 0.4 (to plain)", got.CPURatio)
	}
}

// TestOverheadRequestsReuseConnections: the overhead load's requests, for a thousand sites,
// go over the connection the client holds, not a new one each (which measured connection
// set-up, not the proxy's work per request), and each names its site in Host.
func TestOverheadRequestsReuseConnections(t *testing.T) {
	var conns atomic.Int64
	hosts := map[string]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts[r.Host] = true // one connection, one request at a time
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	listen := srv.Listener.Addr().String()
	tr, err := NewLoopbackTransport(listen, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	const n = 200
	for i := uint64(1); i <= n; i++ {
		req, want := overheadRequest(context.Background(), listen, i, false)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || want != http.StatusOK {
			t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
		// A browser people run, sending what browsers send: floodgate ranks an outdated
		// User-Agent or a bare request in its lowest tiers, and the run would measure
		// admission's queue instead of a browser's allowed path.
		if ua := req.Header.Get("User-Agent"); !slices.Contains(CurrentBrowserUserAgents, ua) {
			t.Fatalf("request %d: User-Agent %q is not a current browser's", i, ua)
		}
		if req.Header.Get("Accept") == "" || req.Header.Get("Accept-Language") == "" {
			t.Fatalf("request %d: no Accept or Accept-Language: %v", i, req.Header)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("%d requests one after the other opened %d connections, want 1", n, got)
	}
	if len(hosts) != n {
		t.Errorf("%d requests named %d sites, want %d", n, len(hosts), n)
	}
}

// TestOverheadRefusalsSpreadOverSites: the refused GPTBot's requests name many sites, so
// that none of them sees enough pages to be switched to under-attack (whose refusals are
// held a second: the arm would measure an idle proxy), each from the crawler's address.
func TestOverheadRefusalsSpreadOverSites(t *testing.T) {
	hosts := map[string]bool{}
	const n = 2 * OverheadSites
	for i := uint64(1); i <= n; i++ {
		req, want := overheadRequest(context.Background(), "127.0.0.1:1", i, true)
		if want != http.StatusTooManyRequests {
			t.Fatalf("request %d: want %d, expected 429", i, want)
		}
		if ua := req.Header.Get("User-Agent"); !strings.Contains(ua, "GPTBot") {
			t.Fatalf("request %d: User-Agent %q, want GPTBot's", i, ua)
		}
		if got := req.Header.Get("X-Forwarded-For"); got != refusedAddr {
			t.Fatalf("request %d: from %q, want %q", i, got, refusedAddr)
		}
		hosts[req.Host] = true
	}
	if len(hosts) != OverheadSites {
		t.Errorf("%d refusals named %d sites, want %d", n, len(hosts), OverheadSites)
	}
}

// Every arm runs the same Caddy configuration but for floodgate (and plain-429's respond):
// the same access log and metrics, so that the ratios price floodgate alone.
func TestOverheadArmsSameLogAndMetrics(t *testing.T) {
	o := DefaultOverheadOptions()
	for _, arm := range []string{ArmPlain, ArmFloodgateMemory, ArmFloodgateRedis, ArmPlainRefusal, ArmFloodgateRefusal} {
		cf := overheadProxy(arm, o, "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "asn.mmdb", "redis://127.0.0.1:4").Caddyfile()
		for _, want := range []string{"\tmetrics\n", "\tlog {\n\t\toutput discard\n\t}\n"} {
			if !strings.Contains(cf, want) {
				t.Errorf("arm %s: Caddyfile lacks %q:\n%s", arm, want, cf)
			}
		}
		if fg := strings.Contains(cf, "\tfloodgate\n"); fg != (arm != ArmPlain && arm != ArmPlainRefusal) {
			t.Errorf("arm %s: floodgate directive %v", arm, fg)
		}
	}
}

func TestProcSwitches(t *testing.T) {
	for range 3 {
		time.Sleep(time.Millisecond) // a sleeping thread parks: voluntary switches
	}
	sw, err := procSwitches(os.Getpid())
	if err != nil || sw.voluntary == 0 {
		t.Errorf("procSwitches(self) = %+v, %v; want voluntary switches after sleeps", sw, err)
	}
	if _, err := procSwitches(-1); err == nil {
		t.Error("procSwitches(-1) succeeded")
	}
	status := []byte("Name:\tcaddy\nvoluntary_ctxt_switches:\t1234\nnonvoluntary_ctxt_switches:\t56\n")
	if v, n := statusField(status, "voluntary_ctxt_switches:"), statusField(status, "nonvoluntary_ctxt_switches:"); v != 1234 || n != 56 {
		t.Errorf("statusField = %d, %d; want 1234, 56", v, n)
	}
	if v := statusField(status, "Threads:"); v != 0 {
		t.Errorf("statusField(missing) = %d; want 0", v)
	}
}

// TestHeldAnswers: the count of held answers is summed over the pacers' kinds from the
// admin endpoint's metrics, other metrics ignored; an endpoint without it (plain Caddy) or
// one that does not answer reads 0.
func TestHeldAnswers(t *testing.T) {
	metrics := "# HELP floodgate_held_answers_total Answers held.\n" +
		"# TYPE floodgate_held_answers_total counter\n" +
		"floodgate_held_answers_total{kind=\"answer\"} 12\n" +
		"floodgate_held_answers_total{kind=\"refusal\"} 30\n" +
		"floodgate_answer_hold_seconds 0.02\n" +
		"caddy_http_requests_total{server=\"srv0\"} 999\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, metrics)
	}))
	defer srv.Close()
	p := &Proxy{Config: ProxyConfig{Name: "fg", Admin: strings.TrimPrefix(srv.URL, "http://")}}
	if n := heldAnswers(p); n != 42 {
		t.Errorf("heldAnswers = %v; want 42 (12 answers + 30 refusals)", n)
	}
	metrics = "caddy_http_requests_total{server=\"srv0\"} 999\n"
	if n := heldAnswers(p); n != 0 {
		t.Errorf("heldAnswers(plain Caddy) = %v; want 0", n)
	}
	srv.Close()
	if n := heldAnswers(p); n != 0 {
		t.Errorf("heldAnswers(no endpoint) = %v; want 0", n)
	}
}
