package classify

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A User-Agent regex costs tens of microseconds (case-insensitive alternations run on Go's
// backtracker), a pass of the substring automaton well under one. So each regex gets, when
// one can be found, a set of necessary literals: texts of which every string the regex
// matches contains at least one (ASCII case-insensitively). The literals join the
// automaton's patterns, and a regex runs only for User-Agents where one of its literals was
// found. The answer is exactly the regex's: the literals only skip regexes that cannot match.

// minLiteralLen is the shortest literal kept. A one-byte literal is a weak filter ("/" is in
// every User-Agent) but never a wrong one.
const minLiteralLen = 1

// maxLiterals bounds the strings a part of a regex is expanded into ("https?" is two).
const maxLiterals = 64

// maxAltLiterals bounds the literal set of one regex; a larger set gives no prefilter.
const maxAltLiterals = 256

// maxClassRunes bounds the character classes expanded into literals ([sz] is two).
const maxClassRunes = 8

// regexFilter is one regex the classifier runs on User-Agents, with what the prefilter
// knows of it.
type regexFilter struct {
	re *regexp.Regexp
	// lits are necessary literals (lowercase); nil when none are known: re always runs.
	lits []string
	// precise: for an ASCII User-Agent, re matches exactly when one of lits is in it, so re
	// need not run at all.
	precise bool
	// before and after bound, in bytes, how far a match of re reaches before the start of
	// the literal it holds and after its end; -1 when unbounded. With both known, re runs on
	// a window around the literals found rather than on the whole User-Agent (see window).
	before, after int
}

// window returns the part of a text of n bytes that re, filtered by f, needs to see when the
// first of its literals found starts at first and the last found ends at last (exclusive): a
// match holds a literal at most f.before bytes after its start and f.after bytes before its
// end, and the literal is one the automaton found, so no match starts before first-before or
// ends after last+after. One byte more is kept on each side: at the window's edges the regex
// sees a start or end of text (^, $, \b) that the User-Agent has not there, and a match using
// such an edge would need a literal outside [first, last) — which the automaton would have
// found. So the regex says on the window what it says on the whole text.
func (f *regexFilter) window(first, last, n int) (lo, hi int) {
	lo, hi = 0, n
	if f.before >= 0 {
		lo = max(0, first-f.before-1)
	}
	if f.after >= 0 {
		hi = min(n, last+f.after+1)
	}
	return lo, hi
}

// filtersFor splits re into its top-level alternatives (re matches when one of them does),
// each with its prefilter, so that a User-Agent runs only the alternatives whose literals it
// holds. When re cannot be split it is kept whole. The result is shared (see
// filterCache): callers must not change it.
func filtersFor(re *regexp.Regexp) []regexFilter {
	return filterCache.get(re.String(), func() []regexFilter { return splitFilters(re) })
}

// filterCache holds filtersFor's answers by regex source, for the life of the process.
// Splitting a large alternation and compiling its parts costs milliseconds, and every
// classifier built from the same rules asks for the same regexes. At most 4,096: far more
// regexes than any rule set holds, so only a process that loads edited rules thousands of
// times ever starts again.
var filterCache = buildCache[[]regexFilter]{max: 4096}

// splitFilters is filtersFor without the cache. It splits the pattern's source at its
// top-level '|' (see topLevelAlternatives) rather than printing the parsed alternatives back
// to patterns: printing a case-folded character class such as [^;] folds every rune of
// Unicode, milliseconds per class, and the shipped rules have dozens.
func splitFilters(re *regexp.Regexp) []regexFilter {
	src := re.String()
	parts, ok := topLevelAlternatives(src)
	if !ok || len(parts) < 2 {
		parsed, err := syntax.Parse(src, syntax.Perl)
		if err != nil {
			return []regexFilter{{re: re}}
		}
		return []regexFilter{filterOf(re, parsed.Simplify())}
	}
	out := make([]regexFilter, 0, len(parts))
	for _, part := range parts {
		sub, err := regexp.Compile(part)
		if err != nil {
			return []regexFilter{{re: re}}
		}
		parsed, err := syntax.Parse(part, syntax.Perl)
		if err != nil {
			return []regexFilter{{re: re}}
		}
		out = append(out, filterOf(sub, parsed.Simplify()))
	}
	return out
}

// topLevelAlternatives splits a pattern at the '|' outside any group or class: the pattern
// matches a text exactly when one of the parts does. A leading flag group such as (?i)
// applies to every part, so it is kept in front of each. It reports false for what it does
// not follow (a flag group further on, which would carry across the '|', or \Q…\E); the
// caller then keeps the pattern whole.
func topLevelAlternatives(src string) ([]string, bool) {
	prefix, rest := "", src
	if strings.HasPrefix(src, "(?") {
		if end := strings.IndexByte(src, ')'); end > 0 && isFlagGroup(src[2:end]) {
			prefix, rest = src[:end+1], src[end+1:]
		}
	}
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '\\':
			if i+1 < len(rest) && rest[i+1] == 'Q' {
				return nil, false
			}
			i++
		case '[':
			end := classEnd(rest, i)
			if end < 0 {
				return nil, false
			}
			i = end
		case '(':
			if depth == 0 && strings.HasPrefix(rest[i:], "(?") {
				if end := strings.IndexByte(rest[i:], ')'); end > 0 && isFlagGroup(rest[i+2:i+end]) {
					return nil, false
				}
			}
			depth++
		case ')':
			depth--
		case '|':
			if depth == 0 {
				parts = append(parts, prefix+rest[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, prefix+rest[start:]), depth == 0
}

// isFlagGroup reports whether s, the inside of "(?" … ")", is a flag setting such as "i" or
// "i-s" (not a group with a body, such as "i:…" or "P<name>…").
func isFlagGroup(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 'i', 'm', 's', 'U', '-':
		default:
			return false
		}
	}
	return true
}

// classEnd returns the index of the ']' that closes the character class opening at
// src[open], or -1: a ']' first in the class (after an optional '^') is a member, '\\'
// escapes the next byte, and [:name:] is a member.
func classEnd(src string, open int) int {
	i := open + 1
	if i < len(src) && src[i] == '^' {
		i++
	}
	if i < len(src) && src[i] == ']' {
		i++
	}
	for ; i < len(src); i++ {
		switch {
		case src[i] == '\\':
			i++
		case strings.HasPrefix(src[i:], "[:"):
			end := strings.Index(src[i+2:], ":]")
			if end < 0 {
				return -1
			}
			i += 2 + end + 1
		case src[i] == ']':
			return i
		}
	}
	return -1
}

func filterOf(re *regexp.Regexp, parsed *syntax.Regexp) regexFilter {
	f := regexFilter{re: re, before: -1, after: -1}
	if set, precise, ok := exactSet(parsed); ok && usable(set) {
		f.lits, f.precise, f.before, f.after = set, precise, 0, 0
	} else if ls, ok := literalsOf(parsed); ok {
		f.lits, f.before, f.after = ls.lits, ls.before, ls.after
	}
	slices.Sort(f.lits)
	f.lits = slices.Compact(f.lits)
	return f
}

// litSet is a necessary literal set and where its literal lies in a match: at most before
// bytes after the match's start, at most after bytes before its end (-1: unbounded).
type litSet struct {
	lits          []string
	before, after int
}

// literalsOf returns a necessary literal set of re: every match of re contains one of them.
func literalsOf(re *syntax.Regexp) (litSet, bool) {
	if set, _, ok := exactSet(re); ok {
		return litSet{lits: set}, usable(set)
	}
	switch re.Op {
	case syntax.OpLiteral: // one the automaton cannot take whole: its longest safe run
		lit, _ := safeLiteral(re.Rune, re.Flags&syntax.FoldCase != 0)
		w := maxWidth(re)
		return litSet{lits: []string{lit}, before: w, after: w}, len(lit) >= minLiteralLen
	case syntax.OpCapture:
		return literalsOf(re.Sub[0])
	case syntax.OpPlus: // the first repetition holds a literal; more may follow
		ls, ok := literalsOf(re.Sub[0])
		ls.after = -1
		return ls, ok
	case syntax.OpRepeat:
		if re.Min >= 1 {
			ls, ok := literalsOf(re.Sub[0])
			if re.Max != re.Min || re.Max < 1 {
				ls.after = -1
			} else {
				ls.after = addWidths(ls.after, mulWidth(maxWidth(re.Sub[0]), re.Max-1))
			}
			return ls, ok
		}
	case syntax.OpAlternate:
		all := litSet{}
		for _, sub := range re.Sub {
			ls, ok := literalsOf(sub)
			if !ok {
				return litSet{}, false
			}
			all.lits = append(all.lits, ls.lits...)
			all.before, all.after = maxBound(all.before, ls.before), maxBound(all.after, ls.after)
		}
		if len(all.lits) > maxAltLiterals {
			return litSet{}, false
		}
		return all, true
	case syntax.OpConcat:
		// Every part must match, so any part's set will do, and so will the product of a
		// run of consecutive parts with exact sets ("<" then "?php" or "script"). widths[i]
		// is the widest match of the parts before part i.
		widths := make([]int, len(re.Sub)+1)
		for i, sub := range re.Sub {
			widths[i+1] = addWidths(widths[i], maxWidth(sub))
		}
		// rest returns the widest match of the parts from i on.
		rest := func(i int) int {
			w := 0
			for _, sub := range re.Sub[i:] {
				w = addWidths(w, maxWidth(sub))
			}
			return w
		}
		var best litSet
		consider := func(ls litSet) {
			if usable(ls.lits) && (best.lits == nil || betterLiterals(ls.lits, best.lits)) {
				best = ls
			}
		}
		var run []string
		runStart := 0
		for i, sub := range re.Sub {
			if set, _, ok := exactSet(sub); ok {
				if prod, ok := product(run, set); ok && run != nil {
					run = prod
				} else {
					consider(litSet{lits: run, before: widths[runStart], after: rest(i)})
					run, runStart = set, i
				}
				consider(litSet{lits: run, before: widths[runStart], after: rest(i + 1)})
				continue
			}
			consider(litSet{lits: run, before: widths[runStart], after: rest(i)})
			run = nil
			if ls, ok := literalsOf(sub); ok {
				ls.before = addWidths(widths[i], ls.before)
				ls.after = addWidths(ls.after, rest(i+1))
				consider(ls)
			}
		}
		return best, best.lits != nil
	}
	return litSet{}, false
}

// maxWidth returns the most bytes re can match, -1 when unbounded. A rune may take up to
// utf8.UTFMax bytes (under case folding 'k' also matches the 3-byte Kelvin sign).
func maxWidth(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0
	case syntax.OpLiteral:
		return utf8.UTFMax * len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return utf8.UTFMax
	case syntax.OpCapture, syntax.OpQuest:
		return maxWidth(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		if maxWidth(re.Sub[0]) == 0 {
			return 0
		}
		return -1
	case syntax.OpRepeat:
		if re.Max < 0 {
			if maxWidth(re.Sub[0]) == 0 {
				return 0
			}
			return -1
		}
		return mulWidth(maxWidth(re.Sub[0]), re.Max)
	case syntax.OpConcat:
		w := 0
		for _, sub := range re.Sub {
			w = addWidths(w, maxWidth(sub))
		}
		return w
	case syntax.OpAlternate:
		w := 0
		for _, sub := range re.Sub {
			w = maxBound(w, maxWidth(sub))
		}
		return w
	}
	return -1
}

// addWidths, mulWidth and maxBound combine widths where -1 is unbounded.
func addWidths(a, b int) int {
	if a < 0 || b < 0 {
		return -1
	}
	return a + b
}

func mulWidth(a, n int) int {
	if a < 0 {
		return -1
	}
	return a * n
}

func maxBound(a, b int) int {
	if a < 0 || b < 0 {
		return -1
	}
	return max(a, b)
}

// exactSet returns the strings re matches, lowercased, when they are few: a superset of
// them under ASCII case folding (empty-width assertions count as ""). ok is false when
// there are too many or re holds a rune the automaton cannot fold. precise is true when the
// set is exactly re's language for ASCII texts: re then matches an ASCII text exactly when
// the text contains one of the strings, ASCII case-insensitively.
func exactSet(re *syntax.Regexp) (set []string, precise, ok bool) {
	fold := re.Flags&syntax.FoldCase != 0
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []string{""}, true, true
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}, false, true
	case syntax.OpLiteral:
		lit, whole := safeLiteral(re.Rune, fold)
		return []string{lit}, fold || !hasLetter(re.Rune), whole
	case syntax.OpCharClass:
		precise = true
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi-lo >= maxClassRunes {
				return nil, false, false
			}
			for r := lo; r <= hi; r++ {
				switch {
				case r < utf8.RuneSelf:
					set = append(set, string(rune(lower(byte(r)))))
					if other := otherCase(r); other != r && !classHas(re.Rune, other) {
						precise = false // [A]: the automaton would also take "a"
					}
				case !slices.Contains(asciiFoldVariants, string(r)):
					return nil, false, false
				}
			}
		}
		slices.Sort(set)
		set = slices.Compact(set)
		return set, precise, len(set) > 0 && len(set) <= maxClassRunes
	case syntax.OpCapture:
		return exactSet(re.Sub[0])
	case syntax.OpQuest:
		set, precise, ok := exactSet(re.Sub[0])
		return append(set, ""), precise, ok && len(set) < maxLiterals
	case syntax.OpAlternate:
		precise = true
		for _, sub := range re.Sub {
			s, p, ok := exactSet(sub)
			if !ok || len(set)+len(s) > maxLiterals {
				return nil, false, false
			}
			set, precise = append(set, s...), precise && p
		}
		return set, precise, true
	case syntax.OpConcat:
		set, precise = []string{""}, true
		for _, sub := range re.Sub {
			s, p, ok := exactSet(sub)
			if !ok {
				return nil, false, false
			}
			if set, ok = product(set, s); !ok {
				return nil, false, false
			}
			precise = precise && p
		}
		return set, precise, true
	}
	return nil, false, false
}

func hasLetter(runes []rune) bool {
	for _, r := range runes {
		if otherCase(r) != r {
			return true
		}
	}
	return false
}

// otherCase returns the other case of an ASCII letter, r itself for anything else.
func otherCase(r rune) rune {
	switch {
	case r >= 'a' && r <= 'z':
		return r - 'a' + 'A'
	case r >= 'A' && r <= 'Z':
		return r - 'A' + 'a'
	}
	return r
}

// classHas reports whether the character class ranges hold r.
func classHas(ranges []rune, r rune) bool {
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i] <= r && r <= ranges[i+1] {
			return true
		}
	}
	return false
}

// product returns every a followed by every b, when there are at most maxLiterals.
func product(a, b []string) ([]string, bool) {
	if len(a)*len(b) > maxLiterals {
		return nil, false
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return out, true
}

// usable reports whether a literal set can filter: not empty, no literal too short.
func usable(lits []string) bool {
	return len(lits) > 0 && shortest(lits) >= minLiteralLen
}

func betterLiterals(a, b []string) bool {
	if ma, mb := shortest(a), shortest(b); ma != mb {
		return ma > mb
	}
	return len(a) < len(b)
}

func shortest(lits []string) int {
	n := len(lits[0])
	for _, l := range lits[1:] {
		n = min(n, len(l))
	}
	return n
}

// safeLiteral returns the longest run of runes whose matches the automaton finds exactly,
// lowercase UTF-8, and whether that run is the whole literal. With case folding, a non-ASCII rune that folds to others ends a run (the
// automaton folds ASCII letters only). ASCII letters are kept although 'k' and 's' also fold
// to the Kelvin sign and the long s: User-Agents holding those skip the prefilter
// (foldsToASCII).
func safeLiteral(runes []rune, fold bool) (string, bool) {
	var best, cur strings.Builder
	whole := true
	flush := func() {
		if cur.Len() > best.Len() {
			best.Reset()
			best.WriteString(cur.String())
		}
		cur.Reset()
	}
	for _, r := range runes {
		if r == utf8.RuneError || (fold && r >= utf8.RuneSelf && unicode.SimpleFold(r) != r) {
			whole = false
			flush()
			continue
		}
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		cur.WriteRune(r)
	}
	flush()
	return best.String(), whole
}

// asciiFoldVariants holds the UTF-8 forms of the non-ASCII runes that case-fold to an ASCII
// letter (the Kelvin sign and the long s in today's Unicode tables).
var asciiFoldVariants = func() []string {
	var v []string
	for r := rune('a'); r <= 'z'; r++ {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f >= utf8.RuneSelf {
				v = append(v, string(f))
			}
		}
	}
	return v
}()

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// foldsToASCII reports whether ua holds a non-ASCII rune that a case-insensitive regex
// takes for an ASCII letter; the prefilter does not see those, so every regex must run.
func foldsToASCII(ua string) bool {
	for i := 0; i < len(ua); i++ {
		if ua[i] >= utf8.RuneSelf {
			for _, v := range asciiFoldVariants {
				if strings.Contains(ua[i:], v) {
					return true
				}
			}
			return false
		}
	}
	return false
}
