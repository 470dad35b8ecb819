package classify

import (
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

func TestNecessaryLiterals(t *testing.T) {
	tests := []struct {
		re   string
		want []string // nil: no prefilter
	}{
		{`(?i)GPTBot`, []string{"gptbot"}},
		{`(?i)^Mozilla/\d`, []string{"mozilla/"}},
		{`(?-i:Meta-ExternalAgent)`, []string{"meta-externalagent"}},
		{`(?i)https?://`, []string{"http://", "https://"}},
		{`(?i)analy[sz]er`, []string{"analyser", "analyzer"}},
		{`(?i)<\?(?:php|=)|<script`, []string{"<?=", "<?php", "<script"}},
		{`(?i)(?:^|[^a-z])curl/`, []string{"curl/"}},
		{`(?i)a+bcd`, []string{"bcd"}},
		{`(?i)(?:xy){2,}z`, []string{"xy"}},
		{`(?i)café`, []string{"caf"}}, // é also folds to É, which the automaton does not fold
		{`caf\x{FFFD}`, []string{"caf"}},
		{`(?i)kelvin`, []string{"kelvin"}}, // k, s: see foldsToASCII
		{`(?i)foo|.*`, nil},
		{`(?i)a*`, nil},
		{`(?i)x?`, nil},
		{`[a-z]+`, nil},
		{`.`, nil},
	}
	for _, tt := range tests {
		got, ok := necessaryLiterals(regexp.MustCompile(tt.re))
		if !ok {
			got = nil
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: literals %q, want %q", tt.re, got, tt.want)
		}
	}
}

func TestFoldsToASCII(t *testing.T) {
	if len(asciiFoldVariants) == 0 {
		t.Fatal("no non-ASCII rune folds to an ASCII letter: expected the Kelvin sign and the long s")
	}
	for _, tt := range []struct {
		ua   string
		want bool
	}{
		{"Mozilla/5.0", false},
		{"café", false},
		{"\u212Aelvin", true},
		{"bot \u017Fpider", true},
		{"\xff\xfe", false},
	} {
		if got := foldsToASCII(tt.ua); got != tt.want {
			t.Errorf("foldsToASCII(%q) = %v, want %v", tt.ua, got, tt.want)
		}
	}
}

// variants returns texts derived from ua that stress folding: recased, with the Kelvin
// sign and long s, with bytes that are not UTF-8.
func variants(rng *rand.Rand, ua string) []string {
	out := []string{ua, strings.ToUpper(ua), strings.ToLower(ua)}
	b := []byte(ua)
	for i := range b {
		if rng.IntN(3) == 0 {
			if c := b[i]; c >= 'a' && c <= 'z' {
				b[i] = c - 'a' + 'A'
			} else if c >= 'A' && c <= 'Z' {
				b[i] = c - 'A' + 'a'
			}
		}
	}
	out = append(out, string(b))
	out = append(out, strings.NewReplacer("k", "\u212A", "s", "\u017F").Replace(ua))
	if len(ua) > 2 {
		at := rng.IntN(len(ua))
		out = append(out, ua[:at]+"\xc3"+ua[at:])
	}
	return out
}

// naiveUARules is the reference for the User-Agent conditions of a rule set (README
// semantics, no automaton, no prefilter, no cache): every condition given must hold.
func naiveUARule(r *rules.Rule, ua string) bool {
	m := &r.Match
	if len(m.UserAgent) > 0 && naiveFind(m.UserAgent, ua) == nil {
		return false
	}
	if m.UserAgentEmpty && strings.TrimSpace(ua) != "" {
		return false
	}
	if len(m.UserAgentRegex) > 0 {
		ok := false
		for _, re := range m.UserAgentRegex {
			ok = ok || re.MatchString(ua)
		}
		if !ok {
			return false
		}
	}
	return true
}

// TestUARulesAgainstNaive checks the automaton, the regex prefilter and the AND of
// User-Agent conditions together: for the shipped rules and the test rules, over every isbot
// User-Agent and variants of it, the rules the classifier finds are those a plain loop finds.
func TestUARulesAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	uas := append(realUAs(t), "", " ", "ComboBot/2.0", "Other/2.0", "curl/8", "\u212Alaus crawler")
	for _, c := range []*Classifier{shippedClassifier(t), newTestClassifier(t)} {
		compareWithNaive(t, c, rng, uas)
	}
}

// compareWithNaive checks that, for every User-Agent of uas and variants of it, c finds the
// rules naiveUARule finds (identity rules after the first that matches on the User-Agent
// alone excepted: their regexes must not have run).
func compareWithNaive(t *testing.T, c *Classifier, rng *rand.Rand, uas []string) {
	t.Helper()
	failures := 0
	for _, ua := range uas {
		for _, v := range variants(rng, ua) {
			got := c.uaRules(v).rules
			// Identity rules after the first one that matches on the User-Agent alone are
			// skipped (they can never be the first match): not compared.
			decided := len(c.set.Rules)
			for _, r := range c.set.Rules {
				if r.IsIdentity() && onlyUserAgent(&r.Match) && naiveUARule(r, v) {
					decided = r.Index
					break
				}
			}
			for _, r := range c.set.Rules {
				if r.Index > decided && r.IsIdentity() {
					if got.has(r.Index) && r.Match.HasUserAgent() && len(r.Match.UserAgentRegex) > 0 {
						t.Errorf("rule %s after the decided identity rule: its regexes ran", r.Name)
					}
					continue
				}
				if want := naiveUARule(r, v); got.has(r.Index) != want && failures < 10 {
					failures++
					t.Errorf("rule %s (%s:%d), UA %q: classifier says %v, plain loop %v", r.Name, r.File, r.Line, v, got.has(r.Index), want)
				}
			}
		}
	}
}

// TestPrefilterProperty checks the literal analysis on random regexes built from pieces that
// stress it (alternations, optional parts, classes, repeats, anchors, folding), against
// random texts: whenever the regex matches, one of its literals is in the text; and the
// classifier (regex split into alternatives, prefiltered, precise sets not run) says what
// the regex says.
func TestPrefilterProperty(t *testing.T) {
	pieces := []string{"ab", "Sk", "k", "s", "é", "x", "[sz]", "[a-c]", "\\d", "(?:ab|c)", "(?:s|)", "b?", "a+", "c*",
		"^", "$", "\\b", ".", "(?-i:Ab)", "(?:x|y|zz)", "[^a]", "\\s", "(?:ab){2}", "(?:ab){0,2}"}
	alphabet := []string{"a", "b", "c", "A", "B", "s", "S", "k", "K", "x", "y", "z", "é", "É", "\u212A", "\u017F", "1", " ", "\xff"}
	rng := rand.New(rand.NewPCG(5, 6))
	failures := 0
	for round := 0; round < 3000 && failures < 10; round++ {
		var b strings.Builder
		if rng.IntN(2) == 0 {
			b.WriteString("(?i)")
		}
		for n := 1 + rng.IntN(4); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
			if rng.IntN(4) == 0 {
				b.WriteString("|")
			}
		}
		src := strings.TrimSuffix(b.String(), "|")
		re, err := regexp.Compile(src)
		if err != nil {
			continue
		}
		lits, ok := necessaryLiterals(re)
		// The classifier, with the regex split into alternatives and prefiltered, must
		// answer as the regex does.
		r := &rules.Rule{Name: "r", Class: "bot", Match: rules.Match{UserAgentRegex: []*regexp.Regexp{re}}}
		c := New(&rules.Set{Rules: []*rules.Rule{r}}, nil, network.PrefixLengths{})
		for k := 0; k < 40; k++ {
			var tb strings.Builder
			ascii := rng.IntN(2) == 0
			for n := rng.IntN(10); n > 0; n-- {
				if a := alphabet[rng.IntN(len(alphabet))]; !ascii || isASCII(a) {
					tb.WriteString(a)
				}
			}
			text := tb.String()
			match := re.MatchString(text)
			if ok && match && !foldsToASCII(text) && naiveFind(lits, text) == nil {
				failures++
				t.Errorf("regex %q matches %q, yet none of its literals %q is in it", src, text, lits)
			}
			if got := c.uaRules(text).rules.has(0); got != match {
				failures++
				t.Errorf("regex %q on %q: classifier says %v, the regex %v (filters %+v)", src, text, got, match, filtersFor(re))
			}
		}
	}
}

// necessaryLiterals returns the literals the prefilter extracts from re, lowercase, such that
// every string re matches contains one of them; ok is false when it finds none (the regex
// must then run on every User-Agent).
func necessaryLiterals(re *regexp.Regexp) (lits []string, ok bool) {
	parsed, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil, false
	}
	f := filterOf(re, parsed.Simplify())
	return f.lits, f.lits != nil
}

// TestRegexWindowProperty checks that running a regex on the window around its literals
// (regexFilter.window) answers as the whole text does: random regexes with bounded and
// unbounded context around literals (anchors, word boundaries, negated classes, repeats,
// alternations) on random texts long enough for the window to cut them, with the literals
// at the edges, repeated, or absent.
func TestRegexWindowProperty(t *testing.T) {
	around := []string{"", "^", "$", "\\b", "\\B", "(?:^|[^u])", "(?:^|[^u]|[^c]u)", "[^a-z]", "(?:[^a-z]|$)", ".", ".?", "x?",
		"[a-z]*", "\\d+", "(?:ab|c)", "(?:a|bc){1,2}", "(?:/\\d|$)", "(?:[ ;)]|$)", "\\s*", "(?m:^)", "(?s:.)"}
	lits := []string{"bot", "ab", "Sk", "é", "(?:foo|ba)", "(?-i:Bot)", "x\\.y", "(?:bot|spider)+"}
	alphabet := []string{"a", "b", "c", "o", "t", "bot", "Bot", "cu", "u", "x", "x.y", "foo", "ba", "1", " ", "/", ";", "\n", "é", "\u212A", "S", "k"}
	rng := rand.New(rand.NewPCG(9, 10))
	failures, windowed := 0, 0
	for round := 0; round < 1000 && failures < 10; round++ {
		src := around[rng.IntN(len(around))] + lits[rng.IntN(len(lits))] + around[rng.IntN(len(around))]
		if rng.IntN(3) == 0 {
			src += "|" + around[rng.IntN(len(around))] + lits[rng.IntN(len(lits))] + around[rng.IntN(len(around))]
		}
		if rng.IntN(2) == 0 {
			src = "(?i)" + src
		}
		re, err := regexp.Compile(src)
		if err != nil {
			continue
		}
		r := &rules.Rule{Name: "r", Class: "bot", Match: rules.Match{UserAgentRegex: []*regexp.Regexp{re}}}
		c := New(&rules.Set{Rules: []*rules.Rule{r}}, nil, network.PrefixLengths{})
		for _, f := range filtersFor(re) {
			if f.lits != nil && !f.precise && (f.before >= 0 || f.after >= 0) {
				windowed++
			}
		}
		for k := 0; k < 30; k++ {
			var tb strings.Builder
			for n := rng.IntN(40); n > 0; n-- {
				tb.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			text := tb.String()
			if got, want := c.uaRules(text).rules.has(0), re.MatchString(text); got != want {
				failures++
				t.Errorf("regex %q on %q: classifier says %v, the regex %v (filters %+v)", src, text, got, want, filtersFor(re))
			}
		}
	}
	if windowed < 200 {
		t.Errorf("only %d regexes were run on windows: the test says little", windowed)
	}
}
