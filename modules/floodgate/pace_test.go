package floodgate

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/admission"
	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
)

// A held refusal is bounded in count and in time: past max held, refusals go out at once;
// each held one is released after the hold, or as soon as its client leaves.
func TestPacerBoundedInCountAndTime(t *testing.T) {
	p := newPacer(3, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); p.pace(ctx) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.held.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := p.held.Load(); n != 3 {
		t.Fatalf("%d held, want 3", n)
	}
	// The fourth finds the bound reached: not held (it would block for an hour).
	if p.pace(context.Background()) {
		t.Error("a refusal was held past the bound")
	}
	cancel() // the clients leave: every held refusal is released
	wg.Wait()
	if n := p.held.Load(); n != 0 {
		t.Errorf("%d still counted as held", n)
	}

	short := newPacer(1, 20*time.Millisecond)
	done := make(chan bool, 1)
	go func() { done <- short.pace(context.Background()) }()
	select {
	case held := <-done:
		if !held {
			t.Error("a refusal under the bound was not held")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a held refusal outlived its hold")
	}
	if (&pacer{}).pace(context.Background()) {
		t.Error("the zero pacer held a refusal")
	}
}

// sitesUnder says every site is, or none is, under attack.
type sitesUnder bool

func (s sitesUnder) UnderAttack(string) bool { return bool(s) }

func (sitesUnder) QuarantinedUntil(string, time.Time) (time.Time, bool) { return time.Time{}, false }

// Only refusals nobody waits on are held: automation and untrusted clients refused while
// their site is under attack, and a quarantined site's POSTs. Never a challenge (a
// person's first page), a browser's refusal, or anything in calm times.
func TestPaceableOnlyLowTiersUnderAttack(t *testing.T) {
	req := &classify.Request{Host: "site.example"}
	in := func(attacked bool) *verdict.Request {
		return &verdict.Request{Req: req, Class: &classify.Result{}, Sites: sitesUnder(attacked)}
	}
	for _, tc := range []struct {
		name     string
		attacked bool
		v        verdict.Verdict
		want     bool
	}{
		{"AI crawler throttled under attack", true, verdict.Verdict{Action: rules.ActionThrottle, Tier: admission.TierUntrusted}, true},
		{"impostor blocked under attack", true, verdict.Verdict{Action: rules.ActionBlock, Tier: admission.TierUntrusted}, true},
		{"declared automation throttled under attack", true, verdict.Verdict{Action: rules.ActionThrottle, Tier: admission.TierAutomation}, true},
		{"quarantined POST", false, verdict.Verdict{Action: rules.ActionThrottle, Step: verdict.StepQuarantine, Tier: admission.TierNew}, true},
		{"AI crawler throttled in calm", false, verdict.Verdict{Action: rules.ActionThrottle, Tier: admission.TierUntrusted}, false},
		{"new browser challenged under attack", true, verdict.Verdict{Action: rules.ActionChallenge, Tier: admission.TierNew}, false},
		{"browser throttled under attack", true, verdict.Verdict{Action: rules.ActionThrottle, Tier: admission.TierNew}, false},
		{"returning visitor throttled under attack", true, verdict.Verdict{Action: rules.ActionThrottle, Tier: admission.TierReturning}, false},
		{"AI crawler let through under attack", true, verdict.Verdict{Action: rules.ActionNone, Tier: admission.TierUntrusted}, false},
	} {
		if got := paceable(in(tc.attacked), &tc.v); got != tc.want {
			t.Errorf("%s: paceable %v, want %v", tc.name, got, tc.want)
		}
	}
}

// PaceFor makes refusals held for d during the test (end-to-end tests, in package
// floodgate_test, that send hundreds of refused requests one after the other: the hold is
// what they would wait for).
func PaceFor(t *testing.T, d time.Duration) {
	old := refusals.hold.Swap(int64(d))
	t.Cleanup(func() { refusals.hold.Store(old) })
}
