package classify

import "math/bits"

// ruleSet is a set of rule indexes, as a bitmap.
type ruleSet []uint64

func newRuleSet(n int) ruleSet { return make(ruleSet, (n+63)/64) }

func (s ruleSet) add(i int) { s[i/64] |= 1 << (uint(i) % 64) }
func (s ruleSet) set(i int, on bool) {
	if on {
		s.add(i)
	} else {
		s[i/64] &^= 1 << (uint(i) % 64)
	}
}
func (s ruleSet) has(i int) bool { return s[i/64]&(1<<(uint(i)%64)) != 0 }
func (s ruleSet) union(o ruleSet) {
	for i := range s {
		s[i] |= o[i]
	}
}
func (s ruleSet) copyFrom(o ruleSet) { copy(s, o) }

// each calls fn for each member in increasing order until fn returns false.
func (s ruleSet) each(fn func(i int) bool) {
	for w, word := range s {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			if !fn(w*64 + b) {
				return
			}
			word &= word - 1
		}
	}
}
