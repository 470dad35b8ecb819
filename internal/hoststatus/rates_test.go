package hoststatus

import (
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/rules"
)

func TestRatesLastMinute(t *testing.T) {
	var r Rates
	t0 := time.Unix(1_800_000_000, 0)
	// 2 minutes ago: forgotten. The last minute: 120 browser passes, 60 bot throttles.
	r.Add(t0.Add(-2*time.Minute), "browser", rules.ActionBlock)
	for s := 0; s < 60; s++ {
		at := t0.Add(time.Duration(s-60) * time.Second)
		r.Add(at, "browser", rules.ActionNone)
		r.Add(at.Add(500*time.Millisecond), "browser", rules.ActionNone)
		r.Add(at, "bot", rules.ActionThrottle)
	}
	r.Add(t0, "browser", rules.ActionBlock) // the current second: not yet counted
	byClass, byAction := r.LastMinute(t0)
	if byClass["browser"] != 2 || byClass["bot"] != 1 || byAction["pass"] != 2 || byAction["throttle"] != 1 || byAction["block"] != 0 {
		t.Errorf("by class %v, by action %v; want browser 2/s, bot 1/s, pass 2/s, throttle 1/s, no block", byClass, byAction)
	}
	// A minute later, all of it is gone.
	byClass, _ = r.LastMinute(t0.Add(2 * time.Minute))
	if len(byClass) != 0 {
		t.Errorf("two minutes later: %v, want nothing", byClass)
	}
}

func TestRatesAddDoesNotAllocate(t *testing.T) {
	var r Rates
	now := time.Unix(1_800_000_000, 0)
	r.Add(now, "browser", rules.ActionNone)
	if n := testing.AllocsPerRun(1000, func() { r.Add(now, "browser", rules.ActionNone) }); n != 0 {
		t.Errorf("Add allocates %v times", n)
	}
}
