package verdict

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/store"
)

// TestQuarantineRetryAfterIsTheCooldown: the POST that trips a quarantine, and every POST
// refused while it lasts, are told to come back when it ends (issue 10: "Retry-After: 9",
// the budget's own window, for a 10-minute quarantine).
func TestQuarantineRetryAfterIsTheCooldown(t *testing.T) {
	p := newPipeline(t, store.NewMemory(0), Options{}, identities, `
rules:
  - name: burst
    match: {method: [POST]}
    budgets: [{rate: 3/min, per: host, action: quarantine, cooldown: 10m}]
`)
	for i := range 4 {
		r := classify.Request{IP: netip.MustParseAddr(fmt.Sprintf("90.0.%d.1", i)), UserAgent: "Mozilla/5.0 (X11)", Host: "shop.test", Method: "POST", Path: "/form"}
		var res classify.Result
		p.c.Classify(&r, &res)
		v := p.d.Decide(t.Context(), &Request{Req: &r, Class: &res})
		if i < 3 {
			if v.Action != rules.ActionNone {
				t.Fatalf("POST %d within the budget: %v", i+1, v.Action)
			}
			continue
		}
		if v.Action != rules.ActionThrottle || v.Step != StepQuarantine || v.Quarantine != 10*time.Minute {
			t.Fatalf("the POST past the budget: %v at %v, quarantine %v; want throttle by the quarantine of 10m", v.Action, v.Step, v.Quarantine)
		}
		if v.RetryAfter != 10*time.Minute {
			t.Errorf("Retry-After %v, want the cooldown, 10m", v.RetryAfter)
		}
	}
}
