// Package explain says why floodgate did what it did to one request: every rule of the set,
// whether it matched and, if not, which of its conditions failed; the budgets with their
// counts; and the action with its reason. The decision is floodgate's own (classify.Classify
// then verdict.Decide, with a trace): this package only reads what they report and names the
// conditions of the rules that did not match.
package explain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
)

// Input is one request, in the form `floodgate classify` reads.
type Input struct {
	IP     string `json:"ip"`
	UA     string `json:"ua"`
	Host   string `json:"host"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query"`
	// Status is the response's status, for rules that count responses.
	Status int `json:"status"`
	// Headers are request headers by name (any case); only those classify reads matter.
	Headers map[string]string `json:"headers"`
	// TLS says the request came over HTTPS (browsers send Sec-Fetch-* only then).
	TLS bool `json:"tls"`
}

// HeaderFlags turns the input's headers into classify's flags; zero when none were given.
func (in *Input) HeaderFlags() classify.HeaderFlags {
	if in.Headers == nil {
		return 0
	}
	h := http.Header{}
	for name, v := range in.Headers {
		h.Set(name, strings.TrimSpace(v))
	}
	return classify.HeaderFlagsOf(h, in.TLS)
}

// Request turns the input into what classification reads.
func (in Input) Request() (classify.Request, error) {
	req := classify.Request{UserAgent: in.UA, Host: strings.ToLower(in.Host), Method: strings.ToUpper(in.Method), Path: in.Path, Query: in.Query}
	req.Headers = in.HeaderFlags()
	if req.Method == "" {
		req.Method = "GET"
	}
	if req.Path == "" {
		req.Path = "/"
	}
	if p, q, ok := strings.Cut(req.Path, "?"); ok && req.Query == "" {
		req.Path, req.Query = p, q
	}
	if in.IP == "" {
		return req, errors.New("ip is required (the client address decides the network, the prefix and verification)")
	}
	ip, err := netip.ParseAddr(in.IP)
	if err != nil {
		return req, fmt.Errorf("ip %q is not an IP address", in.IP)
	}
	req.IP = ip.Unmap()
	return req, nil
}

// RuleLine is one rule of the set and what it had to do with the request.
type RuleLine struct {
	Name string `json:"name"`
	// Kind is "identity" or "policy".
	Kind    string `json:"kind"`
	Matched bool   `json:"matched"`
	// Why says why it matched or not.
	Why string `json:"why"`
}

// Explanation is the whole answer.
type Explanation struct {
	Request  classify.Request  `json:"-"`
	Identity classify.Identity `json:"identity"`
	Site     string            `json:"site"`
	Rules    []RuleLine        `json:"rules"`
	Trace    *verdict.Trace    `json:"-"`
	Verdict  verdict.Verdict   `json:"-"`
	Now      time.Time         `json:"now"`
}

// Explain classifies and decides req with floodgate's own classifier and decider (counting it
// like any request: the counts shown include it), and names for every rule that did not
// match a condition it failed.
func Explain(ctx context.Context, cl *classify.Classifier, dec *verdict.Decider, sites verdict.SiteView, req classify.Request, status int, now time.Time) *Explanation {
	var res classify.Result
	cl.Classify(&req, &res)
	tr := &verdict.Trace{}
	in := verdict.Request{Req: &req, Class: &res, Sites: sites, Now: now, Trace: tr}
	v := dec.Decide(ctx, &in)
	e := &Explanation{Request: req, Identity: res.Identity, Site: in.SiteName(), Trace: tr, Verdict: v, Now: now}
	applied := map[*rules.Rule]bool{}
	for _, r := range res.Rules {
		applied[r] = true
	}
	for _, r := range cl.Set().Rules {
		line := RuleLine{Name: r.Name, Kind: "policy"}
		if r.IsIdentity() {
			line.Kind = "identity"
		}
		switch {
		case r == res.IdentityRule:
			line.Matched, line.Why = true, "the first identity rule that matches: says who is asking"
			if res.Verified {
				line.Why += " (verified: the address is in the ranges it is verified by)"
			} else if res.Impostor {
				line.Why += " (impostor: the address is outside the ranges it is verified by)"
			}
		case applied[r] && r.IsResponse() && !slices.Contains(r.Match.Status, status):
			line.Matched, line.Why = true, fmt.Sprintf("applies; counts responses with status %v only (its budgets act once the client is past them)", r.Match.Status)
		case applied[r]:
			line.Matched, line.Why = true, "applies"
		case r.IsIdentity() && res.IdentityRule != nil && r.Index > res.IdentityRule.Index:
			line.Why = "not looked at: identity already decided by " + res.IdentityRule.Name
		default:
			line.Why = whyNot(r, &req, &res)
		}
		e.Rules = append(e.Rules, line)
	}
	return e
}

// whyNot names a condition of r that req fails. The classifier already said r does not
// match; this only finds which condition, with the same compiled matchers, and falls back on
// the User-Agent, the one condition not re-checked here.
func whyNot(r *rules.Rule, req *classify.Request, res *classify.Result) string {
	m := &r.Match
	switch {
	case len(m.Method) > 0 && !slices.Contains(m.Method, req.Method):
		return fmt.Sprintf("method %s is not one of %v", req.Method, m.Method)
	case m.Hosts != nil && !m.Hosts.Contains(req.Host):
		return fmt.Sprintf("host %s is not one of %v", req.Host, m.Host)
	case m.Paths != nil && !m.Paths.Contains(req.Path):
		return fmt.Sprintf("path %s matches none of %v", req.Path, m.Path)
	case len(m.Queries) > 0 && !slices.ContainsFunc(m.Queries, func(q rules.QueryTest) bool { return q.Matches(req.Query) }):
		return fmt.Sprintf("query %q has none of %v", req.Query, m.Query)
	case len(m.Class) > 0 && !slices.Contains(m.Class, res.Class):
		return fmt.Sprintf("class %s is not one of %v", res.Class, m.Class)
	case len(m.ASN) > 0 && (res.ASN == 0 || !slices.Contains(m.ASN, res.ASN)):
		if res.ASN == 0 {
			return fmt.Sprintf("AS of %s unknown (no ASN database, and not in the hosting prefix lists); the rule needs AS %v", req.IP, m.ASN)
		}
		return fmt.Sprintf("AS%d is not one of %v", res.ASN, m.ASN)
	case len(m.CIDR) > 0 && !slices.ContainsFunc(m.CIDR, func(p netip.Prefix) bool { return p.Contains(req.IP) }):
		return fmt.Sprintf("address %s is in none of %v", req.IP, m.CIDR)
	case len(m.RangeSets) > 0 && !slices.ContainsFunc(m.RangeSets, func(s *network.RangeSet) bool { return s.Contains(req.IP) }):
		return fmt.Sprintf("address %s is in none of the ranges %v", req.IP, m.Ranges)
	case m.Outdated && !res.Outdated:
		return "the browser is not outdated"
	case m.HasUserAgent():
		return uaNone
	}
	return "does not match"
}

// WriteText writes the explanation for a terminal.
func (e *Explanation) WriteText(w io.Writer) error {
	var b strings.Builder
	req, id := e.Request, e.Identity
	fmt.Fprintf(&b, "Request: %s %s%s", req.Method, req.Host, req.Path)
	if req.Query != "" {
		fmt.Fprintf(&b, "?%s", req.Query)
	}
	fmt.Fprintf(&b, " from %s, User-Agent %q, at %s\n", req.IP, req.UserAgent, e.Now.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Identity: class %s", id.Class)
	if id.Bot != "" {
		fmt.Fprintf(&b, ", bot %s", id.Bot)
	}
	if id.Rule != "" {
		fmt.Fprintf(&b, ", rule %s", id.Rule)
	}
	if id.Verified {
		b.WriteString(", verified")
	}
	if id.Impostor {
		b.WriteString(", IMPOSTOR")
	}
	if id.ASN != 0 {
		fmt.Fprintf(&b, ", AS%d %s", id.ASN, id.ASOrg)
	}
	if id.Prefix.IsValid() {
		fmt.Fprintf(&b, ", network %s", id.Prefix)
	}
	fmt.Fprintf(&b, "\nSite: %s\n\nRules, in order (+ matched, - did not):\n", e.Site)
	// Identity rules that failed on the User-Agent alone, or were not looked at, are many
	// (every AI crawler and tool): they are counted on one line each, with a few names.
	grouped := map[string][]string{}
	width := 0
	for _, r := range e.Rules {
		if groupable(r) {
			grouped[r.Why] = append(grouped[r.Why], r.Name)
		} else {
			width = max(width, len(r.Name))
		}
	}
	printedGroup := map[string]bool{}
	for _, r := range e.Rules {
		if groupable(r) {
			if names := grouped[r.Why]; !printedGroup[r.Why] {
				printedGroup[r.Why] = true
				shown := names[:min(len(names), 4)]
				more := ""
				if len(names) > len(shown) {
					more = fmt.Sprintf(", … (%d more)", len(names)-len(shown))
				}
				fmt.Fprintf(&b, "  - %d identity rules (%s%s): %s\n", len(names), strings.Join(shown, ", "), more, r.Why)
			}
			continue
		}
		mark := "-"
		if r.Matched {
			mark = "+"
		}
		fmt.Fprintf(&b, "  %s %-*s %-8s  %s\n", mark, width, r.Name, r.Kind, r.Why)
	}
	b.WriteString("\nDecision, step by step (floodgate's own, verdict.Decide):\n")
	for _, l := range strings.Split(strings.TrimRight(e.Trace.String(), "\n"), "\n") {
		if l != "" {
			b.WriteString("  " + l + "\n")
		}
	}
	v := e.Verdict
	fmt.Fprintf(&b, "\nAction: %s", v.Action)
	if v.Action == rules.ActionNone {
		b.WriteString(" (the request goes to the site)")
	}
	if v.Step == verdict.StepNone {
		b.WriteString(" — no rule, budget or site state stopped it")
	} else {
		fmt.Fprintf(&b, " — step %s", v.Step)
	}
	if v.Rule != "" {
		fmt.Fprintf(&b, ", rule %s", v.Rule)
	}
	if v.Budget != "" {
		fmt.Fprintf(&b, ", budget %s", v.Budget)
	}
	if v.Reason != "" && v.Reason != "budget" && v.Reason != "rule" {
		fmt.Fprintf(&b, ", %s", v.Reason)
	}
	if v.Action == rules.ActionThrottle {
		fmt.Fprintf(&b, "; Retry-After %ds", int(v.RetryAfter.Seconds()))
	}
	if v.Action == rules.ActionChallenge {
		fmt.Fprintf(&b, "; challenge level %s", v.ChallengeLevel)
	}
	if v.Shadowed {
		b.WriteString(" (shadow: only logged)")
	}
	fmt.Fprintf(&b, "; admission tier %d (%s)\n", v.Tier, v.Tier)
	_, err := io.WriteString(w, b.String())
	return err
}

// uaNone is why an identity rule whose other conditions hold did not match.
const uaNone = "the User-Agent matches none of its patterns"

// groupable reports whether a rule line is one of many alike: an identity rule not matched
// on its User-Agent, or not looked at.
func groupable(r RuleLine) bool {
	return r.Kind == "identity" && !r.Matched && (r.Why == uaNone || strings.HasPrefix(r.Why, "not looked at"))
}
