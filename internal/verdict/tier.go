package verdict

import (
	"github.com/floodgate-proxy/floodgate/internal/admission"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// Tier is how much a client is trusted when the backend is short: the lower, the sooner it
// is admitted. It is the admission package's Tier (one type, one set of names in metrics,
// logs and traces).
type Tier = admission.Tier

// The tiers, most trusted first, by the names the decision uses.
const (
	// TierUnknown is the zero value: not computed.
	TierUnknown Tier = 0
	// TierKnownGood: pass holders, verified search engines, automation a rule allows.
	TierKnownGood = admission.TierTrusted
	// TierReturning: returning visitors with a signed visitor cookie.
	TierReturning = admission.TierReturning
	// TierBrowser: other browsers.
	TierBrowser = admission.TierBrowser
	// TierDeclared: automation that says what it is.
	TierDeclared = admission.TierAutomation
	// TierSuspect: AI crawlers, clients from hosting networks, unknown clients, impostors.
	TierSuspect = admission.TierUntrusted
)

// tier is the client's admission tier, from its identity, its pass, its visitor cookie and
// the action decided. The table is admission.TierOf's (one place): known good (a pass, a
// verified search engine, a rule's allow) first — a cookie pass is no proof (provenPass); a browser is returning with a visitor
// cookie, unless a budget acted on it (delay, or log in shadow): the holder drops to the
// other browsers, since a cookie is worth what its holder's behaviour keeps it worth; an
// outdated browser, or one whose headers do not match its claim, drops a tier for each;
// declared automation next; AI crawlers, clients from hosting networks, unknown clients
// and impostors last.
func tier(in *Request, v *Verdict) Tier {
	res := in.Class
	tr := admission.Trust{
		KnownGood: in.provenPass() || res.Verified || v.Action == rules.ActionAllow,
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
	return admission.TierOf(tr)
}
