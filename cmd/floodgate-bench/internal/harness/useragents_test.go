package harness

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/rules"
)

// People must look like people to floodgate's classifier: a browser of today with the
// headers browsers send, neither outdated nor inconsistent (either would rank them below
// other browsers). Without Accept-Language, the same browser is inconsistent: the check can
// fail.
func TestPeopleLookLikeBrowsersOfToday(t *testing.T) {
	set, err := rulefiles.Load(rulefiles.Shipped)
	if err != nil {
		t.Fatal(err)
	}
	c := classify.New(set, nil, network.PrefixLengths{})
	ip := netip.MustParseAddr("90.1.2.3")
	classifyWith := func(ua, lang string) classify.Result {
		h := http.Header{}
		if lang != "" {
			h.Set("Accept-Language", lang)
		}
		var res classify.Result
		c.Classify(&classify.Request{IP: ip, UserAgent: ua, Host: "site00.example.org", Method: "GET", Path: "/", Headers: classify.HeaderFlagsOf(h, false)}, &res)
		return res
	}
	for _, ua := range CurrentBrowserUserAgents {
		res := classifyWith(ua, acceptLanguageOf(ip))
		if res.Class != "browser" || res.Outdated || res.HeadersInconsistent {
			t.Errorf("%q: class %q, outdated %v, headers inconsistent %v; want a browser of today", ua, res.Class, res.Outdated, res.HeadersInconsistent)
		}
		if res := classifyWith(ua, ""); !res.HeadersInconsistent {
			t.Errorf("%q without Accept-Language is not inconsistent: the check above proves nothing", ua)
		}
	}
}
