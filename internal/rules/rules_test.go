package rules

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/rules/bad/*.err from the errors the files give now")

// testdataRules holds good/ and bad/; files are loaded through an FSSource rooted there, so
// messages name them "bad/x.yaml" whatever the working folder.
const testdataRules = "../../testdata/rules"

func testSource() Source { return FSSource{FS: os.DirFS(testdataRules)} }

func goodFiles(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(testdataRules, "good", "*.yaml"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no good rule files under %s (err %v)", testdataRules, err)
	}
	for i, n := range names {
		names[i] = path.Join("good", filepath.Base(n))
	}
	slices.Sort(names)
	return names
}

func TestGoodFilesLoadAlone(t *testing.T) {
	for _, name := range goodFiles(t) {
		t.Run(name, func(t *testing.T) {
			set, err := Load(testSource(), name)
			if err != nil {
				t.Fatalf("Load(%s): %v", name, err)
			}
			if len(set.Rules) == 0 {
				t.Fatalf("%s gave no rules", name)
			}
		})
	}
}

func TestGoodFilesCompiled(t *testing.T) {
	names := goodFiles(t)
	set, err := Load(testSource(), names...)
	if err != nil {
		t.Fatalf("Load(%v): %v", names, err)
	}
	if !slices.Equal(set.Files, names) {
		t.Errorf("Files = %v, want %v", set.Files, names)
	}
	byName := map[string]*Rule{}
	for i, r := range set.Rules {
		if r.Index != i {
			t.Errorf("rule %s has Index %d at position %d", r.Name, r.Index, i)
		}
		byName[r.Name] = r
	}
	rule := func(name string) *Rule {
		t.Helper()
		r := byName[name]
		if r == nil {
			t.Fatalf("no rule %q in the good set", name)
		}
		return r
	}
	if want := 17; len(set.Rules) != want {
		t.Errorf("%d rules, want %d", len(set.Rules), want)
	}
	for _, c := range append([]string{"partner", "monitoring"}, BuiltinClasses...) {
		if !set.Classes[c] {
			t.Errorf("class %q unknown to the set", c)
		}
	}
	// Identity order: file order, then rule order.
	if set.Rules[0].Name != "Googlebot" || set.Rules[len(set.Rules)-1].Name != "not-found-flood" {
		t.Errorf("rules not in load order: first %s, last %s", set.Rules[0].Name, set.Rules[len(set.Rules)-1].Name)
	}

	g := rule("Googlebot")
	if !g.IsIdentity() || g.Class != ClassSearchBot || g.Bot != "Googlebot" || g.Impostor != ActionBlock {
		t.Errorf("Googlebot: identity %v class %q bot %q impostor %v", g.IsIdentity(), g.Class, g.Bot, g.Impostor)
	}
	if g.File != "good/10-crawlers.yaml" || g.Line != 21 {
		t.Errorf("Googlebot written at %s:%d, want good/10-crawlers.yaml:21", g.File, g.Line)
	}
	if len(g.VerifySets) != 1 {
		t.Fatalf("Googlebot has %d verify sets, want 1", len(g.VerifySets))
	}
	for ip, want := range map[string]bool{
		"66.249.66.31": true, "66.249.66.32": false, "66.249.72.100": true, "66.249.64.1": true,
		"66.249.64.2": false, "2001:4860:4801:1::9": true, "2001:4860:4802::1": false, "192.0.2.1": false,
	} {
		if got := g.VerifySets[0].Contains(netip.MustParseAddr(ip)); got != want {
			t.Errorf("googlebot range contains %s = %v, want %v", ip, got, want)
		}
	}
	// A published range list holding a documentation network loads without it, with a warning.
	if len(set.Warnings) != 1 || !strings.Contains(set.Warnings[0], "googlebot.txt:7: 192.0.2.0/27 is a documentation network") {
		t.Errorf("warnings %q, want the skipped documentation network", set.Warnings)
	}
	if b := rule("Bingbot"); b.Bot != "bing" || b.Impostor != ActionThrottle || len(b.Match.UserAgent) != 1 {
		t.Errorf("Bingbot: bot %q impostor %v user_agent %v", b.Bot, b.Impostor, b.Match.UserAgent)
	}

	gpt := rule("GPTBot")
	if len(gpt.Budgets) != 2 {
		t.Fatalf("GPTBot has %d budgets, want 2", len(gpt.Budgets))
	}
	if b := gpt.Budgets[0]; b.Label != "60/min per bot+host" || b.Action != ActionThrottle || b.Rate != (Rate{60, time.Minute}) {
		t.Errorf("GPTBot budget 0 = %+v", b)
	}
	if b := gpt.Budgets[1]; b.Label != "600/10min per bot" || b.Action != ActionBlock || b.Rate.Period != 10*time.Minute {
		t.Errorf("GPTBot budget 1 = %+v", b)
	}
	if len(gpt.Match.UserAgentRegex) != 1 || !gpt.Match.UserAgentRegex[0].MatchString("mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; gptbot/1.2)") {
		t.Errorf("GPTBot user_agent_regex %v does not match a lowercased GPTBot agent", gpt.Match.UserAgentRegex)
	}

	cs := rule("cloud-scrapers")
	if !slices.Equal(cs.Match.ASN, []uint32{16509, 14618, 8075}) {
		t.Errorf("cloud-scrapers asn = %v", cs.Match.ASN)
	}
	if b := cs.Budgets[0]; b.Action != ActionDelay || b.MaxDelay != 1500*time.Millisecond || !slices.Equal(b.Per, []KeyPart{KeyASN, KeyBot}) {
		t.Errorf("cloud-scrapers budget = %+v", b)
	}
	if b := rule("no-user-agent").Budgets[0]; b.Action != ActionLog || b.MaxDelay != 0 || !slices.Equal(b.Per, []KeyPart{KeyPrefix}) || b.Rate.Period != 24*time.Hour {
		t.Errorf("no-user-agent budget = %+v", b)
	}
	if m := rule("no-user-agent").Match; !m.UserAgentEmpty || !m.HasUserAgent() {
		t.Errorf("no-user-agent: user_agent_empty not read")
	}
	if r := rule("uptime-checks"); r.Action != ActionAllow || r.Match.UserAgentEmpty || !slices.Equal(r.Match.Method, []string{"HEAD", "GET"}) {
		t.Errorf("uptime-checks = action %v method %v", r.Action, r.Match.Method)
	}

	ps := rule("partner-sync")
	if ps.Class != "partner" || len(ps.Match.RangeSets) != 1 || !ps.Match.RangeSets[0].Contains(netip.MustParseAddr("198.51.100.7")) ||
		ps.Match.RangeSets[0].Contains(netip.MustParseAddr("198.51.100.8")) {
		t.Errorf("partner-sync: class %q, range sets %v", ps.Class, ps.Match.RangeSets)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("203.0.113.9/32"), netip.MustParsePrefix("2001:db8:2::/64")}; !slices.Equal(ps.Match.CIDR, want) {
		t.Errorf("partner-sync cidr = %v, want %v", ps.Match.CIDR, want)
	}

	wp := rule("wp-login-posts")
	if wp.IsIdentity() || len(wp.Budgets) != 4 {
		t.Fatalf("wp-login-posts: identity %v, %d budgets", wp.IsIdentity(), len(wp.Budgets))
	}
	var labels []string
	var actions []Action
	for _, b := range wp.Budgets {
		labels = append(labels, b.Label)
		actions = append(actions, b.Action)
	}
	if want := []string{"5/min per ip+host", "30/min per prefix+host", "300/hour per asn", "1000/day per class+host"}; !slices.Equal(labels, want) {
		t.Errorf("wp-login-posts labels = %q, want %q", labels, want)
	}
	if want := []Action{ActionThrottle, ActionBlock, ActionDelay, ActionLog}; !slices.Equal(actions, want) {
		t.Errorf("wp-login-posts actions = %v, want %v", actions, want)
	}
	if wp.Budgets[2].MaxDelay != DefaultMaxDelay {
		t.Errorf("delay budget without max_delay: MaxDelay = %v, want %v", wp.Budgets[2].MaxDelay, DefaultMaxDelay)
	}
	if !wp.Match.Paths.Contains("/xmlrpc.php") || wp.Match.Paths.Contains("/wp-login.php5") {
		t.Errorf("wp-login-posts paths wrong")
	}

	up := rule("upload-php")
	if up.Action != ActionBlock || !up.Match.Paths.Contains("/wp-content/uploads/2024/01/x.php") ||
		!up.Match.Paths.Contains("/IMG/a.php") || up.Match.Paths.Contains("/IMG/sub/a.php") {
		t.Errorf("upload-php: action %v, paths wrong", up.Action)
	}
	spip := rule("spip-search")
	for host, want := range map[string]bool{"example.org": true, "www.example.org": true, "exemple.net": true, "badexample.org": false, "example.net": false} {
		if got := spip.Match.Hosts.Contains(host); got != want {
			t.Errorf("spip-search host %s = %v, want %v", host, got, want)
		}
	}
	if len(spip.Match.Queries) != 2 || spip.Match.Queries[0] != (QueryTest{Key: "page", Value: "recherche", HasValue: true}) ||
		spip.Match.Queries[1] != (QueryTest{Key: "recherche"}) {
		t.Errorf("spip-search queries = %+v", spip.Match.Queries)
	}
	if q := rule("search-empty-value").Match.Queries; len(q) != 1 || q[0] != (QueryTest{Key: "s", HasValue: true}) {
		t.Errorf("search-empty-value queries = %+v", q)
	}
	if r := rule("ai-everywhere"); !slices.Equal(r.Match.Class, []string{ClassAICrawler, ClassBot}) || r.IsIdentity() {
		t.Errorf("ai-everywhere match.class = %v", r.Match.Class)
	}
	if r := rule("own-monitoring"); r.Action != ActionAllow || len(r.Match.CIDR) != 2 || r.Match.CIDR[1] != netip.MustParsePrefix("::1/128") {
		t.Errorf("own-monitoring = action %v cidr %v", r.Action, r.Match.CIDR)
	}

	// shadow: written after rules: still reaches every rule of its file, and only those.
	for _, r := range set.Rules {
		if want := r.File == "good/30-shadow.yaml"; r.Shadow != want {
			t.Errorf("rule %s (%s): Shadow = %v, want %v", r.Name, r.File, r.Shadow, want)
		}
	}
}

// TestOSSource loads a good file from disk: range files resolve against the rule file's folder.
func TestOSSource(t *testing.T) {
	name := filepath.Join(testdataRules, "good", "10-crawlers.yaml")
	set, err := Load(OSSource{}, name)
	if err != nil {
		t.Fatalf("Load(OSSource, %s): %v", name, err)
	}
	if set.Rules[0].File != name || len(set.Rules[0].VerifySets) != 1 {
		t.Errorf("first rule from %s with %d verify sets", set.Rules[0].File, len(set.Rules[0].VerifySets))
	}
	_, err = Load(OSSource{}, filepath.Join(testdataRules, "good", "missing.yaml"))
	want := filepath.Join(testdataRules, "good", "missing.yaml") + ": cannot read the rule file: no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("Load(missing) = %v, want %q", err, want)
	}
}

// badCases maps each case of testdata/rules/bad to the files it loads together: X.yaml
// alone, or X.1.yaml, X.2.yaml… in order when a problem spans files.
func badCases(t *testing.T) map[string][]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(testdataRules, "bad", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no bad rule files under %s (err %v)", testdataRules, err)
	}
	cases := map[string][]string{}
	for _, p := range paths {
		base := filepath.Base(p)
		stem, _, _ := strings.Cut(base, ".")
		cases[stem] = append(cases[stem], path.Join("bad", base))
	}
	for _, files := range cases {
		slices.Sort(files)
	}
	return cases
}

// locatedLine is the shape every line of a golden must have: file:line: message.
var locatedLine = regexp.MustCompile(`^bad/[a-z0-9./-]+:[1-9][0-9]*: \S`)

func TestBadFiles(t *testing.T) {
	cases := badCases(t)
	for stem, files := range cases {
		t.Run(stem, func(t *testing.T) {
			_, err := Load(testSource(), files...)
			if err == nil {
				t.Fatalf("Load(%v) gave no error", files)
			}
			got := err.Error() + "\n"
			golden := filepath.Join(testdataRules, "bad", stem+".err")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("no golden (run go test -run TestBadFiles -update): %v", rerr)
			}
			if got != string(want) {
				t.Errorf("Load(%v) error:\n%s\nwant (%s):\n%s", files, got, golden, want)
			}
			for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				if !locatedLine.MatchString(line) {
					t.Errorf("message not located as file:line: %q", line)
				}
			}
			// Every rule-file problem is an *Error a caller can inspect.
			var re *Error
			if !errors.As(err, &re) && !strings.Contains(got, ".txt:") {
				t.Errorf("Load(%v) error holds no *Error: %T", files, err)
			}
		})
	}
	// A golden with no case is a test nobody runs.
	goldens, _ := filepath.Glob(filepath.Join(testdataRules, "bad", "*.err"))
	for _, g := range goldens {
		stem := strings.TrimSuffix(filepath.Base(g), ".err")
		if _, ok := cases[stem]; !ok {
			t.Errorf("%s has no %s.yaml (or %s.N.yaml) beside it", g, stem, stem)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    Rate
		str     string // Rate.String; "" when in should fail
		errPart string
	}{
		{in: "60/min", want: Rate{60, time.Minute}, str: "60/min"},
		{in: "60/minute", want: Rate{60, time.Minute}, str: "60/min"},
		{in: "60/minutes", want: Rate{60, time.Minute}, str: "60/min"},
		{in: "60/m", want: Rate{60, time.Minute}, str: "60/min"},
		{in: "5/s", want: Rate{5, time.Second}, str: "5/sec"},
		{in: "5/sec", want: Rate{5, time.Second}, str: "5/sec"},
		{in: "5/secs", want: Rate{5, time.Second}, str: "5/sec"},
		{in: "5/second", want: Rate{5, time.Second}, str: "5/sec"},
		{in: "300/h", want: Rate{300, time.Hour}, str: "300/hour"},
		{in: "300/hours", want: Rate{300, time.Hour}, str: "300/hour"},
		{in: "10000/day", want: Rate{10000, 24 * time.Hour}, str: "10000/day"},
		{in: "10000/d", want: Rate{10000, 24 * time.Hour}, str: "10000/day"},
		{in: "600/10min", want: Rate{600, 10 * time.Minute}, str: "600/10min"},
		{in: "600/90s", want: Rate{600, 90 * time.Second}, str: "600/90sec"},
		{in: "1/7d", want: Rate{1, 7 * 24 * time.Hour}, str: "1/7day"},
		{in: "1/2hour", want: Rate{1, 2 * time.Hour}, str: "1/2hour"},
		{in: " 60 / MIN ", want: Rate{60, time.Minute}, str: "60/min"},
		{in: "60", errPart: `rate "60" has no '/'`},
		{in: "", errPart: `rate "" has no '/'`},
		{in: "sixty/min", errPart: `"sixty" is not a positive whole number`},
		{in: "0/min", errPart: `"0" is not a positive whole number`},
		{in: "-5/min", errPart: `"-5" is not a positive whole number`},
		{in: "1.5/min", errPart: `"1.5" is not a positive whole number`},
		{in: "99999999999999999999/min", errPart: "not a positive whole number"},
		{in: "60/fortnight", errPart: `unknown period "fortnight"`},
		{in: "60/ms", errPart: `unknown period "ms"`},
		{in: "60/hs", errPart: `unknown period "hs"`},
		{in: "60/", errPart: `unknown period ""`},
		{in: "60/10", errPart: `unknown period ""`},
		{in: "60/0min", errPart: `bad period multiple "0"`},
		{in: "60/min/s", errPart: `unknown period "min/s"`},
		{in: "1/8day", errPart: "longer than 7 days"},
		{in: "1/99999999999999999d", errPart: "longer than 7 days"},
		{in: "1/999999999999999999999d", errPart: "bad period multiple"},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if tt.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("ParseRate(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.errPart)
			} else if !strings.Contains(err.Error(), "expected a rate such as") {
				t.Errorf("ParseRate(%q) error %q does not say what was expected", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			continue
		}
		if s := got.String(); s != tt.str {
			t.Errorf("ParseRate(%q).String() = %q, want %q", tt.in, s, tt.str)
		}
		if back, err := ParseRate(got.String()); err != nil || back != got {
			t.Errorf("ParseRate(%q) = %v, %v; String does not round-trip %v", got.String(), back, err, got)
		}
	}
}

func TestRateStringOdd(t *testing.T) {
	for _, tt := range []struct {
		r    Rate
		want string
	}{
		{Rate{3, 500 * time.Millisecond}, "3/500ms"},
		{Rate{1, 36 * time.Hour}, "1/36hour"},
		{Rate{1, 48 * time.Hour}, "1/2day"},
		{Rate{1, 120 * time.Minute}, "1/2hour"},
	} {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestHostSet(t *testing.T) {
	hs, err := NewHostSet([]string{"example.org", "*.Example.NET", " spip.example.com ", "192.0.2.1", "xn--exemple-9ua.fr"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"example.org":        true,
		"www.example.org":    false, // exact name only
		"example.net":        false, // *.x is subdomains only
		"www.example.net":    true,
		"a.b.example.net":    true,
		"badexample.net":     false,
		"spip.example.com":   true,
		"example.com":        false,
		"192.0.2.1":          true,
		"192.0.2.10":         false,
		"xn--exemple-9ua.fr": true,
		"":                   false,
		".example.net":       false,
	} {
		if got := hs.Contains(host); got != want {
			t.Errorf("Contains(%q) = %v, want %v", host, got, want)
		}
	}
	for _, bad := range []struct{ pattern, errPart string }{
		{"", "is not a host name"},
		{"https://example.org", "is not a host name"},
		{"example.org:8080", "is not a host name"},
		{"example.org/", "is not a host name"},
		{"exa mple.org", "is not a host name"},
		{"example..org", "is not a host name"},
		{"*.", "is not a host name"},
		{"*", "'*' may only begin a pattern"},
		{"www.*.org", "'*' may only begin a pattern"},
		{"*.*.example.org", "'*' may only begin a pattern"},
		{"*example.org", "'*' may only begin a pattern"},
		{"[::1]", "is not a host name"},
	} {
		if _, err := NewHostSet([]string{"ok.example", bad.pattern}); err == nil || !strings.Contains(err.Error(), bad.errPart) {
			t.Errorf("NewHostSet(%q) = %v, want an error with %q", bad.pattern, err, bad.errPart)
		}
	}
}

func TestPathSet(t *testing.T) {
	ps, err := NewPathSet([]string{"/wp-login.php", "/wp-content/uploads/**.php", "/IMG/*.php", "/a/**", "**/.env", "/x+(y)[z].php"})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		"/wp-login.php":                         true,
		"/wp-login.php/":                        false,
		"/WP-LOGIN.PHP":                         false, // case-sensitive, as PHP file systems are
		"/blog/wp-login.php":                    false,
		"/wp-content/uploads/x.php":             true,
		"/wp-content/uploads/2024/01/shell.php": true,
		"/wp-content/uploads/x.php.jpg":         false,
		"/wp-content/uploads/":                  false,
		"/IMG/logo.php":                         true,
		"/IMG/.php":                             true,
		"/IMG/sub/logo.php":                     false,
		"/a/":                                   true,
		"/a/b/c":                                true,
		"/a":                                    false,
		"/.env":                                 true,
		"/site/.env":                            true,
		"/site/x.env":                           false,
		"/x+(y)[z].php":                         true, // regexp characters are literal
		"/xx(y)[z].php":                         false,
		"":                                      false,
	} {
		if got := ps.Contains(p); got != want {
			t.Errorf("Contains(%q) = %v, want %v", p, got, want)
		}
	}
	// Globs that share their literal are tried in turn; more than a few exact paths are hashed.
	var many []string
	for i := range maxFewPaths + 2 {
		many = append(many, fmt.Sprintf("/p%d.php", i))
	}
	shared, err := NewPathSet(append(many, "**/up/**.php*", "**/up/**.pht*", "**/up/**.phar*"))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		"/p0.php": true, fmt.Sprintf("/p%d.php", maxFewPaths+1): true, "/p99.php": false,
		"/up/a.php": true, "/x/up/a.phtml": true, "/up/a.phar": true, "/up/a.txt": false, "/down/a.php": false,
	} {
		if got := shared.Contains(p); got != want {
			t.Errorf("Contains(%q) = %v, want %v", p, got, want)
		}
	}
	for _, bad := range []struct{ pattern, errPart string }{
		{"wp-login.php", "must begin with '/'"},
		{"*.env", "must begin with '/'"}, // could never match
		{"", "must begin with '/'"},
		{"/spip.php?page=recherche", "holds a '?'"},
		{"/caf\xe9/*", "not valid UTF-8"},
	} {
		if _, err := NewPathSet([]string{bad.pattern}); err == nil || !strings.Contains(err.Error(), bad.errPart) {
			t.Errorf("NewPathSet(%q) = %v, want an error with %q", bad.pattern, err, bad.errPart)
		}
	}
}

func TestQueryTest(t *testing.T) {
	tests := []struct {
		test  string
		query string
		want  bool
	}{
		{"*", "", false},
		{"*", "x=1", true},
		{"*", "ver=5", true},
		{"s", "s=wordpress", true},
		{"s", "s=", true},
		{"s", "s", true},
		{"s", "p=1&s=x", true},
		{"s", "ss=x", false},
		{"s", "x=s", false},
		{"s", "", false},
		{"s", "S=x", false},
		{"s", "%73=x", true}, // PHP decodes keys
		{"page=recherche", "page=recherche", true},
		{"page=recherche", "lang=fr&page=recherche&x", true},
		{"page=recherche", "page=recherches", false},
		{"page=recherche", "page=", false},
		{"page=recherche", "page", false},
		{"page=recherche", "page=article&page=recherche", true},
		{"page=recherche", "page=recher%63he", true},
		{"q=a b", "q=a+b", true},
		{"s=", "s=", true},
		{"s=", "s", true},
		{"s=", "s=x", false},
		{"s", "s=%zz", true},
		{"p=%zz", "p=%zz", true}, // undecodable text compares as written
	}
	for _, tt := range tests {
		q, err := NewQueryTest(tt.test)
		if err != nil {
			t.Fatalf("NewQueryTest(%q): %v", tt.test, err)
		}
		if got := q.Matches(tt.query); got != tt.want {
			t.Errorf("query test %q on %q = %v, want %v", tt.test, tt.query, got, tt.want)
		}
	}
	for _, bad := range []string{"", "=x", " =x"} {
		if _, err := NewQueryTest(bad); err == nil || !strings.Contains(err.Error(), "has no parameter name") {
			t.Errorf("NewQueryTest(%q) = %v, want a no-name error", bad, err)
		}
	}
}

func TestClassListSorted(t *testing.T) {
	classes := map[string]bool{}
	for _, c := range append([]string{"zeta", "partner", "alpha", "monitoring", "feed-reader"}, BuiltinClasses...) {
		classes[c] = true
	}
	want := "ai-crawler, alpha, bot, browser, feed-reader, monitoring, partner, search-bot, unknown, zeta"
	for i := 0; i < 20; i++ { // map order varies from call to call
		if got := classList(classes); got != want {
			t.Fatalf("classList = %q, want %q", got, want)
		}
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{ActionNone: "pass", ActionAllow: "allow", ActionLog: "log", ActionDelay: "delay", ActionThrottle: "throttle", ActionBlock: "block"} {
		if a.String() != want {
			t.Errorf("Action(%d).String() = %q, want %q", a, a.String(), want)
		}
	}
	if !(ActionBlock > ActionThrottle && ActionThrottle > ActionDelay && ActionDelay > ActionLog) {
		t.Error("actions are not ordered block > throttle > delay > log")
	}
}

// FuzzParse checks that no input makes Parse panic, and that every problem it reports is
// located in the file.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		names, _ := filepath.Glob(filepath.Join(testdataRules, dir, "*.yaml"))
		for _, n := range names {
			if data, err := os.ReadFile(n); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("f.yaml", data)
		if err == nil {
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "f.yaml:") {
				t.Fatalf("message %q does not name the file", line)
			}
		}
	})
}
