package classify

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
}

// filtersFor splits re into its top-level alternatives (re matches when one of them does),
// each with its prefilter, so that a User-Agent runs only the alternatives whose literals it
// holds. When re cannot be split it is kept whole. The result is shared (see
// filterCache): callers must not change it.
func filtersFor(re *regexp.Regexp) []regexFilter {
	src := re.String()
	if f, ok := filterCache.Load(src); ok {
		return f.([]regexFilter)
	}
	out := splitFilters(re)
	if filterCacheSize.Add(1) > maxFilterCache {
		filterCache.Clear() // rules edited many times over: start again rather than grow
		filterCacheSize.Store(1)
	}
	filterCache.Store(src, out)
	return out
}

// filterCache holds filtersFor's answers by regex source, for the life of the process.
// Splitting a large alternation costs tens of milliseconds (printing each alternative back
// to a pattern folds every rune's case), and every classifier built from the same rules —
// each Caddy reload, each arm of `floodgate replay --compare`, each replay — asks for the
// same regexes: the shipped rules took 60 % of a 10,000-line replay before this. A compiled
// regexp.Regexp is safe for concurrent use, so the filters can be shared.
var (
	filterCache     sync.Map // string → []regexFilter
	filterCacheSize atomic.Int64
)

// maxFilterCache bounds filterCache: far more regexes than any rule set holds, so only a
// process that loads edited rules thousands of times ever clears it.
const maxFilterCache = 4096

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
	f := regexFilter{re: re}
	if set, precise, ok := exactSet(parsed); ok && usable(set) {
		f.lits, f.precise = set, precise
	} else if lits, ok := literalsOf(parsed); ok {
		f.lits = lits
	}
	slices.Sort(f.lits)
	f.lits = slices.Compact(f.lits)
	return f
}

// literalsOf returns a necessary literal set of re: every match of re contains one of them.
func literalsOf(re *syntax.Regexp) ([]string, bool) {
	if set, _, ok := exactSet(re); ok {
		return set, usable(set)
	}
	switch re.Op {
	case syntax.OpLiteral: // one the automaton cannot take whole: its longest safe run
		lit, _ := safeLiteral(re.Rune, re.Flags&syntax.FoldCase != 0)
		return []string{lit}, len(lit) >= minLiteralLen
	case syntax.OpCapture, syntax.OpPlus:
		return literalsOf(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return literalsOf(re.Sub[0])
		}
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			lits, ok := literalsOf(sub)
			if !ok {
				return nil, false
			}
			all = append(all, lits...)
		}
		if len(all) > maxAltLiterals {
			return nil, false
		}
		return all, true
	case syntax.OpConcat:
		// Every part must match, so any part's set will do, and so will the product of a
		// run of consecutive parts with exact sets ("<" then "?php" or "script").
		var best, run []string
		consider := func(lits []string) {
			if usable(lits) && (best == nil || betterLiterals(lits, best)) {
				best = lits
			}
		}
		for _, sub := range re.Sub {
			if set, _, ok := exactSet(sub); ok {
				if prod, ok := product(run, set); ok && run != nil {
					consider(run)
					run = prod
				} else {
					consider(run)
					run = set
				}
				continue
			}
			consider(run)
			run = nil
			if lits, ok := literalsOf(sub); ok {
				consider(lits)
			}
		}
		consider(run)
		return best, best != nil
	}
	return nil, false
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
