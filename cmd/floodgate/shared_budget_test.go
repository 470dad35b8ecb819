package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/floodgate-proxy/floodgate/internal/redistest"
)

// floodgateProc is a floodgate process started by a test.
type floodgateProc struct {
	addr  string
	admin string // its admin endpoint, "" when off
	cmd   *exec.Cmd
	logs  *lockedLog
}

// startFloodgate runs the floodgate binary with a small Caddyfile: the given store, the e2e
// rule file, and a site that answers 200 itself (the backend is not what is measured here).
func startFloodgate(t *testing.T, store string) *floodgateProc {
	t.Helper()
	return startFloodgateWith(t, store, false, "")
}

// startFloodgateWith is startFloodgate, with Caddy's admin endpoint on a loopback port when
// admin is set, and the given rules ("" for the e2e rule file; "shipped" for the shipped
// rules).
func startFloodgateWith(t *testing.T, store string, admin bool, rules string) *floodgateProc {
	t.Helper()
	addr := freePort(t)
	adminLine, adminAddr := "admin off", ""
	if admin {
		adminAddr = freePort(t)
		adminLine = "admin " + adminAddr
	}
	rulesFile, _ := filepath.Abs("../../testdata/rules/e2e/gptbot600.yaml")
	if rules != "" {
		rulesFile = rules
	}
	cf := fmt.Sprintf(`{
	%s
	persist_config off
	servers {
		trusted_proxies static 127.0.0.1/32
	}
	floodgate {
		rules %s
		store %s
		# These tests count budgets: a crawler at 100 requests a second on one site would
		# (rightly) put it under attack, and its challenges would hide what is counted.
		protect {
			under_attack {
				rate off
			}
		}
	}
}
http://:%s {
	bind 127.0.0.1
	floodgate
	respond "ok" 200
}
`, adminLine, rulesFile, store, addr[strings.LastIndex(addr, ":")+1:])
	path := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(path, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &floodgateProc{addr: addr, admin: adminAddr, logs: &lockedLog{}}
	p.cmd = exec.Command(bin, "run", "--config", path)
	p.cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		if t.Failed() {
			t.Logf("floodgate %s logs:\n%s", addr, p.logs.String())
		}
	})
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("floodgate on %s did not come up", addr)
	return nil
}

// lockedLog collects a process's log: written by os/exec's copying goroutine, read by the
// test while the process runs.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// send makes one request from a client address in a /16 of many addresses.
func send(p *floodgateProc, ua string, i int) (int, error) {
	req, _ := http.NewRequest("GET", "http://"+p.addr+fmt.Sprintf("/page/%d", i), nil)
	req.Host = "member-site.example"
	req.Header.Set("User-Agent", ua)
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("3.0.%d.%d", i/250%250, i%250+1))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// tally counts answers by status.
type tally struct {
	ok, throttled, serverErr, other, failed atomic.Int64
}

func (c *tally) add(code int, err error) {
	switch {
	case err != nil:
		c.failed.Add(1)
	case code == 200:
		c.ok.Add(1)
	case code == 429:
		c.throttled.Add(1)
	case code >= 500:
		c.serverErr.Add(1)
	default:
		c.other.Add(1)
	}
}

func (c *tally) String() string {
	return fmt.Sprintf("200=%d 429=%d 5xx=%d other=%d failed=%d", c.ok.Load(), c.throttled.Load(), c.serverErr.Load(), c.other.Load(), c.failed.Load())
}

// paced sends n requests to p at a steady rate over d, at most 8 in flight, and tallies them.
func paced(p *floodgateProc, ua string, n int, d time.Duration, c *tally) {
	tick := time.NewTicker(d / time.Duration(n))
	defer tick.Stop()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		<-tick.C
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c.add(send(p, ua, i))
			<-sem
		}(i)
	}
	wg.Wait()
}

// awayFromMinuteEdge waits, if needed, so that a test of length d does not cross a minute
// boundary: budgets' windows are aligned to the clock, and the sliding window's estimate of
// the previous minute would let a few more through (documented in the README).
func awayFromMinuteEdge(d time.Duration) {
	if left := time.Minute - time.Duration(time.Now().UnixNano())%time.Minute; left < d+2*time.Second {
		time.Sleep(left + 100*time.Millisecond)
	}
}

const uaGPTBot = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"

// sharedBudget is issue 3's end-to-end check: two floodgate processes sharing one Redis, a
// GPTBot budget of 600/min, 1,000 GPTBot requests sent to each within 10 s: the total allowed
// stays within the documented bound, limit × 1.05 + N.
func sharedBudget(t *testing.T, storeURL string) {
	const perProxy, during = 1000, 10 * time.Second
	a := startFloodgate(t, storeURL)
	b := startFloodgate(t, storeURL)
	awayFromMinuteEdge(during)
	var ca, cb tally
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); paced(a, uaGPTBot, perProxy, during, &ca) }()
	go func() { defer wg.Done(); paced(b, uaGPTBot, perProxy, during, &cb) }()
	wg.Wait()
	allowed := ca.ok.Load() + cb.ok.Load()
	// The README's bound, whatever the rate (and however well the machine keeps pace: near
	// the limit each request asks Redis): limit × 1.05 + proxies.
	bound := int64(600*1.05) + 2
	t.Logf("proxy A: %v; proxy B: %v; allowed %d of %d (budget 600, bound %d)", &ca, &cb, allowed, 2*perProxy, bound)
	if ca.serverErr.Load()+cb.serverErr.Load()+ca.failed.Load()+cb.failed.Load() != 0 {
		t.Fatalf("server errors or failed requests: A %v, B %v", &ca, &cb)
	}
	if allowed > bound {
		t.Errorf("the two proxies allowed %d GPTBot requests, more than the documented bound %d", allowed, bound)
	}
	if allowed < 600 {
		t.Errorf("the two proxies allowed only %d GPTBot requests, fewer than the budget of 600", allowed)
	}
	if ca.ok.Load() < 100 || cb.ok.Load() < 100 {
		t.Errorf("one proxy allowed almost nothing (A %d, B %d): the budget is not shared fairly", ca.ok.Load(), cb.ok.Load())
	}
}

func TestTwoProxiesShareOneBudget(t *testing.T) {
	r := redistest.Start(t)
	sharedBudget(t, "redis://"+r.Addr)
}

func TestTwoProxiesShareOneBudgetOnCluster(t *testing.T) {
	nodes := redistest.StartCluster(t, 3)
	sharedBudget(t, "redis+cluster://"+strings.Join(nodes, ","))
}

// TestRedisDownSitesUp kills Redis while requests flow through floodgate: no request fails,
// budgets keep applying locally, and when Redis comes back the counts made meanwhile reach
// it, so a proxy started afterwards already sees the budget spent.
func TestRedisDownSitesUp(t *testing.T) {
	const ua = "SpreadBot/1.0" // 50/min per bot+host
	const browser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	r := redistest.Start(t)
	url := "redis://" + r.Addr + "?dial_timeout=100ms&read_timeout=100ms&write_timeout=100ms"
	a := startFloodgate(t, url)
	awayFromMinuteEdge(15 * time.Second)

	var before tally
	paced(a, ua, 20, time.Second, &before)
	if before.ok.Load() != 20 {
		t.Fatalf("before Redis goes away: %v, want 20 allowed", &before)
	}
	waitForCount(t, r.Addr, 20) // a sync carried the 20 to Redis
	r.Stop()

	var bots, people tally
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); paced(a, ua, 100, 2*time.Second, &bots) }()
	go func() { defer wg.Done(); paced(a, browser, 100, 2*time.Second, &people) }()
	wg.Wait()
	t.Logf("while Redis is down: SpreadBot %v; browsers %v", &bots, &people)
	if people.ok.Load() != 100 {
		t.Errorf("browsers while Redis is down: %v, want all 100 served", &people)
	}
	if bots.serverErr.Load()+bots.failed.Load() != 0 {
		t.Errorf("SpreadBot while Redis is down got server errors or failures: %v", &bots)
	}
	if got := bots.ok.Load(); got < 25 || got > 31 {
		t.Errorf("while Redis is down floodgate allowed %d more SpreadBot requests, want the local remainder of the budget (30)", got)
	}

	r.Restart()
	// The counts made meanwhile reach Redis (reconnect backoff is at most 5 s): the budget
	// of 50 is spent there.
	waitForCount(t, r.Addr, 50)

	// A proxy started now knows nothing locally: only Redis can tell it the budget is spent.
	c := startFloodgate(t, url)
	var fresh tally
	paced(c, ua, 20, time.Second, &fresh)
	t.Logf("new proxy after Redis returned: %v", &fresh)
	if fresh.ok.Load() >= 20 || fresh.throttled.Load() < 10 {
		t.Errorf("a new proxy allowed %d of 20 requests over a spent budget: the counts made while Redis was down did not resync", fresh.ok.Load())
	}
}

// waitForCount waits until a counter in the Redis at addr holds at least n (a sync carried
// the proxy's counts there), for at most 10 s.
func waitForCount(t *testing.T, addr string, n int64) {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		keys, _ := rc.Keys(ctx, "*").Result()
		for _, k := range keys {
			if v, err := rc.Get(ctx, k).Int64(); err == nil && v >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no counter in Redis reached %d within 10 s (keys %v): floodgate did not push its counts", n, keys)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisModesStartWithoutRedis is issue 10's row: with nothing on the Redis port, or a
// wrong password, floodgate still starts in both modes, serves every request, and says why
// in one clear log line (never "returned <nil>", never the password).
func TestRedisModesStartWithoutRedis(t *testing.T) {
	const browser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	locked := redistest.Start(t, "--requirepass", "right-secret")
	nothing := freePort(t)
	for _, tc := range []struct {
		name, url, mode, wantLog string
	}{
		{"exact, nothing on the port", "redis://" + nothing, "exact", "redis unreachable (exact mode)"},
		{"exact, wrong password", "redis://:wrong-secret@" + locked.Addr, "exact", "refused floodgate's credentials"},
		{"batched, wrong password", "redis://:wrong-secret@" + locked.Addr, "batched", "refused floodgate's credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startFloodgate(t, tc.url+" {\n\t\t\tmode "+tc.mode+"\n\t\t}")
			var c tally
			paced(p, browser, 20, time.Second, &c)
			if c.ok.Load() != 20 {
				t.Fatalf("requests with Redis unusable: %v, want all 20 served", &c)
			}
			// Batched mode only asks Redis near a limit or every 2 s: give it a moment.
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(p.logs.String(), tc.wantLog) {
				if time.Now().After(deadline) {
					t.Fatalf("no log line containing %q; logs:\n%s", tc.wantLog, p.logs.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			if logs := p.logs.String(); strings.Contains(logs, "returned <nil>") || strings.Contains(logs, "wrong-secret") {
				t.Fatalf("logs show an empty error or the password:\n%s", logs)
			}
		})
	}
}
