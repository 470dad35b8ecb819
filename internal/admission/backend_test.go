package admission

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// workerBackend is a real HTTP backend on loopback with a number of workers that can change
// while it runs, each page taking service; requests past the workers queue, as PHP-FPM's do.
type workerBackend struct {
	mu      sync.Mutex
	cond    *sync.Cond
	workers int
	busy    int
	service time.Duration
}

func newWorkerBackend(workers int, service time.Duration) *workerBackend {
	b := &workerBackend{workers: workers, service: service}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *workerBackend) setWorkers(n int) {
	b.mu.Lock()
	b.workers = n
	b.mu.Unlock()
	b.cond.Broadcast()
}

func (b *workerBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	for b.busy >= b.workers {
		b.cond.Wait()
	}
	b.busy++
	b.mu.Unlock()
	time.Sleep(b.service)
	b.mu.Lock()
	b.busy--
	b.mu.Unlock()
	b.cond.Signal()
	io.WriteString(w, "page")
}

// The limit rises and falls with a real backend whose capacity changes mid-test: a flood of
// clients that always want more, through the Controller to a loopback server with 2, then
// 12, then 2 workers. Phases are counted in answers, not in time.
func TestLimitFollowsRealBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a loopback backend for a few seconds")
	}
	be := newWorkerBackend(2, 25*time.Millisecond)
	srv := httptest.NewServer(be)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	c := New(Options{MaxWait: time.Minute})
	var answers atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 48; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				tk, err := c.Acquire(ctx, "site.test", TierBrowser, 0)
				if err != nil {
					continue
				}
				resp, err := client.Get(srv.URL)
				if err != nil {
					tk.Release(OutcomeIgnore)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				tk.Release(OutcomeOK)
				answers.Add(1)
			}
		}()
	}
	runFor := func(n int64) {
		start := answers.Load()
		eventually2(t, func() bool { return answers.Load()-start >= n })
	}
	// The assertions are relative where the test machine's own load shows in latency (a
	// busy CPU is a slower backend): the limit at least doubles when workers go from 2 to 12
	// and at least halves when they go back. Each phase is given its answers, then up to
	// 1,600 more, a hundred at a time, until the limit is where it should be: the test
	// asserts that the limit follows the backend, not how fast. On a loaded CI machine (every
	// package's tests at once, under the race detector) latency is noisy, a tested cut is
	// kept only when it helps measurably (limit.go), and a fixed count fell short: 400
	// answers going back left the limit at 7 (from 11) once; a first window slowed by the
	// machine learned a baseline of 88 ms for 2 workers x 25 ms and a limit of 12.
	phase := func(workers int, answers int64, ok func(limit int) bool) int {
		be.setWorkers(workers)
		runFor(answers)
		limit := c.Stats().Limit
		for extra := 0; !ok(limit) && extra < 1600; extra += 100 {
			runFor(100)
			limit = c.Stats().Limit
		}
		s := c.Stats()
		t.Logf("%d workers: limit %d, baseline %v, proxy delay %v", workers, s.Limit, s.Baseline, s.Delay)
		return limit
	}
	low := phase(2, 200, func(l int) bool { return l <= 6 })
	if low > 6 {
		t.Errorf("2 workers: limit %d, want at most 6", low)
	}
	rise := max(8, 2*low)
	high := phase(12, 1500, func(l int) bool { return l >= rise })
	if high < rise {
		t.Errorf("12 workers: limit %d, want it to rise to at least %d", high, rise)
	}
	fall := min(6, high/2)
	if back := phase(2, 400, func(l int) bool { return l <= fall }); back > fall {
		t.Errorf("back to 2 workers: limit %d, want it to fall to at most %d", back, fall)
	}
	stop()
	wg.Wait()
}

// eventually2 waits for cond without a time bound of its own beyond a generous one; it
// synchronises with the load, it asserts nothing on time.
func eventually2(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("load made no progress")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Under a flood of untrusted clients that retry as fast as refusals come back, every
// browser request is admitted (none is shed or times out), and the untrusted are the ones
// refused: a real loopback backend of 4 workers, a short queue.
func TestPeopleFirstUnderFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a loopback backend for a few seconds")
	}
	be := newWorkerBackend(4, 10*time.Millisecond)
	srv := httptest.NewServer(be)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 128}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	c := New(Options{QueueLen: 32, MaxWait: time.Second})
	get := func(ctx context.Context, tier Tier) error {
		tk, err := c.Acquire(ctx, "site.test", tier, 0)
		if err != nil {
			return err
		}
		resp, err := client.Get(srv.URL)
		if err != nil {
			tk.Release(OutcomeIgnore)
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		tk.Release(OutcomeOK)
		return nil
	}
	ctx, stop := context.WithCancel(context.Background())
	var refused, served atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := get(ctx, TierUntrusted); err != nil {
					refused.Add(1)
					time.Sleep(time.Millisecond) // a refusal's round trip
				} else {
					served.Add(1)
				}
			}
		}()
	}
	var people sync.WaitGroup
	var peopleRefused atomic.Int64
	for p := 0; p < 4; p++ {
		people.Add(1)
		go func() {
			defer people.Done()
			for i := 0; i < 50; i++ {
				if err := get(context.Background(), TierBrowser); err != nil {
					peopleRefused.Add(1)
					t.Errorf("a browser request refused under a flood of untrusted clients: %v", err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	people.Wait()
	stop()
	wg.Wait()
	t.Logf("untrusted: %d served, %d refused; people: 200 asked, %d refused; limit %d", served.Load(), refused.Load(), peopleRefused.Load(), c.Stats().Limit)
	if refused.Load() == 0 {
		t.Error("the flood was never refused: the test's flood is too weak to show anything")
	}
}
