package harness

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/challenge"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// The history cookie is one floodgate's own reader takes for a returning visitor, from the
// regular's network, browser and site, and for nobody else.
func TestVisitorHistoryIsReturningForFloodgate(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	h, err := NewVisitorHistory(key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := pass.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := challenge.New(challenge.Config{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("90.12.34.56")
	ua := BrowserUserAgents[0]
	c := h.Cookie(ip, ua, Host(3))
	read := func(from netip.Addr, ua, host string) (bool, error) {
		r, _ := http.NewRequest(http.MethodGet, "http://"+host+"/", nil)
		r.Header.Set("User-Agent", ua)
		r.AddCookie(c)
		_, returning, err := ch.VisitorOf(r, network.PrefixLengths{}.Prefix(from))
		return returning, err
	}
	if ok, err := read(netip.MustParseAddr("90.12.34.200"), ua, Host(3)); !ok || err != nil {
		t.Fatalf("floodgate reads the history cookie as returning %v (%v), want a returning visitor", ok, err)
	}
	for name, tc := range map[string]struct {
		ip   string
		ua   string
		host string
	}{
		"another network": {"90.12.35.56", ua, Host(3)},
		"another browser": {"90.12.34.56", BrowserUserAgents[1], Host(3)},
		"another site":    {"90.12.34.56", ua, Host(4)},
	} {
		if ok, _ := read(netip.MustParseAddr(tc.ip), tc.ua, tc.host); ok {
			t.Errorf("%s: the history cookie counts as returning", name)
		}
	}
	if other, _ := NewVisitorHistory([]byte("another key, another key, another")); other != nil {
		c = other.Cookie(ip, ua, Host(3))
		if ok, _ := read(ip, ua, Host(3)); ok {
			t.Error("a history cookie signed with another key counts as returning")
		}
	}
}
