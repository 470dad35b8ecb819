package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Overhead arm names.
const (
	// ArmFloodgateMemory is floodgate with the in-memory store.
	ArmFloodgateMemory = "floodgate-memory"
	// ArmFloodgateRedis is floodgate with the batched Redis store.
	ArmFloodgateRedis = "floodgate-redis"
	// ArmPlainRefusal is plain Caddy answering every request with its own respond 429:
	// the baseline of a refusal.
	ArmPlainRefusal = "plain-429"
	// ArmFloodgateRefusal is floodgate (memory store) refusing a GPTBot past its budget:
	// what a refusal under a flood costs, compared with ArmPlainRefusal.
	ArmFloodgateRefusal = "floodgate-429"
)

// baseArm is the arm an arm's ratios are measured against: plain Caddy's respond 429 for
// floodgate's refusal, plain Caddy's reverse_proxy for the rest.
func baseArm(arm string) string {
	if arm == ArmFloodgateRefusal {
		return ArmPlainRefusal
	}
	return ArmPlain
}

// overheadLog is every overhead arm's access log: encoded like a real one, written nowhere.
const overheadLog = "log {\n\toutput discard\n}\n"

// pacedRefusal is a refusal latency (ms) that says the refusals were held (paced), not
// answered at once: half of floodgate's hold.
const pacedRefusal = 500

// refusalArm says whether an arm's answers are refusals (429), not pages (200).
func refusalArm(arm string) bool { return arm == ArmPlainRefusal || arm == ArmFloodgateRefusal }

// OverheadSites is how many member sites the overhead load is spread over (issue 9's
// measure: 2,000): as on a shared host, each site sees a few requests a second (about 5 at
// 10,000 req/s), within every budget and below the under-attack triggers, so that floodgate
// takes its allowed path.
const OverheadSites = 2000

// OverheadOptions configure RunOverhead.
type OverheadOptions struct {
	// Bin is the floodgate binary.
	Bin string `json:"-"`
	// Dir receives Caddyfiles, logs and Redis's files.
	Dir string `json:"-"`
	// Concurrency is the load generator's number of connections, each sending one request
	// after the other.
	Concurrency int `json:"concurrency"`
	// Duration is one measurement's length.
	Duration time.Duration `json:"duration_ns"`
	// Warmup is sent to each proxy before the measurements.
	Warmup time.Duration `json:"warmup_ns"`
	// Repeats is how many measurements each arm gets, interleaved.
	Repeats int `json:"repeats"`
	// Redis adds the Redis-store arm.
	Redis bool `json:"redis"`
	// Refusals adds the refusal arms: plain Caddy's respond 429 and floodgate refusing a
	// GPTBot past its budget, same log and metrics (none), side by side.
	Refusals bool `json:"refusals"`
	// Callgrind, when positive, adds instruction counts: each arm's proxy runs again under
	// valgrind's callgrind, and its user-space instructions are counted over windows of
	// this many requests (see callgrind.go). 0: none.
	Callgrind int `json:"callgrind_requests,omitempty"`
	// Rules are the floodgate arms' rule files (default shipped).
	Rules []string `json:"rules,omitempty"`
	// Log receives progress lines.
	Log io.Writer `json:"-"`
}

// DefaultOverheadOptions are `-scenario overhead`'s defaults: about a minute and a half.
func DefaultOverheadOptions() OverheadOptions {
	return OverheadOptions{Concurrency: 16, Duration: 5 * time.Second, Warmup: 2 * time.Second, Repeats: 5, Redis: true, Refusals: true}
}

// Validate says what is wrong with o, if anything.
func (o OverheadOptions) Validate() error {
	var errs []error
	if o.Concurrency < 1 || o.Concurrency > 1024 {
		errs = append(errs, fmt.Errorf("concurrency %d: expected 1 to 1024", o.Concurrency))
	}
	if o.Duration <= 0 || o.Duration > 10*time.Minute || o.Warmup < 0 {
		errs = append(errs, fmt.Errorf("duration %v, warmup %v: expected a duration up to 10m and a warmup >= 0", o.Duration, o.Warmup))
	}
	if (o.Repeats < 1 && o.Callgrind == 0) || o.Repeats < 0 || o.Repeats > 100 {
		errs = append(errs, fmt.Errorf("repeats %d: expected 1 to 100 (0 only with callgrind)", o.Repeats))
	}
	if o.Callgrind < 0 || o.Callgrind > 100_000 {
		errs = append(errs, fmt.Errorf("callgrind %d: expected 0 (off) to 100000 requests a window", o.Callgrind))
	}
	return errors.Join(errs...)
}

// OverheadRun is one measurement of one arm.
type OverheadRun struct {
	// Arm is the arm.
	Arm string `json:"arm"`
	// Repeat is the round it belongs to (arms rotate their order every round).
	Repeat int `json:"repeat"`
	// Requests is how many requests completed.
	Requests int `json:"requests"`
	// Non200 counts answers other than 200 and errors (none expected on the allowed path).
	Non200 int `json:"non_200"`
	// RPS is requests per second.
	RPS float64 `json:"rps"`
	// Latency summarises the requests.
	Latency LatencySummary `json:"latency"`
	// CPUMicrosPerRequest is the proxy process's CPU time (user+system) per request.
	CPUMicrosPerRequest float64 `json:"cpu_us_per_request"`
	// SystemMicrosPerRequest is the part of CPUMicrosPerRequest spent in the kernel
	// (/proc/PID/stat stime): sockets, epoll, futex, page faults.
	SystemMicrosPerRequest float64 `json:"system_us_per_request"`
	// ReadCallsPerRequest and WriteCallsPerRequest are the proxy's read- and write-type
	// system calls per request (/proc/PID/io syscr, syscw): an answer written in two
	// writes, or a connection read twice, shows here.
	ReadCallsPerRequest  float64 `json:"read_calls_per_request"`
	WriteCallsPerRequest float64 `json:"write_calls_per_request"`
	// InstructionsPerRequest is from perf stat, when perf counts instructions here; else 0.
	InstructionsPerRequest float64 `json:"instructions_per_request,omitempty"`
	// SwitchesPerRequest and PreemptionsPerRequest are the proxy's context switches per
	// request, summed over its threads (/proc/PID/task/*/status): voluntary ones (a thread
	// parked in futex or epoll: a goroutine handed over, a timer, idle) and involuntary ones
	// (a thread preempted by the kernel). Where /proc CPU exceeds instructions, these say
	// whether the excess is the scheduler's.
	SwitchesPerRequest    float64 `json:"ctxt_switches_per_request"`
	PreemptionsPerRequest float64 `json:"preemptions_per_request"`
	// HeldPerRequest is the share of requests whose answer floodgate held before sending
	// it (floodgate_held_answers_total, both pacers, read from the proxy's metrics before
	// and after): a held answer is a park and a wake, so a refusal arm whose answers were
	// held measured the pacer, not a refusal's cost. 0 for plain Caddy.
	HeldPerRequest float64 `json:"held_per_request"`
}

// OverheadArm is the medians of one arm and its ratios to plain Caddy.
type OverheadArm struct {
	// Name is the arm.
	Name string `json:"name"`
	// MedianRPS, MedianP50 and MedianP99 are medians over the repeats.
	MedianRPS float64 `json:"median_rps"`
	// MedianP50 is the median of the repeats' p50 latency (ms).
	MedianP50 float64 `json:"median_p50_ms"`
	// MedianP99 is the median of the repeats' p99 latency (ms).
	MedianP99 float64 `json:"median_p99_ms"`
	// MedianCPU is the median CPU µs per request.
	MedianCPU float64 `json:"median_cpu_us_per_request"`
	// MedianSystem is the median of OverheadRun's SystemMicrosPerRequest.
	MedianSystem float64 `json:"median_system_us_per_request"`
	// MedianReads and MedianWrites are the medians of OverheadRun's read and write system
	// calls per request.
	MedianReads  float64 `json:"median_read_calls_per_request"`
	MedianWrites float64 `json:"median_write_calls_per_request"`
	// MedianInstructions is the median instructions per request (0 without perf).
	MedianInstructions float64 `json:"median_instructions_per_request,omitempty"`
	// MedianSwitches and MedianPreemptions are the medians of OverheadRun's per-request
	// voluntary and involuntary context switches.
	MedianSwitches    float64 `json:"median_ctxt_switches_per_request"`
	MedianPreemptions float64 `json:"median_preemptions_per_request"`
	// IdleCPUPerSecond is the proxy's CPU (ms) per second while the other arms were loaded:
	// its background work, charged to its requests in CPU per request too.
	IdleCPUPerSecond float64 `json:"idle_cpu_ms_per_second"`
	// MedianHeld is the median of OverheadRun's HeldPerRequest.
	MedianHeld float64 `json:"median_held_per_request"`
	// RPSRatio is the median over repeats of this arm's rps / plain's rps in the same round.
	RPSRatio float64 `json:"rps_ratio_to_plain"`
	// CPURatio is the median of the per-round CPU-per-request ratios to plain.
	CPURatio float64 `json:"cpu_ratio_to_plain"`
	// InstructionsRatio is the median of the per-round instructions ratios (0 without perf).
	InstructionsRatio float64 `json:"instructions_ratio_to_plain,omitempty"`
	// RPSSpread is (max-min)/median of the arm's rps over repeats: how noisy it was.
	RPSSpread float64 `json:"rps_spread"`
	// Non200 totals the unexpected answers.
	Non200 int `json:"non_200"`
}

// OverheadReport is the result of the overhead scenario.
type OverheadReport struct {
	// Scenario is "overhead".
	Scenario string `json:"scenario"`
	// Started is when the run started.
	Started time.Time `json:"started"`
	// Machine is where it ran.
	Machine Machine `json:"machine"`
	// Options are the run's settings.
	Options OverheadOptions `json:"options"`
	// Perf says whether instructions were counted, and if not why.
	Perf string `json:"perf"`
	// Arms are the medians and ratios.
	Arms []OverheadArm `json:"arms"`
	// Callgrind are the arms' instruction counts, when Options.Callgrind asked for them.
	Callgrind []CallgrindArm `json:"callgrind,omitempty"`
	// Runs are every measurement, in the order they ran.
	Runs []OverheadRun `json:"runs"`
	// TargetMet: every floodgate arm's RPSRatio ≥ 0.90.
	TargetMet bool `json:"target_rps_ratio_ge_0_90"`
	// Command reproduces the run.
	Command string `json:"command"`
	// Tree is the floodgate source the binary was built from (see AttackReport.Tree).
	Tree string `json:"tree"`
}

// fastBackend answers every request at once: the overhead scenario measures the proxies.
var fastBackend = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(pageBody[:1024])
})

// RunOverhead measures requests/s, latency and CPU per request through plain Caddy and
// floodgate's allowed path (browser User-Agent, every budget key under its rate), memory
// store then Redis store, in interleaved rounds.
func RunOverhead(ctx context.Context, o OverheadOptions) (*OverheadReport, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Callgrind > 0 {
		if err := callgrindAvailable(); err != nil {
			return nil, err
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	rep := &OverheadReport{Scenario: "overhead", Started: time.Now(), Machine: ThisMachine(), Options: o}
	upstream, stopBackend, err := StartBackend(fastBackend)
	if err != nil {
		return nil, err
	}
	defer stopBackend()
	asndb := filepath.Join(o.Dir, "bench-asn.mmdb")
	if err := WriteASNDB(asndb, Networks); err != nil {
		return nil, err
	}
	arms := []string{ArmPlain, ArmFloodgateMemory}
	var redisURL string
	if o.Redis {
		r, err := StartRedis(filepath.Join(o.Dir, "redis"))
		if err != nil {
			return nil, fmt.Errorf("%w (or pass -no-redis)", err)
		}
		defer r.Stop()
		redisURL = r.URL()
		arms = append(arms, ArmFloodgateRedis)
	}
	if o.Refusals {
		arms = append(arms, ArmPlainRefusal, ArmFloodgateRefusal)
	}
	proxies := map[string]*Proxy{}
	defer func() {
		for _, p := range proxies {
			_ = p.Stop()
		}
	}()
	for _, arm := range arms {
		listen, err := FreeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		admin, err := FreeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		pc := overheadProxy(arm, o, listen, admin, upstream, asndb, redisURL)
		p, err := StartProxy(ctx, pc)
		if err != nil {
			return nil, err
		}
		proxies[arm] = p
	}
	perfOK, perfWhy := perfWorks()
	rep.Perf = perfWhy
	fmt.Fprintf(o.Log, "overhead: arms %v, %d connections, %v × %d rounds; perf: %s\n", arms, o.Concurrency, o.Duration, o.Repeats, perfWhy)

	var ipSeq atomic.Uint64 // one address sequence for the whole run: every key stays under budget
	for _, arm := range arms {
		if _, err := loadOnce(ctx, proxies[arm], o.Concurrency, o.Warmup, &ipSeq, false, refusalArm(arm)); err != nil {
			return nil, err
		}
	}
	idle := startIdle(proxies)
	for round := 0; round < o.Repeats; round++ {
		for k := range arms {
			arm := arms[(k+round)%len(arms)] // rotate the order every round
			run, err := loadOnce(ctx, proxies[arm], o.Concurrency, o.Duration, &ipSeq, perfOK, refusalArm(arm))
			if err != nil {
				return nil, err
			}
			run.Arm, run.Repeat = arm, round
			rep.Runs = append(rep.Runs, run)
			fmt.Fprintf(o.Log, "round %d %-17s %8.0f req/s  p50 %.2f ms  p99 %.2f ms  cpu %.0f µs/req (system %.0f)  syscalls r/w %.2f/%.2f  non-200 %d\n", round, arm, run.RPS, run.Latency.P50, run.Latency.P99, run.CPUMicrosPerRequest, run.SystemMicrosPerRequest, run.ReadCallsPerRequest, run.WriteCallsPerRequest, run.Non200)
		}
	}
	rep.Arms = summarizeOverhead(arms, rep.Runs)
	idle.finish(rep.Arms, rep.Runs)
	if o.Callgrind > 0 {
		for _, p := range proxies {
			_ = p.Stop() // idle now: their memory back for valgrind's
		}
		cg, err := runCallgrind(ctx, o, arms, upstream, asndb, redisURL, &ipSeq)
		if err != nil {
			return nil, err
		}
		rep.Callgrind = cg
	}
	rep.TargetMet = true
	for _, a := range rep.Arms {
		if a.Name != ArmPlain && a.RPSRatio < 0.90 {
			rep.TargetMet = false
		}
		if a.Name == ArmFloodgateRefusal && a.MedianP50 >= pacedRefusal {
			// Held refusals: the arm measured an idle proxy, not a refusal's cost.
			fmt.Fprintf(o.Log, "arm %s: median p50 %.0f ms, its refusals were paced (a site under attack): its CPU per request is not a refusal's cost\n", a.Name, a.MedianP50)
		}
		if a.Name != ArmPlain && a.Non200 > 0 {
			// Refused requests are cheap: a ratio measured with them is not the allowed path's.
			rep.TargetMet = false
			fmt.Fprintf(o.Log, "arm %s answered %d requests with something else than 200: not the allowed path, the ratio does not count\n", a.Name, a.Non200)
		}
	}
	return rep, nil
}

// idleMeter measures each proxy's CPU while the others are loaded: its background work
// (timers, the under-attack detector's tick, the garbage collector's), which the CPU per
// request of its loaded windows includes too.
type idleMeter struct {
	start time.Time
	cpu0  map[string]time.Duration
	pids  map[string]int
}

func startIdle(proxies map[string]*Proxy) *idleMeter {
	m := &idleMeter{start: time.Now(), cpu0: map[string]time.Duration{}, pids: map[string]int{}}
	for arm, p := range proxies {
		if c, err := procCPU(p.PID()); err == nil {
			m.cpu0[arm], m.pids[arm] = c, p.PID()
		}
	}
	return m
}

// finish sets each arm's IdleCPUPerSecond: its CPU over the rounds less its loaded
// windows' (from runs), per second of the rest of the time.
func (m *idleMeter) finish(arms []OverheadArm, runs []OverheadRun) {
	total := time.Since(m.start).Seconds()
	for i := range arms {
		c0, ok := m.cpu0[arms[i].Name]
		if !ok {
			continue
		}
		c1, err := procCPU(m.pids[arms[i].Name])
		if err != nil {
			continue
		}
		var loadedCPU, loadedSecs float64
		for _, r := range runs {
			if r.Arm == arms[i].Name && r.RPS > 0 {
				loadedCPU += r.CPUMicrosPerRequest * float64(r.Requests) / 1e6
				loadedSecs += float64(r.Requests) / r.RPS
			}
		}
		if idleSecs := total - loadedSecs; idleSecs > 0 {
			arms[i].IdleCPUPerSecond = round2(math.Max(0, (c1-c0).Seconds()-loadedCPU) * 1e3 / idleSecs)
		}
	}
}

// overheadProxy is the configuration of an overhead arm's proxy. Every arm keeps the same
// access log (encoded, then discarded: its cost is the encoding, not a disk) and the same
// metrics: issue 9 measures floodgate against the same Caddy configuration without it.
func overheadProxy(arm string, o OverheadOptions, listen, admin, upstream, asndb, redisURL string) ProxyConfig {
	pc := ProxyConfig{Name: arm, Bin: o.Bin, Dir: o.Dir, Listen: listen, Admin: admin, Upstream: upstream,
		Metrics: true, SiteExtra: overheadLog}
	if arm == ArmPlainRefusal {
		pc.SiteExtra += "header Retry-After 60\nrespond 429\n"
	}
	if arm != ArmPlain && arm != ArmPlainRefusal {
		pc.Floodgate, pc.Rules, pc.ASNDB, pc.Store = true, o.Rules, asndb, "memory"
		if arm == ArmFloodgateRedis {
			pc.Store = redisURL
		}
	}
	return pc
}

// summarizeOverhead computes medians per arm and per-round ratios to plain.
func summarizeOverhead(arms []string, runs []OverheadRun) []OverheadArm {
	byRound := map[int]map[string]OverheadRun{}
	for _, r := range runs {
		if byRound[r.Repeat] == nil {
			byRound[r.Repeat] = map[string]OverheadRun{}
		}
		byRound[r.Repeat][r.Arm] = r
	}
	var out []OverheadArm
	for _, arm := range arms {
		var rps, p50, p99, cpu, ins, rr, cr, ir, sw, pre, held, sys, rd, wr []float64
		a := OverheadArm{Name: arm}
		for _, r := range runs {
			if r.Arm != arm {
				continue
			}
			rps, p50, p99, cpu = append(rps, r.RPS), append(p50, r.Latency.P50), append(p99, r.Latency.P99), append(cpu, r.CPUMicrosPerRequest)
			sw, pre = append(sw, r.SwitchesPerRequest), append(pre, r.PreemptionsPerRequest)
			held = append(held, r.HeldPerRequest)
			sys, rd, wr = append(sys, r.SystemMicrosPerRequest), append(rd, r.ReadCallsPerRequest), append(wr, r.WriteCallsPerRequest)
			if r.InstructionsPerRequest > 0 {
				ins = append(ins, r.InstructionsPerRequest)
			}
			a.Non200 += r.Non200
			if plain, ok := byRound[r.Repeat][baseArm(arm)]; ok {
				rr = append(rr, ratio(r.RPS, plain.RPS))
				cr = append(cr, ratio(r.CPUMicrosPerRequest, plain.CPUMicrosPerRequest))
				if r.InstructionsPerRequest > 0 && plain.InstructionsPerRequest > 0 {
					ir = append(ir, ratio(r.InstructionsPerRequest, plain.InstructionsPerRequest))
				}
			}
		}
		a.MedianRPS, a.MedianP50, a.MedianP99 = round2(Median(rps)), round2(Median(p50)), round2(Median(p99))
		a.MedianCPU, a.MedianInstructions = round2(Median(cpu)), math.Round(Median(ins))
		a.MedianSwitches, a.MedianPreemptions = round2(Median(sw)), round2(Median(pre))
		a.MedianHeld = round4(Median(held))
		a.MedianSystem, a.MedianReads, a.MedianWrites = round2(Median(sys)), round2(Median(rd)), round2(Median(wr))
		a.RPSRatio, a.CPURatio, a.InstructionsRatio = round4(Median(rr)), round4(Median(cr)), round4(Median(ir))
		if m := Median(rps); m > 0 && len(rps) > 0 {
			lo, hi := rps[0], rps[0]
			for _, v := range rps {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			a.RPSSpread = round4((hi - lo) / m)
		}
		out = append(out, a)
	}
	return out
}

// overheadAddr returns the n-th client address of the overhead run: a fresh one for every
// request (issue 9's measure: what floodgate adds to a client it has never seen, every
// budget key of it new), n spread over the 32,768 /24s of a residential network (90.0.0.0/9)
// so that each /24 sees one request in 32,768 and its per-prefix budget (1200/min) stays
// under its rate up to about 650,000 requests/s. Addresses repeat only after 8.3 million
// requests, more than a run sends.
func overheadAddr(n uint64) string {
	p := n % overheadPrefixes
	h := 1 + (n/overheadPrefixes)%254
	return fmt.Sprintf("90.%d.%d.%d", p>>8, p&255, h)
}

// overheadPrefixes is the number of /24s of the overhead run's clients.
const overheadPrefixes = 32768

// refusedAddr is the one address of the refused GPTBot, in a cloud network.
const refusedAddr = "3.0.0.5"

// overheadRequest is the n-th request of an overhead run sent to the proxy listening on
// listen, and the status it should get: a browser page of one of OverheadSites sites, from
// overheadAddr(n), or (refusals) the refused GPTBot's page of one of the same sites.
//
// The refused GPTBot crawls every site of the host, as crawlers do, past its budget of every
// site together (per bot): each site sees a few of its requests a second. On one site, the
// first pages it was allowed (its budget's burst, 16 at once) queued at admission, that
// backend pressure switched the site to under-attack within a second, and from then on its
// refusals were paced (held 1 s, modules/floodgate/pace.go): the arm measured an idle proxy,
// 16 requests a second. Spread over the sites, no site sees the 20 pages a window the
// detector needs, and every refusal is answered at once: the arm measures a refusal's cost.
//
// The URL names the proxy and the Host field the site: a transport keeps its idle
// connections per URL host, so URLs naming a thousand sites would find no idle connection
// most of the time and open (and close) one per request. The run measured connection set-up
// then (a new connection, its goroutine growing its stack, a TIME_WAIT socket each), and
// more of it every round, in both arms, instead of the proxies' work per request on conc
// connections; the refusal arms, one site, did reuse theirs.
//
// The browsers are what people run and send what browsers send: a current User-Agent
// (CurrentBrowserUserAgents), Accept and Accept-Language, as the matrix's people do. Until
// session 8 they sent only a User-Agent of BrowserUserAgents (uap-core samples, years out of
// date): floodgate ranks such clients in its lowest tiers (automation, untrusted), and with
// the instant backend on the same two cores the learned limit is 2-3, so nearly every one
// waited in admission (a block profile: 190 s of waiting in 15 s; 4.9 ms a request): the run
// measured admission's queue of the lowest tiers, 1.35-1.41x plain Caddy's CPU, not a
// browser's allowed path (figures/overhead-gomaxprocs.md).
func overheadRequest(ctx context.Context, listen string, n uint64, refusals bool) (*http.Request, int) {
	host, ua, addr, want := Host(int(n%OverheadSites)), CurrentBrowserUserAgents[n%uint64(len(CurrentBrowserUserAgents))], overheadAddr(n), http.StatusOK
	if refusals {
		ua, addr, want = AICrawlerAgents[0].UserAgent, refusedAddr, http.StatusTooManyRequests
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+listen+"/article/"+strconv.FormatUint(n%100000, 10), nil)
	req.Host = host
	req.Header.Set("User-Agent", ua)
	req.Header.Set("X-Forwarded-For", addr)
	if !refusals {
		req.Header.Set("Accept", BrowserAccept)
		req.Header.Set("Accept-Language", AcceptLanguages[n%uint64(len(AcceptLanguages))])
	}
	return req, want
}

// budgetRefill says whether status, in a refusal arm, is a page the GPTBot's budget let
// through: its budget for all sites together refills at 10 pages a second (600/min per bot),
// so of thousands of refusals a second a few are 200s — the budget doing its work, not an
// unexpected answer (0.2 % of the arm's requests at most, a negligible part of its CPU).
func budgetRefill(refusals bool, status int) bool {
	return refusals && status == http.StatusOK
}

// loadOnce runs conc connections against p for d, one request after the other on each:
// browsers from many addresses, each under its budgets (answers other than 200 count as
// unexpected), or with refusals one GPTBot past its budget (answers other than 429 do, but for the few 200s its budget refills: budgetRefill).
func loadOnce(ctx context.Context, p *Proxy, conc int, d time.Duration, seq *atomic.Uint64, withPerf, refusals bool) (OverheadRun, error) {
	if d <= 0 {
		return OverheadRun{}, nil
	}
	tr, err := NewLoopbackTransport(p.Config.Listen, conc*2)
	if err != nil {
		return OverheadRun{}, err
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: noRedirect}

	var perf *perfCounter
	if withPerf {
		perf = startPerf(p.PID())
	}
	held0 := heldAnswers(p) // before the CPU reading: serving /metrics is not a request's cost
	cpu0, cpuErr := procTimes(p.PID())
	sw0, swErr := procSwitches(p.PID())
	io0, ioErr := procIO(p.PID())
	start := time.Now()
	deadline := start.Add(d)
	lats := make([][]float64, conc)
	bad := make([]int, conc)
	var wg sync.WaitGroup
	const maxPerConn = 5_000_000
	for c := 0; c < conc; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < maxPerConn && time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				req, want := overheadRequest(ctx, p.Config.Listen, seq.Add(1), refusals)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
				lats[c] = append(lats[c], float64(time.Since(t0).Microseconds())/1000)
				if err != nil || (resp.StatusCode != want && !budgetRefill(refusals, resp.StatusCode)) {
					bad[c]++
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, cpuErr2 := procTimes(p.PID())
	sw1, swErr2 := procSwitches(p.PID())
	io1, ioErr2 := procIO(p.PID())
	held1 := heldAnswers(p)
	var instr float64
	if perf != nil {
		instr = perf.stop()
	}
	var all []float64
	run := OverheadRun{}
	for c := range lats {
		all = append(all, lats[c]...)
		run.Non200 += bad[c]
	}
	run.Requests = len(all)
	run.RPS = round2(float64(len(all)) / elapsed.Seconds())
	run.Latency = Summarize(all)
	if cpuErr == nil && cpuErr2 == nil && len(all) > 0 {
		user, system := cpu1.user-cpu0.user, cpu1.system-cpu0.system
		run.CPUMicrosPerRequest = round2((user + system).Seconds() * 1e6 / float64(len(all)))
		run.SystemMicrosPerRequest = round2(system.Seconds() * 1e6 / float64(len(all)))
	}
	if ioErr == nil && ioErr2 == nil && len(all) > 0 {
		run.ReadCallsPerRequest = round2(float64(io1.reads-io0.reads) / float64(len(all)))
		run.WriteCallsPerRequest = round2(float64(io1.writes-io0.writes) / float64(len(all)))
	}
	if swErr == nil && swErr2 == nil && len(all) > 0 {
		run.SwitchesPerRequest = round2(float64(sw1.voluntary-sw0.voluntary) / float64(len(all)))
		run.PreemptionsPerRequest = round2(float64(sw1.involuntary-sw0.involuntary) / float64(len(all)))
	}
	if len(all) > 0 {
		run.HeldPerRequest = round4((held1 - held0) / float64(len(all)))
	}
	if instr > 0 && len(all) > 0 {
		run.InstructionsPerRequest = math.Round(instr / float64(len(all)))
	}
	return run, ctx.Err()
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux
// architecture Go runs on.
const clockTicks = 100

// procCPU returns the process's user+system CPU time from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	t, err := procTimes(pid)
	return t.user + t.system, err
}

// cpuTimes are a process's CPU times so far: in user space and in the kernel.
type cpuTimes struct{ user, system time.Duration }

// procTimes returns the process's user and system CPU times from /proc/PID/stat.
func procTimes(pid int) (cpuTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: split after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpuTimes{}, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state is field 3, utime 14, stime 15 → indexes 11 and 12 here.
	if len(f) < 13 {
		return cpuTimes{}, errors.New("unexpected /proc stat format")
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return cpuTimes{}, errors.New("unexpected /proc stat format")
	}
	return cpuTimes{user: time.Duration(u) * time.Second / clockTicks, system: time.Duration(s) * time.Second / clockTicks}, nil
}

// ioCalls are a process's read- and write-type system calls so far (/proc/PID/io syscr
// and syscw: read, readv, recvmsg... and write, writev, sendmsg...; not epoll or futex).
type ioCalls struct{ reads, writes uint64 }

// procIO returns pid's read and write system calls so far.
func procIO(pid int) (ioCalls, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return ioCalls{}, err
	}
	return ioCalls{reads: statusField(b, "syscr:"), writes: statusField(b, "syscw:")}, nil
}

// switches are a process's context switches so far, summed over its threads.
type switches struct{ voluntary, involuntary uint64 }

// procSwitches sums the voluntary and involuntary context switches of pid's threads
// (/proc/PID/task/*/status; /proc/PID/status counts only the main thread's). A thread that
// exited takes its count with it: Go rarely ends a thread, so the sum barely undercounts.
func procSwitches(pid int) (switches, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return switches{}, err
	}
	var sum switches
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		sum.voluntary += statusField(b, "voluntary_ctxt_switches:")
		sum.involuntary += statusField(b, "nonvoluntary_ctxt_switches:")
	}
	return sum, nil
}

// statusField is the number after name at a line's start in a /proc status file, or 0.
func statusField(b []byte, name string) uint64 {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// perfWorks says whether `perf stat -e instructions` counts on this machine.
func perfWorks() (bool, string) {
	bin, err := exec.LookPath("perf")
	if err != nil {
		return false, "perf not installed (Debian: linux-perf); CPU time per request from /proc instead"
	}
	out, err := exec.Command(bin, "stat", "-x", ",", "-e", "instructions", "true").CombinedOutput()
	if err != nil {
		return false, fmt.Sprintf("perf stat failed (%v); CPU time per request from /proc instead", firstLine(out))
	}
	if _, ok := parsePerfInstructions(out); !ok {
		return false, fmt.Sprintf("perf cannot count instructions here (%q: no hardware counters, e.g. in a VM); CPU time per request from /proc instead", firstLine(out))
	}
	return true, "perf stat -e instructions"
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// parsePerfInstructions reads the count from perf stat -x, output.
func parsePerfInstructions(out []byte) (float64, bool) {
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Split(l, ",")
		if len(f) >= 3 && strings.HasPrefix(f[2], "instructions") {
			v, err := strconv.ParseFloat(f[0], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// perfCounter is a running `perf stat -p PID`.
type perfCounter struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func startPerf(pid int) *perfCounter {
	pc := &perfCounter{}
	pc.cmd = exec.Command("perf", "stat", "-x", ",", "-e", "instructions", "-p", strconv.Itoa(pid))
	pc.cmd.Stderr = &pc.out
	if err := pc.cmd.Start(); err != nil {
		return nil
	}
	time.Sleep(100 * time.Millisecond) // let perf attach
	return pc
}

// stop ends perf (SIGINT makes it print its counts) and returns the instructions counted.
func (pc *perfCounter) stop() float64 {
	_ = pc.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = pc.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = pc.cmd.Process.Kill()
		<-done
	}
	v, _ := parsePerfInstructions(pc.out.Bytes())
	return v
}

// Markdown renders the overhead report.
func (r *OverheadReport) Markdown() string {
	var b strings.Builder
	b.WriteString("# floodgate-bench: overhead next to plain Caddy\n\n")
	fmt.Fprintf(&b, "Run %s on %d CPUs (%s), load average %.2f at start; floodgate %s. Reproduce: `%s`\n\n", r.Started.UTC().Format(time.RFC3339), r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Load1, r.Tree, r.Command)
	fmt.Fprintf(&b, "%d connections, each sending one request after the other for %v per measurement; %d interleaved rounds (the arms' order rotates every round). "+
		"Backend answers at once (1 KB). Every arm keeps the same access log (encoded, output discard) and Caddy's metrics. floodgate's allowed path: browser User-Agents, a fresh client address for every request (over 32,768 /24s) and 2,000 member sites so that every budget key and every site stays under its rate (a refused request would make the ratio meaningless: the target counts as missed when any is refused), shipped rules, ASN database. Instructions: %s.\n\n",
		r.Options.Concurrency, r.Options.Duration, r.Options.Repeats, r.Perf)
	b.WriteString("Ratios are to plain Caddy in the same round; floodgate-429 (a GPTBot past its budget, refused) is compared with plain-429 (Caddy's own `respond 429`); their unexpected answers are those other than 429 (and, for floodgate-429, 200: its budget lets 10 pages a second through).\n\n")
	b.WriteString("| arm | median req/s | ratio to plain (median of rounds) | spread of req/s | median p50 ms | median p99 ms | CPU µs/req | CPU ratio | unexpected |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range r.Arms {
		fmt.Fprintf(&b, "| %s | %.0f | %.3f | %s | %.2f | %.2f | %.0f | %.3f | %d |\n", a.Name, a.MedianRPS, a.RPSRatio, pct(a.RPSSpread), a.MedianP50, a.MedianP99, a.MedianCPU, a.CPURatio, a.Non200)
	}
	if len(r.Arms) > 0 && r.Arms[0].MedianInstructions > 0 {
		b.WriteString("\n| arm | instructions/request | ratio to plain |\n|---|---:|---:|\n")
		for _, a := range r.Arms {
			fmt.Fprintf(&b, "| %s | %.0f | %.3f |\n", a.Name, a.MedianInstructions, a.InstructionsRatio)
		}
	}
	b.WriteString("\nThe proxy's CPU per request split into user space and kernel (/proc/PID/stat utime, stime), its read- and write-type system calls per request (/proc/PID/io syscr, syscw), its context switches per request (all its threads, /proc/PID/task/*/status): voluntary (a thread parked: futex, epoll, idle) and involuntary (preempted); the share of answers floodgate held before sending them (its pacers: a park and a wake each); and its CPU while the other arms were loaded (background: timers, the under-attack detector's tick, GC), per second.\n\n| arm | user µs/req | system µs/req | reads/req | writes/req | voluntary/req | involuntary/req | held/req | idle CPU ms/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range r.Arms {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.4f | %.1f |\n", a.Name, a.MedianCPU-a.MedianSystem, a.MedianSystem, a.MedianReads, a.MedianWrites, a.MedianSwitches, a.MedianPreemptions, a.MedianHeld, a.IdleCPUPerSecond)
	}
	b.WriteString(r.callgrindMarkdown())
	fmt.Fprintf(&b, "\nTarget (issue 6): floodgate's allowed path ≥ 0.90× plain Caddy's requests/s: **%s**.\n", passFail(r.TargetMet))
	b.WriteString("\n| round | arm | req/s | p50 ms | p99 ms | CPU µs/req | system µs/req | switches/req | preemptions/req |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, run := range r.Runs {
		fmt.Fprintf(&b, "| %d | %s | %.0f | %.2f | %.2f | %.0f | %.0f | %.2f | %.2f |\n", run.Repeat, run.Arm, run.RPS, run.Latency.P50, run.Latency.P99, run.CPUMicrosPerRequest, run.SystemMicrosPerRequest, run.SwitchesPerRequest, run.PreemptionsPerRequest)
	}
	return b.String()
}

// SVG renders the overhead report: requests/s per round and arm, and the median ratios.
func (r *OverheadReport) SVG() string {
	const W, H = 820.0, 420.0
	const x0, x1, top, bot = 80.0, 560.0, 70.0, 340.0
	d := &svgDoc{}
	d.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="DejaVu Sans, Arial, sans-serif">`+"\n", W, H, W, H)
	d.rect(0, 0, W, H, "#ffffff")
	d.text(W/2, 30, 18, "middle", "#000", "floodgate overhead: requests/s through each proxy, per interleaved round")
	hi := 1.0
	for _, run := range r.Runs {
		hi = math.Max(hi, run.RPS)
	}
	hi = niceCeil(hi)
	y := func(v float64) float64 { return bot - (bot-top)*v/hi }
	for i := 0; i <= 4; i++ {
		v := hi * float64(i) / 4
		d.line(x0, y(v), x1, y(v), "#dddddd", 1, "")
		d.text(x0-6, y(v)+4, 11, "end", "#333", fmt.Sprintf("%.0f", v))
	}
	rounds := r.Options.Repeats
	if rounds < 1 {
		rounds = 1
	}
	groupW := (x1 - x0) / float64(rounds)
	barW := groupW * 0.8 / float64(max(len(r.Arms), 1))
	idx := map[string]int{}
	for i, a := range r.Arms {
		idx[a.Name] = i
	}
	for _, run := range r.Runs {
		x := x0 + groupW*float64(run.Repeat) + groupW*0.1 + barW*float64(idx[run.Arm])
		d.rect(x, y(run.RPS), barW-2, bot-y(run.RPS), armColor(run.Arm))
	}
	for k := 0; k < rounds; k++ {
		d.text(x0+groupW*(float64(k)+0.5), bot+16, 11, "middle", "#333", fmt.Sprintf("round %d", k+1))
	}
	d.line(x0, bot, x1, bot, "#000", 1, "")
	ly := 90.0
	for _, a := range r.Arms {
		d.rect(x1+30, ly-11, 14, 14, armColor(a.Name))
		d.text(x1+50, ly, 13, "start", "#000", a.Name)
		d.text(x1+50, ly+16, 11, "start", "#333", fmt.Sprintf("median %.0f req/s, p99 %.2f ms", a.MedianRPS, a.MedianP99))
		if a.Name != ArmPlain {
			d.text(x1+50, ly+31, 11, "start", okColor(a.RPSRatio >= 0.9), fmt.Sprintf("%.3f× plain (target ≥ 0.90)", a.RPSRatio))
			d.text(x1+50, ly+46, 11, "start", "#333", fmt.Sprintf("CPU/request %.2f× plain", a.CPURatio))
		}
		ly += 70
	}
	d.text(x0, H-14, 11, "start", "#666", fmt.Sprintf("%d connections × %v per measurement · %d CPUs (%s) · load %.2f at start", r.Options.Concurrency, r.Options.Duration, r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Load1))
	d.f("</svg>\n")
	return d.b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// heldAnswers is the proxy's count of answers held by floodgate's pacers so far
// (floodgate_held_answers_total, summed over its kinds); 0 when it has none (plain Caddy)
// or its metrics cannot be read.
func heldAnswers(p *Proxy) float64 {
	lines, err := p.Metrics("floodgate_held_answers_total")
	if err != nil {
		return 0
	}
	var n float64
	for _, m := range ParseMetricLines(lines) {
		n += m.Value
	}
	return n
}
