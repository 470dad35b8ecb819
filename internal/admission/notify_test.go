package admission

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// pressLog records the sites AcquireNotify reported pressed.
type pressLog struct {
	mu    sync.Mutex
	sites []string
}

func (p *pressLog) pressed(site string) { p.mu.Lock(); p.sites = append(p.sites, site); p.mu.Unlock() }
func (p *pressLog) count(site string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.sites {
		if s == site {
			n++
		}
	}
	return n
}

// AcquireNotify reports pressure as it is met — while the request still waits, and as it is
// refused at once — so that the under-attack detector need not wait for the request to end;
// never for a request admitted at once, nor for a quiet site's visitor waiting behind
// another site's flood (the same rule as Ticket.Pressure).
func TestAcquireNotifyReportsPressureAsMet(t *testing.T) {
	c := newTestController(2, Options{QueueLen: 4, SiteQueueLen: 4})
	var log pressLog
	acquire := func(ctx context.Context, site string, tier Tier) (Ticket, error) {
		return c.AcquireNotify(ctx, site, tier, 0, log.pressed)
	}
	var held []Ticket
	for range 2 {
		tk, err := acquire(context.Background(), "flood.test", TierBrowser)
		if err != nil || tk.Waited {
			t.Fatalf("admitted at once: %v waited %v", err, tk.Waited)
		}
		held = append(held, tk)
	}
	if n := log.count("flood.test"); n != 0 {
		t.Fatalf("%d pressure reports for requests admitted at once, want 0", n)
	}
	out := make(chan outcome, 8)
	for i := range 4 {
		before := c.Stats().Waiting
		go func() {
			tk, err := acquire(context.Background(), "flood.test", TierUntrusted)
			out <- outcome{"flood", TierUntrusted, err, tk}
		}()
		eventually(t, "flood waiter", func() bool { return c.Stats().Waiting == before+1 })
		eventually(t, "pressure reported while waiting", func() bool { return log.count("flood.test") == i+1 })
	}
	if _, err := acquire(context.Background(), "flood.test", TierUntrusted); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("full queue: %v, want ErrQueueFull", err)
	}
	if n := log.count("flood.test"); n != 5 {
		t.Fatalf("%d pressure reports, want 5 (4 waiting, 1 refused)", n)
	}
	go func() {
		tk, err := acquire(context.Background(), "quiet.test", TierBrowser)
		out <- outcome{"quiet", TierBrowser, err, tk}
	}()
	if shed := <-out; shed.name != "flood" || !errors.Is(shed.err, ErrShed) {
		t.Fatalf("got %s %v, want a flood waiter shed for the quiet visitor", shed.name, shed.err)
	}
	held[0].Release(OutcomeIgnore)
	q := <-out
	if q.name != "quiet" || q.err != nil {
		t.Fatalf("got %s %v, want the quiet visitor admitted", q.name, q.err)
	}
	if n := log.count("quiet.test"); n != 0 {
		t.Fatalf("quiet site reported pressed %d times, want 0", n)
	}
	q.tk.Release(OutcomeIgnore)
	held[1].Release(OutcomeIgnore)
	for range 3 {
		o := <-out
		o.tk.Release(OutcomeIgnore)
	}
}
