package admission

import "testing"

func TestTierOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   Trust
		want Tier
	}{
		{"pass holder", Trust{KnownGood: true, Class: "browser"}, TierTrusted},
		{"verified search engine", Trust{KnownGood: true, Class: "search-bot", Bot: "Googlebot"}, TierTrusted},
		{"rule-allowed monitor", Trust{KnownGood: true, Class: "bot", Bot: "UptimeRobot"}, TierTrusted},
		{"returning visitor", Trust{Returning: true, Class: "browser"}, TierReturning},
		{"browser that kept a pass or visitor cookie", Trust{Class: "browser", Kept: true}, TierBrowser},
		{"browser that kept nothing", Trust{Class: "browser"}, TierNew},
		{"kept, outdated", Trust{Class: "browser", Kept: true, Lower: 1}, TierNew},
		{"declared tool with a cookie", Trust{Class: "bot", Bot: "curl", Kept: true}, TierAutomation},
		{"ai crawler with a cookie", Trust{Class: "ai-crawler", Bot: "GPTBot", Kept: true, Returning: true}, TierUntrusted},
		{"returning but outdated", Trust{Returning: true, Class: "browser", Lower: 1}, TierBrowser},
		{"outdated browser", Trust{Class: "browser", Lower: 1}, TierAutomation},
		{"outdated, inconsistent headers", Trust{Class: "browser", Lower: 2}, TierUntrusted},
		{"lowered past the bottom", Trust{Class: "browser", Lower: 9}, TierUntrusted},
		{"declared tool", Trust{Class: "bot", Bot: "curl"}, TierAutomation},
		{"declared class", Trust{Class: "feed-reader"}, TierAutomation},
		{"unverified search-bot claim", Trust{Class: "search-bot", Bot: "SomeEngine"}, TierAutomation},
		{"ai crawler", Trust{Class: "ai-crawler", Bot: "GPTBot"}, TierUntrusted},
		{"hosting network", Trust{Class: "bot", Bot: "hosting:aws"}, TierUntrusted},
		{"browser UA from a hosting network with a visitor cookie", Trust{Class: "bot", Bot: "hosting:aws", Returning: true}, TierUntrusted},
		{"unknown", Trust{Class: "unknown"}, TierUntrusted},
		{"no class", Trust{}, TierUntrusted},
		{"impostor", Trust{Class: "bot", Bot: "impostor:Googlebot", Impostor: true, KnownGood: true}, TierUntrusted},
	} {
		if got := TierOf(tc.tr); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	for tier := TierTrusted; tier <= TierUntrusted; tier++ {
		if got, err := ParseTier(tier.String()); err != nil || got != tier {
			t.Errorf("ParseTier(%q) = %v, %v", tier, got, err)
		}
	}
	if _, err := ParseTier("vip"); err == nil {
		t.Error("ParseTier accepted vip")
	}
}
