package classify

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// asciiLower lowers ASCII letters only, as the index does; other bytes (UTF-8 or not) are
// compared as they are.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower(c)
	}
	return string(b)
}

// naiveFind is the reference: the ids of the patterns text contains, ASCII case-insensitively.
func naiveFind(patterns []string, text string) []int32 {
	lt := asciiLower(text)
	var ids []int32
	for i, p := range patterns {
		if strings.Contains(lt, asciiLower(p)) {
			ids = append(ids, int32(i))
		}
	}
	return ids
}

// indexFind returns the distinct ids the index reports, sorted.
func indexFind(ix *substringIndex, text string) []int32 {
	var ids []int32
	ix.each(text, func(id int32, end int) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	})
	slices.Sort(ids)
	return ids
}

func checkIndex(t *testing.T, patterns []string, text string) bool {
	t.Helper()
	ix := newSubstringIndex(patterns)
	got, want := indexFind(ix, text), naiveFind(patterns, text)
	if !slices.Equal(got, want) {
		t.Errorf("patterns %q, text %q: index finds %v, want %v", patterns, text, got, want)
		return false
	}
	return true
}

func TestSubstringIndexCases(t *testing.T) {
	tests := []struct {
		patterns []string
		text     string
	}{
		{nil, "anything"},
		{[]string{"bot"}, ""},
		{[]string{"GPTBot"}, "Mozilla/5.0 (compatible; gptbot/1.2)"},
		{[]string{"GPTBot"}, "GPTBo"},
		{[]string{"he", "she", "his", "hers"}, "ushers"},             // the textbook case
		{[]string{"a", "aa", "aaa", "aaaa"}, "aaa"},                  // nested overlaps
		{[]string{"abcd", "bc", "c"}, "xabcx"},                       // a suffix link past a dead end
		{[]string{"iaskspider/2.0", "iaskspider"}, "IaskSpider/2.0"}, // a pattern inside another
		{[]string{"spider", "Spider", "SPIDER"}, "a spider"},         // duplicates after folding
		{[]string{"bot", "bot"}, "robot"},                            // identical patterns: both ids
		{[]string{"abab", "bab"}, "ababab"},
		{[]string{"é", "É"}, "caf\xc3\xa9"},          // non-ASCII: no Unicode folding
		{[]string{"\xff\xfe", "\xfe"}, "a\xff\xfeb"}, // bytes that are not UTF-8
		{[]string{"[", "@", "`", "{"}, "A[Z"},        // neighbours of A-Z and a-z
		{[]string{"python-requests/"}, "python-requests"},
	}
	for _, tt := range tests {
		checkIndex(t, tt.patterns, tt.text)
	}
}

// TestSubstringIndexProperty compares the automaton with strings.Contains over random
// patterns and texts drawn from a small alphabet, so that patterns overlap, nest and are
// suffixes of one another; the alphabet mixes cases, ASCII neighbours of the letters and
// bytes above 0x7f.
func TestSubstringIndexProperty(t *testing.T) {
	alphabet := []byte{'a', 'A', 'b', 'B', 'c', '/', ' ', '@', '[', 0xc3, 0xa9, 0xff, 0x80, 0}
	rng := rand.New(rand.NewPCG(1, 2))
	randString := func(maxLen int) string {
		b := make([]byte, 1+rng.IntN(maxLen))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	failures := 0
	for round := 0; round < 400 && failures < 5; round++ {
		var patterns []string
		for n := rng.IntN(12); len(patterns) < n; {
			p := randString(6)
			switch rng.IntN(4) {
			case 0: // a suffix of an earlier pattern
				if len(patterns) > 0 {
					q := patterns[rng.IntN(len(patterns))]
					p = q[rng.IntN(len(q)):]
				}
			case 1: // an earlier pattern extended
				if len(patterns) > 0 {
					p = patterns[rng.IntN(len(patterns))] + p
				}
			}
			patterns = append(patterns, p)
		}
		ix := newSubstringIndex(patterns)
		for k := 0; k < 50; k++ {
			text := randString(40)
			if len(patterns) > 0 && rng.IntN(2) == 0 { // plant a pattern, maybe recased
				p := patterns[rng.IntN(len(patterns))]
				if rng.IntN(2) == 0 {
					p = strings.ToUpper(p)
				}
				at := rng.IntN(len(text) + 1)
				text = text[:at] + p + text[at:]
			}
			got, want := indexFind(ix, text), naiveFind(patterns, text)
			if !slices.Equal(got, want) {
				t.Errorf("patterns %q, text %q: index finds %v, want %v", patterns, text, got, want)
				failures++
			}
		}
	}
}

// Every byte value may appear in patterns and texts: the automaton's columns must not run out.
func TestSubstringIndexAllBytes(t *testing.T) {
	var patterns []string
	for c := 0; c < 256; c++ {
		patterns = append(patterns, string([]byte{byte(c), byte(255 - c)}))
	}
	var text []byte
	for c := 0; c < 256; c++ {
		text = append(text, byte(c), byte(c*7))
	}
	checkIndex(t, patterns, string(text))
	for c := 0; c < 256; c += 17 {
		checkIndex(t, patterns, string([]byte{byte(c), byte(255 - c)}))
	}
}

func FuzzSubstringIndex(f *testing.F) {
	f.Add("he\x00she\x00his\x00hers", "ushers")
	f.Add("GPTBot\x00bot", "Mozilla/5.0 (compatible; GPTBot/1.0)")
	f.Add("\xc3\xa9\x00\xa9", "caf\xc3\xa9")
	f.Fuzz(func(t *testing.T, joined, text string) {
		var patterns []string
		for _, p := range strings.Split(joined, "\x00") {
			if p != "" && len(patterns) < 64 {
				patterns = append(patterns, p)
			}
		}
		checkIndex(t, patterns, text)
	})
}
