package harness

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/challenge"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// VisitorHistory stands for the days before the benchmark: a regular of a member site has
// visited it before, so its browser holds the visitor cookie floodgate sets on ordinary
// answers in calm times (a returning visitor: challenge.DefaultVisitorVisits visits spaced
// more than a day apart). The benchmark cannot wait days, so it signs that cookie itself,
// with the pass key the proxies are given (FLOODGATE_PASS_KEY, a setting of the shipped
// Caddyfile), bound as floodgate binds it: to the client's network (/24, /64), its
// User-Agent and the site. A cookie floodgate does not accept earns nothing, which the
// admission metrics (tier 2) show.
type VisitorHistory struct {
	signer *pass.Signer
	now    func() time.Time
}

// NewVisitorHistory signs with key.
func NewVisitorHistory(key []byte) (*VisitorHistory, error) {
	s, err := pass.NewSigner(key)
	if err != nil {
		return nil, err
	}
	return &VisitorHistory{signer: s, now: time.Now}, nil
}

// Cookie returns the visitor cookie a regular from ip with ua holds for host.
func (h *VisitorHistory) Cookie(ip netip.Addr, ua, host string) *http.Cookie {
	t := h.now()
	v := pass.Visitor{Visits: challenge.DefaultVisitorVisits, First: t.Add(-7 * 24 * time.Hour), Last: t.Add(-24 * time.Hour)}
	prefix := network.PrefixLengths{}.Prefix(ip)
	return &http.Cookie{Name: challenge.DefaultVisitorCookieName, Value: h.signer.IssueVisitor(prefix, ua+"\x00"+host, v), Path: "/"}
}
