package verdict

import (
	"github.com/floodgate-proxy/floodgate/internal/admission"
	"github.com/floodgate-proxy/floodgate/internal/pass"
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
	// TierBrowser: other browsers that kept a pass or visitor cookie.
	TierBrowser = admission.TierBrowser
	// TierNew: browsers that never kept a pass or visitor cookie.
	TierNew = admission.TierNew
	// TierDeclared: automation that says what it is.
	TierDeclared = admission.TierAutomation
	// TierSuspect: AI crawlers, clients from hosting networks, unknown clients, impostors.
	TierSuspect = admission.TierUntrusted
)

// tier is the client's admission tier, from its identity, its pass, its visitor cookie and
// the action decided. The table is admission.TierOf's (one place): known good (a pass, a
// verified search engine, a rule's allow) first — a cookie pass is no proof (provenPass);
// a browser is returning with a returning visitor's cookie; other browsers next, those that
// kept a pass (a cookie pass: it answered a challenge) or a visitor cookie bound to their
// network before those that kept none (new) — a botnet taking a fresh address for each
// request can never show one, and the unproven are shed first. A cookie is worth what its
// holder's behaviour keeps it worth: a holder a budget acted on (delay, or log in shadow)
// drops one tier (returning to browser, browser to new). An outdated browser, or one whose
// headers do not match its claim, drops a tier for each; declared automation next; AI
// crawlers, clients from hosting networks, unknown clients and impostors last.
func tier(in *Request, v *Verdict) Tier {
	res := in.Class
	returning := in.Returning
	kept := returning || in.Pass != pass.LevelNone || in.Visitor
	if v.Step == StepBudget {
		if returning {
			returning = false
		} else {
			kept = false
		}
	}
	tr := admission.Trust{
		KnownGood: in.provenPass() || res.Verified || v.Action == rules.ActionAllow,
		Returning: returning,
		Kept:      kept,
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
