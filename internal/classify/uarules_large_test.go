package classify

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/network"
)

// TestUARulesLargeSetAgainstNaive checks the User-Agent matching of a rule set too large for
// the buffers uaRules keeps on the stack (more than 512 rules, 512 rules with a regex and 256
// regexes): the rule sets it then allocates answer as the plain loop does. 600 rules, of four
// kinds: identity rules with a regex that has a literal, identity rules with a user_agent list
// AND a regex, policy rules with a regex, identity rules whose regex has no literal (run on
// every User-Agent).
func TestUARulesLargeSetAgainstNaive(t *testing.T) {
	const n = 600
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: r%d\n", i)
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "    class: bot\n    match:\n      user_agent_regex: ['(?i)\\bbot%d\\b']\n", i)
		case 1:
			fmt.Fprintf(&b, "    class: bot\n    match:\n      user_agent: [List%d]\n      user_agent_regex: ['/%d\\.\\d']\n", i, i)
		case 2:
			fmt.Fprintf(&b, "    match:\n      user_agent_regex: ['agent%d/\\d']\n    action: block\n", i)
		case 3:
			fmt.Fprintf(&b, "    class: bot\n    match:\n      user_agent_regex: ['^\\d{%d}$']\n", 2+i%7)
		}
	}
	path := filepath.Join(t.TempDir(), "large.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c := New(loadSet(t, path), nil, network.PrefixLengths{})
	if len(c.set.Rules) != n || len(c.regexes) <= 256 || len(c.mixed) <= 512 {
		t.Fatalf("the set does not exceed the stack buffers: %d rules, %d regexes, %d mixed", len(c.set.Rules), len(c.regexes), len(c.mixed))
	}
	rng := rand.New(rand.NewPCG(7, 8))
	uas := []string{"", " ", "Mozilla/5.0", "123", "1234567", "12345678"}
	for range 60 {
		i, j := rng.IntN(n), rng.IntN(n)
		uas = append(uas,
			fmt.Sprintf("bot%d", i),
			fmt.Sprintf("Mozilla/5.0 (compatible; Bot%d; +http://x) agent%d/3", i, j),
			fmt.Sprintf("List%d/%d.4", i, i),
			fmt.Sprintf("List%d/%d.4 bot%d", i, j, j),
			fmt.Sprintf("agent%d/x List%d", i, j),
		)
	}
	compareWithNaive(t, c, rng, uas)
}
