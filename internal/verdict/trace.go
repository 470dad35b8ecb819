package verdict

import (
	"fmt"

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

// add records an entry; a nil Trace records nothing.
func (t *Trace) add(e TraceEntry) {
	if t != nil {
		t.Entries = append(t.Entries, e)
	}
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
