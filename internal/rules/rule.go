// Package rules reads, checks and compiles floodgate rule files.
//
// A rule file is YAML (see rules/README.md for the format techs write). Parse turns one file
// into a File, reporting every problem as "file:line: what is wrong, what was expected";
// Compile joins files into a Set, checking what spans files (unique rule names, declared
// classes, named ranges). Matching a request against a Set is the classify package's job.
package rules

import (
	"net/netip"
	"regexp"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// Built-in classes. Shipped rules use these; rule files may declare more.
const (
	ClassBrowser   = "browser"
	ClassAICrawler = "ai-crawler"
	ClassSearchBot = "search-bot"
	ClassBot       = "bot"
	ClassUnknown   = "unknown"
)

// BuiltinClasses lists the classes every Set knows without a declaration.
var BuiltinClasses = []string{ClassBrowser, ClassAICrawler, ClassSearchBot, ClassBot, ClassUnknown}

// File is one parsed rule file.
type File struct {
	// Name is the path the file was read from, as shown in messages.
	Name string
	// Shadow makes every action of the file's rules a log-only action.
	Shadow bool
	// Classes are the classes the file declares beside the built-in ones.
	Classes []Class
	// Ranges are the file's named address lists.
	Ranges []*Range
	// Rules are the file's rules, in file order.
	Rules []*Rule
	// Sites are the file's per-site policies.
	Sites []*Site
}

// Class is a declared class of clients.
type Class struct {
	Name        string
	Description string
	Line        int
}

// Range is a named list of networks, given inline or read from files.
type Range struct {
	Name   string
	Source string
	CIDR   []string
	Files  []string
	Line   int
	// Set is filled by Compile.
	Set *network.RangeSet
}

// Rule is one rule: what it matches and what it does.
type Rule struct {
	// Name is unique across a Set; it names the rule in logs, metrics and verdicts.
	Name        string
	Description string
	// Class, when set, makes the rule an identity rule.
	Class string
	// Bot is the bot family the rule identifies; defaults to Name for identity rules.
	Bot string
	// Match holds the conditions, all of which must hold.
	Match Match
	// Verify names ranges the client must be in for an identity rule to be believed.
	Verify []string
	// Impostor is the action for clients that match but fail Verify.
	Impostor Action
	// Action is an outright action: ActionNone, ActionAllow, ActionChallenge or ActionBlock.
	Action Action
	// ChallengeLevel is the challenge's level for ActionChallenge: cookie, script or work.
	ChallengeLevel pass.Level
	// Budgets are the rates the rule's matching requests are held to.
	Budgets []*Budget
	// Shadow is inherited from the file: the rule only logs.
	Shadow bool

	// File and Line say where the rule was written.
	File string
	Line int

	// Index is the rule's position in its Set, filled by Compile.
	Index int
	// VerifySets are the compiled Verify ranges, filled by Compile.
	VerifySets []*network.RangeSet

	// lines holds the lines of some fields ("class", "verify", "match.ranges", "match.class")
	// so Compile can point at them; nil for rules not made by Parse.
	lines map[string]int
}

// lineOf is the line where field was written, or the rule's line when unknown.
func (r *Rule) lineOf(field string) int {
	if l := r.lines[field]; l > 0 {
		return l
	}
	return r.Line
}

// IsResponse reports whether the rule counts responses (it matches on status).
func (r *Rule) IsResponse() bool { return len(r.Match.Status) > 0 }

// IsIdentity reports whether the rule says who is asking (it sets a class).
func (r *Rule) IsIdentity() bool { return r.Class != "" }

// Match is the set of conditions of a rule. Empty fields are not checked.
type Match struct {
	UserAgent      []string
	UserAgentRegex []*regexp.Regexp
	UserAgentEmpty bool
	// Outdated: the User-Agent claims a browser version no person runs any more
	// (classify's Identity.Outdated).
	Outdated bool
	ASN      []uint32
	CIDR     []netip.Prefix
	Ranges   []string
	Host     []string
	Path     []string
	Query    []string
	Method   []string
	Class    []string
	// Status makes the rule a response rule: its budgets count responses with these
	// statuses (404 floods), and act on the client's next requests once past their rate.
	Status []int

	// Compiled by Compile.
	RangeSets []*network.RangeSet
	Hosts     *HostSet
	Paths     *PathSet
	Queries   []QueryTest
}

// HasUserAgent reports whether the match looks at the User-Agent at all.
func (m *Match) HasUserAgent() bool {
	return len(m.UserAgent) > 0 || len(m.UserAgentRegex) > 0 || m.UserAgentEmpty
}

// Action is what floodgate does to a request.
type Action int

// Actions, weakest first: when several apply, the greatest wins.
const (
	ActionNone Action = iota
	ActionAllow
	ActionLog
	ActionDelay
	ActionChallenge
	ActionThrottle
	ActionBlock
)

var actionNames = [...]string{
	ActionNone: "pass", ActionAllow: "allow", ActionLog: "log", ActionDelay: "delay", ActionChallenge: "challenge",
	ActionThrottle: "throttle", ActionBlock: "block",
}

// String returns the action's name as written in rule files and logs.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "invalid"
}

// actionNamed returns the action written name in a rule file.
func actionNamed(name string) (Action, bool) {
	for a, n := range actionNames {
		if n == name {
			return Action(a), true
		}
	}
	return ActionNone, false
}

// Budget is a rate a rule's requests are held to, counted per key.
type Budget struct {
	// Rate is the number of requests allowed per period.
	Rate Rate
	// Per lists the parts of the counting key, e.g. [bot host].
	Per []KeyPart
	// Action is taken once the rate is passed.
	Action Action
	// MaxDelay bounds how long ActionDelay holds a request.
	MaxDelay time.Duration
	// ChallengeLevel is the challenge's level for ActionChallenge: cookie, script or work.
	ChallengeLevel pass.Level
	// Quarantine, when not zero, makes the budget a quarantine trigger: past its rate the
	// site (host) is quarantined for this long — its POSTs, PUTs, PATCHes and DELETEs get 429
	// while its GETs flow. Written "action: quarantine" with "cooldown: 10m".
	Quarantine time.Duration
	// Line is where the budget was written.
	Line int
	// Label is a short stable description, "60/min per bot+host", for logs.
	Label string
}

// KeyPart is one part of a budget's counting key.
type KeyPart string

// Key parts a budget may count per.
const (
	KeyIP     KeyPart = "ip"
	KeyPrefix KeyPart = "prefix"
	KeyASN    KeyPart = "asn"
	KeyBot    KeyPart = "bot"
	KeyClass  KeyPart = "class"
	KeyHost   KeyPart = "host"
)

var keyParts = []KeyPart{KeyIP, KeyPrefix, KeyASN, KeyBot, KeyClass, KeyHost}

// DefaultChallengeLevel is the level of a challenge whose rule names none: no JavaScript needed.
const DefaultChallengeLevel = pass.LevelCookie

// DefaultQuarantine is how long a quarantine lasts when its budget names no cooldown.
const DefaultQuarantine = 10 * time.Minute

// DefaultMaxDelay is how long a delay budget holds a request when the rule says nothing.
const DefaultMaxDelay = 2 * time.Second
