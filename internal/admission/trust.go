package admission

import "strings"

// Trust is what the decision knows of a request that sets its Tier (TierOf). The decision
// fills it from the classification, the pass and visitor cookies and the budgets; this
// package knows no classifier.
type Trust struct {
	// KnownGood: the client holds a valid pass, is a verified search engine, or is
	// automation that a rule allows (action allow).
	KnownGood bool
	// Returning: the client holds a valid visitor cookie of a returning visitor.
	Returning bool
	// Class is the client's class ("browser", "ai-crawler", "search-bot", "bot", "unknown",
	// or a class a rule file declares).
	Class string
	// Bot is the bot family; "hosting:<provider>" marks a browser-looking client from a
	// hosting network.
	Bot string
	// Impostor: the client claims a verified identity from outside its addresses.
	Impostor bool
	// Lower is how many tiers signals take off a browser: an outdated browser, headers
	// that do not match the browser claimed, a holder of a visitor cookie past a budget.
	Lower int
}

// Class names TierOf knows; other declared classes are declared automation.
const (
	classBrowser   = "browser"
	classAICrawler = "ai-crawler"
	classUnknown   = "unknown"
	hostingPrefix  = "hosting:"
)

// TierOf ranks a request for admission: TierTrusted for known-good clients; a browser is
// TierReturning with a visitor cookie, TierBrowser without, each lowered by tr.Lower;
// declared automation is TierAutomation; AI crawlers, clients from hosting networks,
// unknown clients and impostors are TierUntrusted.
func TierOf(tr Trust) Tier {
	switch {
	case tr.Impostor:
		return TierUntrusted
	case tr.KnownGood:
		return TierTrusted
	case strings.HasPrefix(tr.Bot, hostingPrefix):
		return TierUntrusted
	}
	switch tr.Class {
	case classBrowser:
		t := TierBrowser
		if tr.Returning {
			t = TierReturning
		}
		return t.Lower(tr.Lower)
	case classAICrawler, classUnknown, "":
		return TierUntrusted
	}
	return TierAutomation
}
