package verdict

import (
	"github.com/floodgate-proxy/floodgate/internal/admission"
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

// tier is the client's admission tier, from its identity, its pass, its visitor cookie and
// the action decided. The table is admission.TierOf's (one place): known good (a pass, a
// verified search engine, a rule's allow) first; a browser is returning with a visitor
// cookie, unless a budget acted on it (delay, or log in shadow): the holder drops to the
// other browsers, since a cookie is worth what its holder's behaviour keeps it worth; an
// outdated browser, or one whose headers do not match its claim, drops a tier for each;
// declared automation next; AI crawlers, clients from hosting networks, unknown clients
// and impostors last.
func tier(in *Request, v *Verdict) Tier {
	res := in.Class
	tr := admission.Trust{
		KnownGood: in.Pass != pass.LevelNone || res.Verified || v.Action == rules.ActionAllow,
		Returning: in.Returning && v.Step != StepBudget,
		Class:     res.Class,
		Bot:       res.Bot,
		Impostor:  res.Impostor,
	}
	// A browser claiming a version no person runs, or whose headers do not match the
	// browser it claims, drops a tier for each (never refused for it alone).
	if res.Outdated {
		tr.Lower++
	}
	if res.HeadersInconsistent {
		tr.Lower++
	}
	return Tier(admission.TierOf(tr))
}
