package rules

import (
	"fmt"
	"strings"
	"testing"
)

// sitesFile writes a rule file with n member sites, each with two host patterns, and one
// override in ten.
func sitesFile(n int) []byte {
	var b strings.Builder
	b.WriteString("rules:\n  - name: post-burst\n    match: {method: [POST]}\n    budgets:\n      - {rate: 120/min, per: host, action: quarantine}\n")
	b.WriteString("  - name: crawler\n    class: ai-crawler\n    match: {user_agent: [GPTBot]}\n")
	b.WriteString("sites:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: member%d\n    hosts: [member%d.example.org, \"*.member%d.example.org\"]\n    max_inflight: 8\n", i, i, i)
		if i%10 == 0 {
			fmt.Fprintf(&b, "    overrides:\n      - {class: ai-crawler, action: block}\n      - rule: post-burst\n        budgets: [{rate: 600/min, per: host, action: quarantine}]\n")
		}
	}
	return []byte(b.String())
}

// BenchmarkLoadSites parses and compiles a rule file of 1,000 and 5,000 member sites: what
// a config load or reload costs.
func BenchmarkLoadSites(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		data := sitesFile(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				f, err := Parse("sites.yaml", data)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Compile(OSSource{}, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSiteLookup finds a request host's site among 10, 1,000 and 100,000 sites: the
// cost must not grow with the number of sites.
func BenchmarkSiteLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		f, err := Parse("sites.yaml", sitesFile(n))
		if err != nil {
			b.Fatal(err)
		}
		set, err := Compile(OSSource{}, f)
		if err != nil {
			b.Fatal(err)
		}
		hosts := []string{"member7.example.org", "www.member3.example.org", "a.b.member9.example.org", "unknown.example.net"}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				set.Sites.Lookup(hosts[i%len(hosts)])
				i++
			}
		})
	}
}

func TestSitesFileLoads(t *testing.T) {
	f, err := Parse("sites.yaml", sitesFile(1000))
	if err != nil {
		t.Fatal(err)
	}
	set, err := Compile(OSSource{}, f)
	if err != nil {
		t.Fatal(err)
	}
	if set.Sites.Len() != 2000 {
		t.Fatalf("%d host patterns, want 2000", set.Sites.Len())
	}
	if s := set.Sites.Lookup("www.member999.example.org"); s == nil || s.Name != "member999" {
		t.Fatalf("lookup of a subdomain of the last site: %v", s)
	}
}
