package classify

import (
	"slices"
	"strings"
)

// substringIndex finds, in one pass over a text, every pattern it contains, ASCII
// case-insensitively (an Aho-Corasick automaton). It keeps user-agent matching linear in the
// length of the User-Agent, whatever the number of patterns.
type substringIndex struct {
	// classOf maps a lowercased byte to its column; bytes no pattern uses share column 0.
	classOf [256]uint8
	width   int
	// next[state*width+class] is the next state, failures folded in, stored as the offset of
	// its row (state*width) so the loop needs no multiplication, with hasOutput set when
	// patterns end there: the loop reads out only then (most bytes end no pattern, and out is
	// a second table the cache would have to fetch for every byte).
	next []uint32
	out  [][]int32 // out[state]: pattern ids ending here, including via suffix links
}

// hasOutput flags, in next, a state where patterns end.
const hasOutput = 1 << 31

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// newSubstringIndex builds the automaton; pattern i is reported as id i.
func newSubstringIndex(patterns []string) *substringIndex {
	ix := &substringIndex{width: 1}
	for _, p := range patterns {
		for i := 0; i < len(p); i++ {
			c := lower(p[i])
			if ix.classOf[c] == 0 {
				if ix.width == 255 {
					continue // more than 254 distinct bytes: the rest share column 0
				}
				ix.classOf[c] = uint8(ix.width)
				ix.width++
			}
		}
	}
	for c := 'A'; c <= 'Z'; c++ {
		ix.classOf[c] = ix.classOf[c+'a'-'A']
	}
	// Build the trie, in tables sized for its most states (one per pattern byte) so that
	// growing them does not copy megabytes again and again.
	states := 1
	for _, p := range patterns {
		states += len(p)
	}
	// (next holds plain state numbers until the end)
	next := make([]int32, ix.width, ix.width*states)
	ix.out = make([][]int32, 1, states)
	for id, p := range patterns {
		state := int32(0)
		for i := 0; i < len(p); i++ {
			col := int(ix.classOf[lower(p[i])])
			nx := next[int(state)*ix.width+col]
			if nx == 0 {
				nx = int32(len(ix.out))
				ix.out = append(ix.out, nil)
				next = append(next, make([]int32, ix.width)...)
				next[int(state)*ix.width+col] = nx
			}
			state = nx
		}
		ix.out[state] = append(ix.out[state], int32(id))
	}
	// Patterns share prefixes: give back the states that were not needed (the index lives as
	// long as its rules; next is copied into its final form below).
	ix.out = slices.Clone(ix.out)
	// Breadth-first: fold failure links into the goto table and merge outputs.
	fail := make([]int32, len(ix.out))
	queue := make([]int32, 0, len(ix.out))
	for col := 0; col < ix.width; col++ {
		if s := next[col]; s != 0 {
			queue = append(queue, s)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		ix.out[s] = append(ix.out[s], ix.out[fail[s]]...)
		for col := 0; col < ix.width; col++ {
			t := next[int(s)*ix.width+col]
			if t != 0 {
				fail[t] = next[int(fail[s])*ix.width+col]
				queue = append(queue, t)
			} else {
				next[int(s)*ix.width+col] = next[int(fail[s])*ix.width+col]
			}
		}
	}
	if len(next) >= hasOutput { // 8 GB of table: the allocations above would have failed first
		panic("classify: too many user_agent patterns for the substring index")
	}
	ix.next = make([]uint32, len(next))
	for i, s := range next {
		ix.next[i] = uint32(int(s) * ix.width)
		if len(ix.out[s]) > 0 {
			ix.next[i] |= hasOutput
		}
	}
	return ix
}

// each calls fn for every pattern found in text, with its id and the index just past its
// end, in increasing order of end (an id may be reported more than once).
func (ix *substringIndex) each(text string, fn func(id int32, end int)) {
	next, classOf := ix.next, &ix.classOf
	row := uint32(0)
	for i := 0; i < len(text); i++ {
		s := next[row+uint32(classOf[text[i]])]
		row = s &^ hasOutput
		if s&hasOutput != 0 {
			for _, id := range ix.out[int(row)/ix.width] {
				fn(id, i+1)
			}
		}
	}
}

// substringIndexFor is newSubstringIndex for patterns, shared with every classifier built
// from the same patterns in this process: a Caddy reload, each rule set of `floodgate replay
// --compare`, each replay. Building the automaton of the shipped rules costs milliseconds; a
// built index is never changed, so it is safe to share.
func substringIndexFor(patterns []string) *substringIndex {
	return indexCache.get(strings.Join(patterns, "\x00"), func() *substringIndex { return newSubstringIndex(patterns) })
}

// indexCache holds substringIndexFor's automata by their patterns (joined): a process holds
// one or two rule sets at a time (the old and the new during a reload, two under --compare).
var indexCache = buildCache[*substringIndex]{max: 8}
