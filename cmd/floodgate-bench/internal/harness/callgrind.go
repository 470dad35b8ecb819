package harness

import (
	"bufio"
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

// Instruction counts under valgrind's callgrind: on a host without hardware counters (perf
// stat not supported, as in a VM) and shared with others, the CPU time per request from /proc
// read 1.09-1.45× plain Caddy for the same build between runs (figures/overhead-session7.md),
// more than any change to the request path. Callgrind counts the instructions the proxy
// executes in user space, deterministically: each arm's proxy runs under it, its counters are
// zeroed after a warm-up, a fixed number of requests is sent, and the counters are dumped.
// Kernel work (the syscalls of reading and writing the connections) is not counted: a ratio
// of instructions is user space's. It is not an upper bound of the ratio of CPU: strace -c
// counted 5 % more syscalls a request through floodgate than through plain Caddy.

// CallgrindWindow is one counted window of an arm under callgrind.
type CallgrindWindow struct {
	// Requests is how many requests the window sent.
	Requests int `json:"requests"`
	// Instructions is the user-space instructions (callgrind's Ir) the proxy executed in the
	// window, the background work of its timers and tickers included.
	Instructions uint64 `json:"instructions"`
	// Seconds is the window's wall-clock length (under valgrind).
	Seconds float64 `json:"seconds"`
	// Unexpected counts answers other than the arm's expected status (see loadOnce).
	Unexpected int `json:"unexpected"`
	// Pages counts, in a refusal arm, the 200s the crawler's budget let through.
	Pages int `json:"pages,omitempty"`
	// IdlePerSecond is the instructions a second of the idle proxy, counted over
	// callgrindIdle just before the window (see CallgrindArm.Net).
	IdlePerSecond float64 `json:"idle_instructions_per_second"`
}

// net is the window's instructions per request less its background (IdlePerSecond over
// its seconds).
func (w CallgrindWindow) net() float64 {
	return (float64(w.Instructions) - w.IdlePerSecond*w.Seconds) / float64(max(w.Requests, 1))
}

// CallgrindArm is one arm's instruction counts.
type CallgrindArm struct {
	// Name is the arm.
	Name string `json:"name"`
	// Windows are the counted windows, in order, in one proxy process.
	Windows []CallgrindWindow `json:"windows"`
	// PerRequest is the instructions per request over all windows, background included.
	PerRequest float64 `json:"instructions_per_request"`
	// Net is PerRequest less the background: the work floodgate does on the wall clock
	// whatever the requests (protect.Detector's Tick every second over every site, the
	// admission's wake probe), counted with no load just before each window and taken off
	// at that rate. Under valgrind a window lasts some 50 times longer than its requests do
	// natively, so the background weighs some 50 times more per request than natively:
	// 15-22 % of floodgate's windows (a first run, 2,000 requests), 0.3 % natively.
	Net float64 `json:"net_instructions_per_request"`
	// Spread is (max-min)/Net of the windows' net instructions per request: how repeatable
	// the count is.
	Spread float64 `json:"spread"`
	// Ratio is Net over the base arm's (plain Caddy's, or its respond 429).
	Ratio float64 `json:"ratio"`
	// BackgroundShare is the background's share of the windows' instructions.
	BackgroundShare float64 `json:"background_share"`
	// Dump is the last window's callgrind output file (for callgrind_annotate).
	Dump string `json:"dump"`
}

// spentCrawlerRules is loaded before the rules of the callgrind refusal arm: GPTBot's shipped
// identity rule (rules/20-ai-crawlers.yaml), the same two budgets (per bot+host, per bot), at
// a day's rate instead of a minute's. Under valgrind the arm sends some 20 requests a second,
// and the shipped budget (10 pages a second per bot) let every other one through: a first run
// counted 300 pages in 600 requests, the pages' proxying in the refusals' instructions. With
// these, every request after the first is refused the way a GPTBot past its budget is
// natively; the first identity rule that matches wins, so the shipped one is not reached (rule
// names are unique across files: this one's differs, its bot is the same).
const spentCrawlerRules = `rules:
  - name: 'GPTBot-spent'
    description: 'floodgate-bench callgrind: GPTBot with its budgets spent for the day'
    class: ai-crawler
    bot: 'GPTBot'
    match:
      user_agent: ['GPTBot']
    budgets:
      - rate: 1/day
        per: bot+host
        action: throttle
      - rate: 1/day
        per: bot
        action: throttle
`

// callgrindIdle is the length of the window without load that measures an arm's background
// instructions.
const callgrindIdle = 3 * time.Second

// callgrindWindows is how many counted windows each arm gets, one after the other in one
// process: two say whether the count repeats.
const callgrindWindows = 2

// callgrindAvailable says whether valgrind and callgrind_control are on PATH.
func callgrindAvailable() error {
	for _, b := range []string{"valgrind", "callgrind_control"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("-callgrind needs %s on PATH (Debian: valgrind): %w", b, err)
		}
	}
	return nil
}

// runCallgrind measures each arm's instructions per request: the arm's proxy under callgrind,
// warmed up with o.Callgrind requests, then callgrindWindows times: a forced garbage
// collection, its idle rate over callgrindIdle, a window of o.Callgrind requests.
// The arms run one after the other (valgrind runs a process's threads one at a time; two
// at once would only compete for the cores).
func runCallgrind(ctx context.Context, o OverheadOptions, arms []string, upstream, asndb, redisURL string, seq *atomic.Uint64) ([]CallgrindArm, error) {
	var out []CallgrindArm
	for _, arm := range arms {
		a, err := callgrindArm(ctx, o, arm, upstream, asndb, redisURL, seq)
		if err != nil {
			return out, fmt.Errorf("callgrind, arm %s: %w", arm, err)
		}
		fmt.Fprintf(o.Log, "callgrind %-17s %9.0f instructions/request net of background (%.0f with it; windows' spread %.2f%%)\n", arm, a.Net, a.PerRequest, 100*a.Spread)
		out = append(out, a)
	}
	for i := range out {
		for _, b := range out {
			if b.Name == baseArm(out[i].Name) && b.Net > 0 {
				out[i].Ratio = round4(out[i].Net / b.Net)
			}
		}
	}
	return out, nil
}

func callgrindArm(ctx context.Context, o OverheadOptions, arm, upstream, asndb, redisURL string, seq *atomic.Uint64) (CallgrindArm, error) {
	a := CallgrindArm{Name: arm}
	listen, err := FreeLoopbackAddr()
	if err != nil {
		return a, err
	}
	admin, err := FreeLoopbackAddr()
	if err != nil {
		return a, err
	}
	base := filepath.Join(o.Dir, "callgrind."+arm+".out")
	pc := overheadProxy(arm, o, listen, admin, upstream, asndb, redisURL)
	pc.Name = arm + "-callgrind"
	if arm == ArmFloodgateRefusal {
		spent := filepath.Join(o.Dir, "gptbot-spent.yaml")
		if err := os.WriteFile(spent, []byte(spentCrawlerRules), 0o644); err != nil {
			return a, err
		}
		rules := pc.Rules
		if len(rules) == 0 {
			rules = []string{"shipped"}
		}
		pc.Rules = append([]string{spent}, rules...)
	}
	pc.Wrap = []string{"valgrind", "--tool=callgrind", "--callgrind-out-file=" + base}
	// Go's asynchronous preemption signals trip callgrind (threads.c "sigNum ==
	// current_state.sig" assertion): every arm runs without them, the same for each.
	pc.Env = []string{"GODEBUG=asyncpreemptoff=1"}
	pc.StartTimeout = 5 * time.Minute
	p, err := StartProxy(ctx, pc)
	if err != nil {
		return a, err
	}
	defer func() { _ = p.Stop() }()
	refusals := refusalArm(arm)
	if _, err := loadCount(ctx, p, o.Concurrency, o.Callgrind, seq, refusals); err != nil {
		return a, err
	}
	dumps := 0
	count := func(during func() error) (uint64, float64, error) {
		if err := callgrindControl(ctx, "-z", p.PID()); err != nil {
			return 0, 0, err
		}
		t0 := time.Now()
		if err := during(); err != nil {
			return 0, 0, err
		}
		secs := time.Since(t0).Seconds()
		if err := callgrindControl(ctx, "-d", p.PID()); err != nil {
			return 0, 0, err
		}
		dumps++
		a.Dump = base + "." + strconv.Itoa(dumps)
		ir, err := waitCallgrindDump(ctx, a.Dump)
		return ir, secs, err
	}
	var total uint64
	var background float64
	var reqs int
	lo, hi := math.Inf(1), 0.0
	for w := 0; w < callgrindWindows; w++ {
		// Every window starts from a collected heap, so that its garbage collections come
		// at the same points of its requests: without, two windows of 3,000 requests were
		// 4-5 % apart (a collection more or less in one of them).
		if err := forceGC(ctx, p.Config.Admin); err != nil {
			return a, err
		}
		idle, idleSecs, err := count(func() error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(callgrindIdle):
				return nil
			}
		})
		if err != nil {
			return a, err
		}
		var res loadResult
		ir, secs, err := count(func() (err error) {
			res, err = loadCount(ctx, p, o.Concurrency, o.Callgrind, seq, refusals)
			return err
		})
		if err != nil {
			return a, err
		}
		win := CallgrindWindow{Requests: o.Callgrind, Instructions: ir, Seconds: round2(secs), Unexpected: res.unexpected, Pages: res.pages,
			IdlePerSecond: math.Round(float64(idle) / idleSecs)}
		a.Windows = append(a.Windows, win)
		lo, hi = math.Min(lo, win.net()), math.Max(hi, win.net())
		total, background, reqs = total+ir, background+win.IdlePerSecond*win.Seconds, reqs+o.Callgrind
	}
	a.PerRequest = math.Round(float64(total) / float64(reqs))
	a.Net = math.Round((float64(total) - background) / float64(reqs))
	a.Spread = round4((hi - lo) / a.Net)
	a.BackgroundShare = round4(background / float64(total))
	return a, nil
}

// forceGC makes the proxy whose admin endpoint is admin collect its garbage and waits
// until it has: Caddy's admin serves net/http/pprof, whose heap profile with gc=1 runs
// runtime.GC first.
func forceGC(ctx context.Context, admin string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("forcing a garbage collection: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("forcing a garbage collection: %s answered %d", req.URL, resp.StatusCode)
	}
	return nil
}

// callgrindControl runs callgrind_control with one option (-z zeroes the counters, -d
// dumps them) on the process pid.
func callgrindControl(ctx context.Context, opt string, pid int) error {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := exec.CommandContext(cctx, "callgrind_control", opt, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("callgrind_control %s %d: %v: %s", opt, pid, err, b)
	}
	if !strings.Contains(string(b), "OK") {
		return fmt.Errorf("callgrind_control %s %d: %s", opt, pid, b)
	}
	return nil
}

// waitCallgrindDump waits (at most a minute) until callgrind has written the dump file
// path in full, and returns its Ir total.
func waitCallgrindDump(ctx context.Context, path string) (uint64, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		f, err := os.Open(path)
		if err == nil {
			ir, perr := parseCallgrindIr(f)
			_ = f.Close()
			if perr == nil {
				return ir, nil
			}
			err = perr
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("callgrind dump %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// errNoCallgrindTotals says a callgrind output has no totals line (yet: callgrind writes it
// last).
var errNoCallgrindTotals = errors.New("no totals line in the callgrind output")

// parseCallgrindIr reads a callgrind output file and returns its total of Ir (instructions
// executed), from its "totals:" line, whose values are in the order of its "events:" line.
func parseCallgrindIr(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	irAt := -1
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "events:"):
			irAt = -1
			for i, e := range strings.Fields(strings.TrimPrefix(line, "events:")) {
				if e == "Ir" {
					irAt = i
				}
			}
		case strings.HasPrefix(line, "totals:"):
			if irAt < 0 {
				return 0, errors.New("callgrind output: a totals line without an events line naming Ir")
			}
			f := strings.Fields(strings.TrimPrefix(line, "totals:"))
			if irAt >= len(f) {
				return 0, fmt.Errorf("callgrind output: totals %q has no Ir value", line)
			}
			return strconv.ParseUint(f[irAt], 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errNoCallgrindTotals
}

// loadResult is what loadCount's requests got.
type loadResult struct {
	unexpected, pages int
}

// loadCount sends n requests of the overhead run to p over conc connections (see loadOnce)
// and counts the unexpected answers and, in a refusal arm, the pages let through.
func loadCount(ctx context.Context, p *Proxy, conc, n int, seq *atomic.Uint64, refusals bool) (loadResult, error) {
	tr, err := NewLoopbackTransport(p.Config.Listen, conc*2)
	if err != nil {
		return loadResult{}, err
	}
	defer tr.CloseIdleConnections()
	// Under valgrind a request can take a second (its code translated the first time).
	client := &http.Client{Transport: tr, Timeout: time.Minute, CheckRedirect: noRedirect}
	var left atomic.Int64
	left.Store(int64(n))
	var mu sync.Mutex
	var res loadResult
	var wg sync.WaitGroup
	for c := 0; c < conc; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 && ctx.Err() == nil {
				req, want := overheadRequest(ctx, p.Config.Listen, seq.Add(1), refusals)
				resp, err := client.Do(req)
				status := 0
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					status = resp.StatusCode
				}
				mu.Lock()
				if budgetRefill(refusals, status) {
					res.pages++
				} else if err != nil || status != want {
					res.unexpected++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return res, ctx.Err()
}

// callgrindMarkdown renders the instruction counts beside the /proc CPU ratios, "" without.
func (r *OverheadReport) callgrindMarkdown() string {
	if len(r.Callgrind) == 0 {
		return ""
	}
	cpu := map[string]float64{}
	for _, a := range r.Arms {
		cpu[a.Name] = a.CPURatio
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nInstructions under valgrind's callgrind (each arm's proxy alone, GODEBUG=asyncpreemptoff=1, %d connections; counters zeroed after %d warm-up requests, then %d windows of %d requests): "+
		"user-space instructions only — the kernel's work (syscalls on the connections) is not counted, and floodgate makes some 5 %% more syscalls a request than plain Caddy (strace -c), so the instruction ratio is user space's, not a bound of the CPU ratio. "+
		"Net: less the background, the instructions a second of the idle proxy (floodgate's per-second ticks over every site), counted for %v before each window and taken off at that rate (valgrind stretches a window some 50×, so its background weighs some 50× its native share). Ratios are of the net counts.\n\n",
		r.Options.Concurrency, r.Options.Callgrind, callgrindWindows, r.Options.Callgrind, callgrindIdle)
	b.WriteString("| arm | net instructions/request | per window | spread | ratio to base | CPU ratio (/proc) | with background | background share | unexpected | pages let through |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range r.Callgrind {
		var per []string
		unexpected, pages := 0, 0
		for _, w := range a.Windows {
			per = append(per, fmt.Sprintf("%.0f", w.net()))
			unexpected, pages = unexpected+w.Unexpected, pages+w.Pages
		}
		ratio, cpuRatio := "", ""
		if a.Name != ArmPlain {
			ratio = fmt.Sprintf("%.3f", a.Ratio)
			if c := cpu[a.Name]; c > 0 {
				cpuRatio = fmt.Sprintf("%.3f", c)
			}
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %.0f | %s | %d | %d |\n", a.Name, a.Net, strings.Join(per, " / "), pct2(a.Spread), ratio, cpuRatio, a.PerRequest, pct2(a.BackgroundShare), unexpected, pages)
	}
	b.WriteString("\nProfile an arm: `callgrind_annotate --inclusive=no --auto=no` on its `logs/callgrind.<arm>.out.N` (the last window; the odd N are the idle windows).\n")
	return b.String()
}
