package replay

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// Summary sums up a replay.
type Summary struct {
	// Requests counts the requests played; Skipped the log lines that were not requests.
	Requests, Skipped int
	// First and Last are the times of the first and last request.
	First, Last time.Time
	ByClass     map[string]int
	ByAction    map[string]int
	// ByRule counts requests by the rule that decided (identity rule when none did) and action.
	ByRule map[RuleAction]int
	// Refused counts requests challenged, throttled or blocked, by bot, by network and by
	// client address.
	RefusedBots, RefusedNetworks, RefusedClients map[string]int
	// Minutes holds per-minute counts by class and by action, keyed by the minute's Unix time.
	Minutes map[int64]*Minute
	// Events lists under-attack switches and quarantines, in time order.
	Events []Event

	lastMinute   *Minute
	lastMinuteAt int64
}

// RuleAction is a rule and the action it led to.
type RuleAction struct{ Rule, Action string }

// Minute is one minute's requests by class and by action.
type Minute struct {
	ByClass, ByAction map[string]int
}

// NewSummary returns an empty summary.
func NewSummary() *Summary {
	return &Summary{ByClass: map[string]int{}, ByAction: map[string]int{}, ByRule: map[RuleAction]int{},
		RefusedBots: map[string]int{}, RefusedNetworks: map[string]int{}, RefusedClients: map[string]int{},
		Minutes: map[int64]*Minute{}}
}

// Refused reports whether the action keeps the request from the site.
func Refused(a rules.Action) bool { return a >= rules.ActionChallenge }

// Add counts one request and what was done with it.
func (s *Summary) Add(en *Entry, o Outcome) {
	if s.Requests == 0 || en.Time.Before(s.First) {
		s.First = en.Time
	}
	if en.Time.After(s.Last) {
		s.Last = en.Time
	}
	s.Requests++
	action := o.Action.String()
	s.ByClass[o.Class]++
	s.ByAction[action]++
	s.ByRule[RuleAction{o.Rule, action}]++
	minute := en.Time.Unix() / 60 * 60
	m := s.lastMinute
	if m == nil || minute != s.lastMinuteAt { // logs are in time order: usually the same minute
		m = s.Minutes[minute]
		if m == nil {
			m = &Minute{ByClass: map[string]int{}, ByAction: map[string]int{}}
			s.Minutes[minute] = m
		}
		s.lastMinute, s.lastMinuteAt = m, minute
	}
	m.ByClass[o.Class]++
	m.ByAction[action]++
	if Refused(o.Action) {
		bot := o.Bot
		if bot == "" {
			bot = "(" + o.Class + ")"
		}
		s.RefusedBots[bot]++
		net := o.Prefix
		if o.ASN != 0 {
			net = fmt.Sprintf("%s (AS%d %s)", o.Prefix, o.ASN, o.ASOrg)
		}
		s.RefusedNetworks[net]++
		s.RefusedClients[en.IP.String()]++
	}
}

// Counted is one name and its count, for sorted lists.
type Counted struct {
	Name  string
	Count int
}

// Top returns the n largest counts of m, largest first (ties by name).
func Top(m map[string]int, n int) []Counted {
	out := make([]Counted, 0, len(m))
	for k, v := range m {
		out = append(out, Counted{k, v})
	}
	slices.SortFunc(out, func(a, b Counted) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// actionOrder lists actions weakest first, for tables.
var actionOrder = []string{"pass", "allow", "log", "delay", "challenge", "throttle", "block"}

// WriteText writes the summary for a terminal.
func (s *Summary) WriteText(w io.Writer, top int) error {
	p := &printer{w: w}
	span := s.Last.Sub(s.First)
	p.f("%d requests from %s to %s (%s)", s.Requests, s.First.UTC().Format(time.RFC3339), s.Last.UTC().Format(time.RFC3339), span.Round(time.Second))
	if s.Skipped > 0 {
		p.f("; %d log lines skipped (not requests)", s.Skipped)
	}
	p.f("\n\nBy action:\n")
	for _, a := range actionOrder {
		if n := s.ByAction[a]; n > 0 {
			p.f("  %-10s %9d  %5.1f%%\n", a, n, pct(n, s.Requests))
		}
	}
	p.f("\nBy class:\n")
	for _, c := range Top(s.ByClass, 0) {
		p.f("  %-14s %9d  %5.1f%%\n", c.Name, c.Count, pct(c.Count, s.Requests))
	}
	p.f("\nBy rule and action (top %d):\n", top)
	byRule := map[string]int{}
	for ra, n := range s.ByRule {
		name := ra.Rule
		if name == "" {
			name = "(no rule)"
		}
		byRule[name+"\x00"+ra.Action] = n
	}
	for _, c := range Top(byRule, top) {
		rule, action, _ := strings.Cut(c.Name, "\x00")
		p.f("  %-34s %-10s %9d\n", rule, action, c.Count)
	}
	refused := 0
	for a, n := range s.ByAction {
		if a == "challenge" || a == "throttle" || a == "block" {
			refused += n
		}
	}
	p.f("\nWould have been refused (challenged, throttled or blocked): %d requests\n", refused)
	for _, sec := range []struct {
		title string
		m     map[string]int
	}{{"bots", s.RefusedBots}, {"networks", s.RefusedNetworks}, {"clients", s.RefusedClients}} {
		if len(sec.m) == 0 {
			continue
		}
		p.f("  top %s:\n", sec.title)
		for _, c := range Top(sec.m, top) {
			p.f("    %9d  %s\n", c.Count, c.Name)
		}
	}
	p.f("\nSites under attack or quarantined:")
	if len(s.Events) == 0 {
		p.f(" none\n")
	} else {
		p.f("\n")
		for _, ev := range s.Events {
			p.f("  %s  %-24s %-13s %s\n", ev.At.UTC().Format(time.RFC3339), ev.Site, ev.Kind, ev.Reason)
		}
	}
	return p.err
}

func pct(n, total int) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(n) / float64(total)
}

// printer writes formatted text and keeps the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}
