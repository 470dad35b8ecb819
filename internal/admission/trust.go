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
	// Kept: the client kept what floodgate gave it — a valid pass of any level or a valid
	// visitor cookie of any count, bound to its network, browser and site. A browser
	// without it is TierNew.
	Kept bool
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
// TierReturning with a returning visitor's cookie, TierBrowser when it kept a pass or
// visitor cookie, TierNew when it kept none, each lowered by tr.Lower;
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
		t := TierNew
		switch {
		case tr.Returning:
			t = TierReturning
		case tr.Kept:
			t = TierBrowser
		}
		return t.Lower(tr.Lower)
	case classAICrawler, classUnknown, "":
		return TierUntrusted
	}
	return TierAutomation
}
