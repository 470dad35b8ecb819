package verdict

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// TestIPv6BudgetsPerPrefixCountThe48: a budget per prefix counts an IPv6 client's /64 and its
// /48, so a client picking a new /64 of its /48 for every request meets the budget (issue 10:
// a /48 rotated freely); another /48 is another client, and IPv4 is counted per /24 alone.
func TestIPv6BudgetsPerPrefixCountThe48(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			p := newPipeline(t, st.new(), Options{}, identities, `
rules:
  - name: per-network
    match: {path: ["/**"]}
    budgets:
      - {rate: 3/min, per: prefix, action: throttle}
`)
			send := func(ip string) rules.Action {
				v, _ := p.decide(classify.Request{IP: netip.MustParseAddr(ip), UserAgent: "GPTBot/1.0", Host: "shop.test", Method: "GET", Path: "/x"})
				return v.Action
			}
			for i := range 3 {
				if a := send(fmt.Sprintf("2001:db8:1:%x::1", i)); a != rules.ActionNone {
					t.Fatalf("/64 number %d of one /48, within the budget: %v", i+1, a)
				}
			}
			if a := send("2001:db8:1:ff::1"); a != rules.ActionThrottle {
				t.Errorf("a 4th /64 of the same /48: %v, want throttle", a)
			}
			if a := send("2001:db8:2::1"); a != rules.ActionNone {
				t.Errorf("another /48: %v, want none", a)
			}
			for i := range 3 {
				if a := send(fmt.Sprintf("90.0.%d.1", i)); a != rules.ActionNone {
					t.Errorf("IPv4 /24 number %d: %v, want none (counted per /24 only)", i+1, a)
				}
			}
		})
	}
}
