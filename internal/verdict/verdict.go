// Package verdict is the one place that decides what happens to a request. Decide takes a
// Request — the classified request and what the handler knows beside it (the client's pass,
// exempt paths, shadow, the site's quarantine and under-attack state) — and returns one
// Verdict: the action, why, which rule and budget, how long to wait, at which level to
// challenge, and the client's admission tier. The steps run in a fixed order (see Decide);
// a Trace records each of them.
//
// It knows nothing of Caddy and has no side effect but counting: budgets are counted in any
// ulule/limiter Store, and starting a quarantine, challenging, refusing or delaying is the
// caller's job, by the Verdict.
package verdict

import (
	"time"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/pass"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// now is the clock; tests replace it.
var now = time.Now

// Request is everything the decision looks at. Req and Class are required; the rest says what
// the handler knows beside the classification, and its zero value is a client without a
// pass, on a path that may be challenged, of a site neither quarantined nor under attack.
type Request struct {
	// Req is the request as classified; Class is what the classifier found.
	Req   *classify.Request
	Class *classify.Result

	// Pass is the level of the strongest valid pass the client holds, pass.LevelNone when
	// it holds none; PassRefused says why a pass it presented is not valid (pass.ReasonMissing
	// or "" when it presented none).
	Pass        pass.Level
	PassRefused pass.Reason
	// Returning says the client holds a valid visitor cookie of a returning visitor
	// (challenge.Challenger.VisitorOf): a browser known before the flood, one tier above
	// other browsers when the backend is short.
	Returning bool
	// Visitor says the client holds a valid visitor cookie of any count, bound to its
	// network, browser and site: it kept what an earlier answer gave it. A browser holding
	// neither it nor a pass is admitted after those that do (TierNew).
	Visitor bool
	// Exempt says the path is never challenged (robots.txt, /.well-known/, feeds, the
	// handler's challenge_exempt). The site's own challenge_exempt is checked here.
	Exempt bool
	// Shadow says the handler or the whole app only logs: a refusal becomes log.
	Shadow bool
	// Sites tells the site's quarantine and under-attack state; nil: neither.
	Sites SiteView
	// Now is when the request came; zero: the clock. Budgets are counted at it when the
	// store counts on the system clock (store.Memory): one reading of the clock per request.
	Now time.Time

	// Trace, when not nil, records the decision step by step (floodgate explain).
	Trace *Trace
}

// SiteView tells the state of a member site the decision depends on. The handler passes the
// proxy's own (its quarantine list and under-attack detector); a fleet-wide view or a
// replay's recorded state fits the same interface. Decide only asks when the answer matters.
type SiteView interface {
	// QuarantinedUntil says until when host's POST, PUT, PATCH and DELETE are refused, and
	// whether they are.
	QuarantinedUntil(host string, now time.Time) (time.Time, bool)
	// UnderAttack says whether site (Request.SiteName) is under attack now.
	UnderAttack(site string) bool
}

// SiteName names the request's site for the backend's protection: the configured site, or
// the host itself.
func (in *Request) SiteName() string {
	if in.Class.Site != nil {
		return in.Class.Site.Name
	}
	return in.Req.Host
}

// clock is when the request came: Now, else the clock's time.
func (in *Request) clock() time.Time {
	if in.Now.IsZero() {
		return now()
	}
	return in.Now
}

// Verdict is the decision for one request.
type Verdict struct {
	// Action is what to do: ActionNone or ActionAllow pass the request; ActionLog passes it
	// and reports; ActionDelay holds it for Delay then passes it; ActionChallenge shows a
	// challenge at ChallengeLevel; ActionThrottle answers 429 with RetryAfter; ActionBlock
	// answers 403.
	Action rules.Action
	// Step is the step of the decision that set Action (StepNone: nothing applied).
	Step Step
	// Rule names the rule that decided the action; empty when nothing did.
	Rule string
	// Budget describes the budget that decided, e.g. "60/min per bot+host"; empty for
	// outright actions.
	Budget string
	// Reason says why in a few words, for logs: "budget", "rule", "impostor".
	Reason string
	// RetryAfter is when the client may come back (throttle), rounded up to whole seconds.
	RetryAfter time.Duration
	// Delay is how long to hold the request (delay).
	Delay time.Duration
	// ChallengeLevel is the level to challenge at when Action is ActionChallenge.
	ChallengeLevel pass.Level
	// Shadowed is true when a stronger action was due but shadow turned it into log.
	Shadowed bool
	// Crossed is true when this request is the one that took its budget past the rate:
	// the moment worth a log line, once per key and window.
	Crossed bool
	// Key is the counting key of the deciding budget (for that log line; never a metric label).
	Key string
	// StoreErrors counts budgets that could not be counted (the request was let through).
	StoreErrors int
	// Quarantine, when not zero, says a quarantine budget of the request's site is past its
	// rate: the caller is to quarantine the site (the host) for this long.
	Quarantine time.Duration
	// PassRefused is why the client's pass did not spare it the challenge it gets (a pass of
	// a weaker level, expired, for another network…); empty when it presented none.
	PassRefused pass.Reason
	// Tier is the client's admission tier: how much it is trusted.
	Tier Tier
}

// Step names a step of the decision, in the order they run.
type Step uint8

// The steps of Decide, in order.
const (
	// StepNone: no step applied; the request passes.
	StepNone Step = iota
	// StepRule: a rule's outright action (block or challenge).
	StepRule
	// StepImpostor: a verified identity from outside its ranges gets the rule's impostor action.
	StepImpostor
	// StepAllow: a rule allows the request: no budget counts, no challenge.
	StepAllow
	// StepBudget: a budget past its rate.
	StepBudget
	// StepDelayQueue: a delay turned into throttle, the delay queue being full.
	StepDelayQueue
	// StepQuarantine: the site is quarantined and the request changes state (POST…).
	StepQuarantine
	// StepUnderAttack: the site is under attack and the client is not known good.
	StepUnderAttack
	// StepShadow: shadow turned a refusal into log (the handler's or the app's).
	StepShadow
	// StepSpared: a challenge spared (exempt path, verified search engine, valid pass).
	StepSpared
	// StepTier: the admission tier.
	StepTier
)

var stepNames = [...]string{StepNone: "none", StepRule: "rule", StepImpostor: "impostor", StepAllow: "allow",
	StepBudget: "budget", StepDelayQueue: "delay-queue", StepQuarantine: "quarantine", StepUnderAttack: "under-attack",
	StepShadow: "shadow", StepSpared: "spared", StepTier: "tier"}

// String names the step.
func (s Step) String() string {
	if int(s) < len(stepNames) {
		return stepNames[s]
	}
	return "invalid"
}
