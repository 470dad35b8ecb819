package admission

import "fmt"

// Tier is how much floodgate trusts a request, for admission to the backend when the backend
// is at its limit: tier 1 is admitted first, tier 6 refused first. A higher tier (lower
// number) never waits behind a lower one.
type Tier uint8

// The trust tiers, most trusted first. The zero Tier is not a tier: Controller treats it as
// TierUntrusted.
const (
	// TierTrusted: clients holding a valid pass, verified search engines, automation that a
	// rule allows.
	TierTrusted Tier = 1 + iota
	// TierReturning: browsers holding a valid visitor cookie, earned before the flood.
	TierReturning
	// TierBrowser: other browsers that kept what floodgate gave them — a valid pass (a
	// cookie pass too: the browser answered a challenge) or visitor cookie, bound to its
	// network, browser and site.
	TierBrowser
	// TierNew: browsers that never kept a pass or visitor cookie: a person's first page,
	// and every request of a botnet that takes a fresh address (or drops its cookies) each
	// time, which can never show one. Shed before the browsers that did, never refused for
	// this alone: a refusal here is a 503 with a reload, as for any browser.
	TierNew
	// TierAutomation: declared automation (tools, feed readers, monitors, unverified bots
	// that say what they are).
	TierAutomation
	// TierUntrusted: AI crawlers, hosting networks, unknown clients, impostors.
	TierUntrusted
)

// NumTiers is the number of tiers; tiers run from 1 to NumTiers.
const NumTiers = int(TierUntrusted)

var tierNames = [...]string{"invalid", "trusted", "returning", "browser", "new", "automation", "untrusted"}

// String returns the tier's name, as used in metrics labels: "trusted", "returning",
// "browser", "new", "automation" or "untrusted".
func (t Tier) String() string {
	if int(t) < len(tierNames) {
		return tierNames[t]
	}
	return "invalid"
}

// Valid reports whether t is one of the tiers.
func (t Tier) Valid() bool { return t >= TierTrusted && t <= TierUntrusted }

// Lower returns the tier n steps less trusted than t, never below TierUntrusted: a signal
// that lowers trust (an outdated browser, inconsistent headers, a holder past a budget).
func (t Tier) Lower(n int) Tier {
	t = t.orUntrusted()
	return Tier(min(int(t)+max(n, 0), NumTiers))
}

// orUntrusted maps anything that is not a tier to TierUntrusted.
func (t Tier) orUntrusted() Tier {
	if !t.Valid() {
		return TierUntrusted
	}
	return t
}

// ParseTier reads a tier's name or number ("trusted" or "1" … "untrusted" or "6").
func ParseTier(s string) (Tier, error) {
	for i := 1; i < len(tierNames); i++ {
		if s == tierNames[i] || s == fmt.Sprint(i) {
			return Tier(i), nil
		}
	}
	return 0, fmt.Errorf("tier %q: expected trusted, returning, browser, new, automation or untrusted (or 1 to %d)", s, NumTiers)
}
