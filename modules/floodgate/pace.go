package floodgate

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/admission"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
)

// A scraper that retries as soon as a refusal comes back ("closed loop") sends as many
// requests as the proxy can refuse: the matrix benchmark measured 4,000-8,000 refusals a
// second on 2 cores, the proxy's CPU spent on them, and people's pages waiting for that CPU
// while the backend sat 30 % busy. Pacing holds such a refusal for a moment before it is
// sent: a closed-loop client then costs one request per hold, whatever its speed. Only
// refusals nobody is waiting on — automation and untrusted clients (tier automation and
// below) refused while their site is under attack or the backend is short, and the POSTs of
// a quarantined site — and never a challenge or a browser's 503: a person's page is never
// slower for it. Bounded: at most maxHeldRefusals are held at once (past it, refusals go out
// at once: a held request is a goroutine and a connection), each at most refusalHold.
const (
	refusalHold     = time.Second
	maxHeldRefusals = 1024
)

// pacer holds refusals (see above). The zero pacer holds nothing.
type pacer struct {
	held atomic.Int64
	max  int64
	hold atomic.Int64 // nanoseconds
}

// newPacer returns a pacer holding at most max refusals, each for hold.
func newPacer(max int64, hold time.Duration) *pacer {
	p := &pacer{max: max}
	p.hold.Store(int64(hold))
	return p
}

// refusals paces floodgate's refusals, one for the process: the bound is on what the
// machine holds.
var refusals = newPacer(maxHeldRefusals, refusalHold)

// pace holds the caller for the pacer's hold, or until ctx ends, unless p.max refusals are held
// already. It reports whether it held.
func (p *pacer) pace(ctx context.Context) bool {
	hold := time.Duration(p.hold.Load())
	if hold <= 0 {
		return false
	}
	if p.held.Add(1) > p.max {
		p.held.Add(-1)
		return false
	}
	defer p.held.Add(-1)
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return true
}

// paceable reports whether a refusal by verdict v (a block or a throttle) may be held: the
// POSTs of a quarantined site, and automation and untrusted clients while their site is
// under attack.
func paceable(in *verdict.Request, v *verdict.Verdict) bool {
	if v.Action < rules.ActionThrottle || v.Shadowed {
		return false
	}
	return v.Step == verdict.StepQuarantine ||
		(v.Tier >= admission.TierAutomation && in.Sites != nil && in.Sites.UnderAttack(in.SiteName()))
}
