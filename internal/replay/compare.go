package replay

import (
	"io"
	"strings"
)

// Comparison is what changes when the same log is played against a second rule set.
type Comparison struct {
	// Other is the summary of the replay against the second rule set.
	Other *Summary
	// Changed counts requests whose action differs, by "class bot: before → after" (with
	// the rule that decided after).
	Changed map[string]int
	// Same counts the requests that got the same action.
	Same int
}

func newComparison(other *Summary) *Comparison {
	return &Comparison{Other: other, Changed: map[string]int{}}
}

func (c *Comparison) add(a, b Outcome) {
	if a.Action == b.Action {
		c.Same++
		return
	}
	who := a.Class
	if b.Bot != "" {
		who += " " + b.Bot
	}
	rule := b.Rule
	if b.Action < a.Action {
		rule = a.Rule
	}
	c.Changed[who+": "+a.Action.String()+" → "+b.Action.String()+" ("+rule+")"]++
}

// WriteText writes what changed between the two rule sets.
func (c *Comparison) WriteText(w io.Writer, first *Summary, top int) error {
	p := &printer{w: w}
	changed := first.Requests - c.Same
	p.f("Compared with the second rule set: %d of %d requests (%.1f%%) get another action.\n\n", changed, first.Requests, pct(changed, first.Requests))
	p.f("  %-10s %12s %12s %9s\n", "action", "first", "second", "change")
	for _, a := range actionOrder {
		x, y := first.ByAction[a], c.Other.ByAction[a]
		if x == 0 && y == 0 {
			continue
		}
		p.f("  %-10s %12d %12d %+9d\n", a, x, y, y-x)
	}
	if len(c.Changed) > 0 {
		p.f("\nWhat changes (top %d: who: first → second (rule)):\n", top)
		for _, ch := range Top(c.Changed, top) {
			p.f("  %9d  %s\n", ch.Count, ch.Name)
		}
	}
	var newEvents []string
	seen := map[string]bool{}
	for _, e := range first.Events {
		seen[e.Site+" "+e.Kind] = true
	}
	for _, e := range c.Other.Events {
		if !seen[e.Site+" "+e.Kind] {
			newEvents = append(newEvents, e.At.UTC().Format("2006-01-02T15:04:05Z")+" "+e.Site+" "+e.Kind)
		}
	}
	if len(newEvents) > 0 {
		p.f("\nOnly with the second rule set: %s\n", strings.Join(newEvents, "; "))
	}
	return p.err
}
