package floodgate

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/floodgate-proxy/floodgate/rules"
)

// TestContentHashFollowsFiles: the hash the adapter embeds changes when a rule file, a range
// file it names or the ASN database changes, and only then.
func TestContentHashFollowsFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("nets.txt", "192.0.2.0/24\n")
	const ruleFile = "ranges:\n  office:\n    files: [nets.txt]\nrules:\n  - name: %s\n    match:\n      ranges: [office]\n    action: allow\n"
	rules := write("local.yaml", fmt.Sprintf(ruleFile, "office"))
	mmdb := write("asn.mmdb", "first database")
	if _, err := rulefiles.Load(rules); err != nil {
		t.Fatal(err)
	}
	h0 := contentHash([]string{"shipped", rules}, mmdb)
	if h0 != contentHash([]string{"shipped", rules}, mmdb) {
		t.Fatal("the hash of unchanged files changed")
	}
	seen := map[string]string{h0: "start"}
	for _, step := range []struct {
		name string
		edit func()
	}{
		{"rule file edited", func() { write("local.yaml", fmt.Sprintf(ruleFile, "office2")) }},
		{"range file edited", func() { write("nets.txt", "198.51.100.0/24\n") }},
		{"ASN database replaced", func() { write("asn.mmdb", "second database") }},
	} {
		step.edit()
		h := contentHash([]string{"shipped", rules}, mmdb)
		if prev, dup := seen[h]; dup {
			t.Errorf("%s: hash unchanged (same as after %s)", step.name, prev)
		}
		seen[h] = step.name
	}
}
