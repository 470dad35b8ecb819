package admission

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The ends of a wait that meet a decision taken under the lock: the waiter's select has
// returned (its wait bound passed, or its client left) while the Controller, before the
// waiter takes the lock back, grants it a slot or gives its place away. The test holds the
// Controller's lock while the wait ends and the decision is taken, so that the waiter finds
// both; whichever case its select took, the outcome is the same (the sleep under the lock
// only lets the waiter's select return first, which makes the later case the likely one;
// nothing is asserted on time).

// queuedLocked starts an Acquire in a goroutine and returns once it waits in the queue,
// with c's lock held: however soon its wait bound passes, the waiter is still in the queue
// and cannot leave it before the lock is released. It reports false, the lock not held, when
// the Acquire ended before it was seen waiting (its bound passed first on a loaded machine):
// the case to set up did not happen, and the caller tries again.
func queuedLocked(t *testing.T, c *Controller, ctx context.Context, tier Tier, out chan outcome) bool {
	t.Helper()
	before := c.Stats().Waiting
	go func() {
		tk, err := c.Acquire(ctx, "a.test", tier, 0)
		out <- outcome{"waiter", tier, err, tk}
	}()
	for range 20000 {
		c.mu.Lock()
		if c.waiting == before+1 {
			return true
		}
		c.mu.Unlock()
		select {
		case o := <-out:
			if o.err == nil {
				t.Fatalf("the waiter was admitted at once")
			}
			return false
		case <-time.After(500 * time.Microsecond):
		}
	}
	t.Fatalf("never happened: the waiter waiting")
	return false
}

// whileWaitEnds, c's lock held, runs end (which ends the wait), lets the waiter's select
// return, then runs decide under the same lock hold, and releases the lock.
func whileWaitEnds(c *Controller, end, decide func()) {
	end()
	time.Sleep(30 * time.Millisecond)
	decide()
	c.mu.Unlock()
}

// grantFrom frees the slot of t and hands it to the next waiter, as Release does; c.mu is held.
func (c *Controller) grantFrom(t Ticket) {
	c.finish(t.site, t.tier, t.static)
	c.dispatch(c.clock())
}

// A waiter granted a slot as its wait bound passes uses the slot: Acquire admits it.
func TestWaitBoundMeetsGrant(t *testing.T) {
	for done := 0; done < 8; {
		c := newTestController(1, Options{MaxWait: 10 * time.Millisecond})
		held := hold(t, c, "a.test", 0, 1)
		out := make(chan outcome, 1)
		if !queuedLocked(t, c, context.Background(), TierBrowser, out) {
			continue
		}
		done++
		whileWaitEnds(c, func() {}, func() { c.grantFrom(held[0]) })
		o := <-out
		if o.err != nil || o.tk.c == nil || !o.tk.Waited {
			t.Fatalf("granted as its wait ended: got %v, %+v; want admitted after waiting", o.err, o.tk)
		}
		if s := c.Stats(); s.Inflight != 1 || s.Waiting != 0 {
			t.Errorf("with the waiter admitted: %+v, want 1 in flight, none waiting", s)
		}
		o.tk.Release(OutcomeIgnore)
		if s := c.Stats(); s.Inflight != 0 {
			t.Errorf("after its release: %d in flight, want 0", s.Inflight)
		}
	}
}

// A waiter granted a slot as its client leaves either takes it (its select saw the grant) or
// gives it to the next waiter: the slot is never lost.
func TestClientLeavesMeetsGrant(t *testing.T) {
	for range 8 {
		c := newTestController(1, Options{MaxWait: time.Hour})
		held := hold(t, c, "a.test", 0, 1)
		ctx, cancel := context.WithCancel(context.Background())
		first, next := make(chan outcome, 1), make(chan outcome, 1)
		queued(t, c, ctx, "a.test", TierBrowser, 0, "leaving", first)
		queued(t, c, context.Background(), "a.test", TierBrowser, 0, "next", next)
		c.mu.Lock()
		whileWaitEnds(c, cancel, func() { c.grantFrom(held[0]) })
		switch o := <-first; {
		case o.err == nil:
			o.tk.Release(OutcomeIgnore) // it took the slot; the next waiter has it now
		case !errors.Is(o.err, context.Canceled):
			t.Fatalf("leaving: got %v, want admitted or context.Canceled", o.err)
		}
		o := <-next
		if o.err != nil {
			t.Fatalf("next: got %v, want the slot the leaving waiter was granted", o.err)
		}
		o.tk.Release(OutcomeIgnore)
		if s := c.Stats(); s.Inflight != 0 || s.Waiting != 0 {
			t.Errorf("after all: %+v, want nothing in flight or waiting", s)
		}
	}
}

// A waiter pushed out as its client leaves, or as its wait bound passes, is told its place
// went to a more trusted request (ErrShed), and leaves nothing behind.
func TestWaitEndMeetsPushOut(t *testing.T) {
	for i := 0; i < 8; {
		c := newTestController(1, Options{MaxWait: 10 * time.Millisecond})
		held := hold(t, c, "a.test", 0, 1)
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan outcome, 1)
		if !queuedLocked(t, c, ctx, TierUntrusted, out) {
			cancel()
			continue
		}
		i++
		end := func() {} // the wait bound
		if i%2 == 0 {
			end = cancel // the client leaves
		}
		whileWaitEnds(c, end, func() {
			if !c.pushOutOfSite(held[0].site, TierTrusted) {
				t.Error("pushOutOfSite found nobody to push out")
			}
		})
		if o := <-out; !errors.Is(o.err, ErrShed) || o.tk.c != nil {
			t.Fatalf("pushed out as its wait ended: got %v, %+v; want ErrShed and no slot", o.err, o.tk)
		}
		cancel()
		held[0].Release(OutcomeIgnore)
		if s := c.Stats(); s.Inflight != 0 || s.Waiting != 0 {
			t.Errorf("after all: %+v, want nothing in flight or waiting", s)
		}
	}
}
