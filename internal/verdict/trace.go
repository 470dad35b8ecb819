package verdict

import (
	"fmt"

	"github.com/ulule/limiter/v3"

	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// Trace records a decision step by step: every rule that applied (the classifier said which
// match) and what it did, every budget counted with its count, and every later step that
// looked at the request. Set Request.Trace to a new Trace to fill it; a nil Trace costs
// nothing.
type Trace struct {
	Entries []TraceEntry
}

// TraceEntry is one thing the decision considered.
type TraceEntry struct {
	// Step is the step considering it.
	Step Step
	// Rule and Budget name the rule and budget considered, when there is one.
	Rule   string
	Budget string
	// Key is the budget's counting key; Count and Limit its hits in the window and its rate.
	Key          string
	Count, Limit int64
	// Action is the action the entry brought in (ActionNone: none).
	Action rules.Action
	// Note says what happened, in words: "past its rate", "within its rate", "store error…".
	Note string
	// Decided is true for the entry that set the verdict's action as it stands after its step.
	Decided bool
}

// rule records what a rule did (r may be nil for a step without one): e is its effect on
// the request's site, note says what happened.
func (t *Trace) rule(s Step, r *rules.Rule, e rules.Effect, decided bool, note string) {
	if t != nil {
		t.addRule(s, r, e, decided, note)
	}
}

// addRule is rule's work, not inlined: its entry would take room in the frame of every
// step of every decision, traced or not (the request's goroutine stack, see the handler).
//
//go:noinline
func (t *Trace) addRule(s Step, r *rules.Rule, e rules.Effect, decided bool, note string) {
	entry := TraceEntry{Step: s, Action: e.Action, Decided: decided, Note: note}
	if r != nil {
		entry.Rule = r.Name
	}
	if e.Overridden {
		entry.Note += " (overridden by the site)"
	}
	t.Entries = append(t.Entries, entry)
}

// budget records a budget counted: its key, count and limit, and what it did (raised says
// it decides the verdict now).
func (t *Trace) budget(r *rules.Rule, b *rules.Budget, key []byte, lc limiter.Context, err error, raised, shadow bool) {
	if t != nil {
		t.addBudget(r, b, key, lc, err, raised, shadow)
	}
}

// addBudget is budget's work, not inlined (see addRule).
//
//go:noinline
func (t *Trace) addBudget(r *rules.Rule, b *rules.Budget, key []byte, lc limiter.Context, err error, raised, shadow bool) {
	entry := TraceEntry{Step: StepBudget, Rule: r.Name, Budget: b.Label, Key: string(key), Decided: raised,
		Count: lc.Limit - lc.Remaining, Limit: lc.Limit}
	switch {
	case err != nil:
		entry.Count, entry.Limit, entry.Note = 0, 0, "store error, not counted: "+err.Error()
	case !lc.Reached:
		entry.Note = "within its rate"
	default:
		entry.Action, entry.Note = b.Action, pastNote(b, shadow)
	}
	t.Entries = append(t.Entries, entry)
}

// note records an entry of a step without rule or budget.
func (t *Trace) note(s Step, a rules.Action, decided bool, format string, args ...any) {
	if t != nil {
		t.Entries = append(t.Entries, TraceEntry{Step: s, Action: a, Decided: decided, Note: fmt.Sprintf(format, args...)})
	}
}

// String writes the trace one entry a line, for people.
func (t *Trace) String() string {
	if t == nil {
		return ""
	}
	var b []byte
	for _, e := range t.Entries {
		b = fmt.Appendf(b, "%-12s", e.Step)
		if e.Rule != "" {
			b = fmt.Appendf(b, " rule %s", e.Rule)
		}
		if e.Budget != "" {
			b = fmt.Appendf(b, " budget %s (%d/%d, key %s)", e.Budget, e.Count, e.Limit, e.Key)
		}
		if e.Action != rules.ActionNone {
			b = fmt.Appendf(b, " -> %s", e.Action)
		}
		if e.Note != "" {
			b = fmt.Appendf(b, ": %s", e.Note)
		}
		if e.Decided {
			b = append(b, " [decides]"...)
		}
		b = append(b, '\n')
	}
	return string(b)
}
