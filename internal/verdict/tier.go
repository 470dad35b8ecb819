package verdict

import (
	"github.com/floodgate-proxy/floodgate/internal/pass"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// Tier is how much a client is trusted when the backend is short: the lower, the sooner it
// is admitted.
type Tier uint8

// The tiers, most trusted first.
const (
	// TierUnknown is the zero value: not computed.
	TierUnknown Tier = iota
	// TierKnownGood: pass holders, verified search engines, automation a rule allows.
	TierKnownGood
	// TierReturning: returning visitors with a signed visitor cookie.
	TierReturning
	// TierBrowser: other browsers.
	TierBrowser
	// TierDeclared: automation that says what it is.
	TierDeclared
	// TierSuspect: AI crawlers, unknown clients, impostors.
	TierSuspect
)

var tierNames = [...]string{TierUnknown: "unknown", TierKnownGood: "known-good", TierReturning: "returning",
	TierBrowser: "browser", TierDeclared: "declared", TierSuspect: "suspect"}

// String names the tier.
func (t Tier) String() string {
	if int(t) < len(tierNames) {
		return tierNames[t]
	}
	return "invalid"
}

// tier is the client's admission tier, from its identity, its pass and the action decided.
func tier(in *Request, v *Verdict) Tier {
	res := in.Class
	switch {
	case in.Pass != pass.LevelNone || res.Verified || v.Action == rules.ActionAllow:
		return TierKnownGood
	case res.Impostor:
		return TierSuspect
	}
	switch res.Class {
	case rules.ClassBrowser:
		return TierBrowser
	case rules.ClassAICrawler, rules.ClassUnknown, "":
		return TierSuspect
	}
	return TierDeclared
}
