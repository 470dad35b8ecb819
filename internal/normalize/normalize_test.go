package normalize

import (
	"strings"
	"testing"
)

// Every spelling of issue 10's row on paths, and more an attacker would try: each must give
// the script the backend actually runs.
func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		in, clean, script, pathInfo string
		php                         bool
	}{
		{"/", "/", "/", "", false},
		{"", "/", "/", "", false},
		{"/wp-content/uploads/x.php", "/wp-content/uploads/x.php", "/wp-content/uploads/x.php", "", true},
		{"//wp-content/uploads/x.php", "/wp-content/uploads/x.php", "/wp-content/uploads/x.php", "", true},
		{"/wp-content//uploads/x.php", "/wp-content/uploads/x.php", "/wp-content/uploads/x.php", "", true},
		{"/./wp-content/uploads/x.php", "/wp-content/uploads/x.php", "/wp-content/uploads/x.php", "", true},
		// /%2e/ arrives decoded from net/http as /./
		{"/./wp-content/./uploads/./x.php", "/wp-content/uploads/x.php", "/wp-content/uploads/x.php", "", true},
		{"/wp-content/x/../uploads/x.php", "/wp-content/uploads/x.php", "/wp-content/uploads/x.php", "", true},
		{"/../../wp-content/uploads/x.php", "/wp-content/uploads/x.php", "/wp-content/uploads/x.php", "", true},
		{"/wp-content/uploads/x.php/y", "/wp-content/uploads/x.php/y", "/wp-content/uploads/x.php", "/y", true},
		{"/wp-content/uploads/x.php/y/z/", "/wp-content/uploads/x.php/y/z/", "/wp-content/uploads/x.php", "/y/z/", true},
		{"/wp-content/uploads/x.PHP", "/wp-content/uploads/x.PHP", "/wp-content/uploads/x.php", "", true},
		{"/wp-content/uploads/X.PhP.JpG", "/wp-content/uploads/X.PhP.JpG", "/wp-content/uploads/X.php.jpg", "", true},
		{"/wp-content/uploads/x.php8", "/wp-content/uploads/x.php8", "/wp-content/uploads/x.php8", "", true},
		{"/wp-content/uploads/x.pht", "/wp-content/uploads/x.pht", "/wp-content/uploads/x.pht", "", true},
		{"/wp-content/uploads/x.php.jpg", "/wp-content/uploads/x.php.jpg", "/wp-content/uploads/x.php.jpg", "", true},
		{"/wp-content/uploads/x.php.", "/wp-content/uploads/x.php.", "/wp-content/uploads/x.php.", "", true},
		{"/wp-content/uploads/x.php ", "/wp-content/uploads/x.php ", "/wp-content/uploads/x.php ", "", true},
		{"/wp-content/uploads/x.php;.jpg", "/wp-content/uploads/x.php;.jpg", "/wp-content/uploads/x.php;.jpg", "", true},
		{"/wp-content/uploads/x.php\x00.jpg", "/wp-content/uploads/x.php", "/wp-content/uploads/x.php", "", true},
		{`/wp-content\uploads\x.php`, "/wp-content/uploads/x.php", "/wp-content/uploads/x.php", "", true},
		{"/blog/wp-content/uploads/x.php", "/blog/wp-content/uploads/x.php", "/blog/wp-content/uploads/x.php", "", true},
		{"/spip/IMG/x.php", "/spip/IMG/x.php", "/spip/IMG/x.php", "", true},
		{"/IMG/x.php5", "/IMG/x.php5", "/IMG/x.php5", "", true},
		{"/tmp/x.phtml", "/tmp/x.phtml", "/tmp/x.phtml", "", true},
		{"/IMG/x.phar", "/IMG/x.phar", "/IMG/x.phar", "", true},
		{"/IMG/photo.jpg", "/IMG/photo.jpg", "/IMG/photo.jpg", "", false},
		{"/IMG/photo.JPG", "/IMG/photo.JPG", "/IMG/photo.jpg", "", false},
		{"/IMG/x.phps", "/IMG/x.phps", "/IMG/x.phps", "", false},
		{"/IMG/php.jpg", "/IMG/php.jpg", "/IMG/php.jpg", "", false},
		{"/.php", "/.php", "/.php", "", true},
		{"//xmlrpc.php", "/xmlrpc.php", "/xmlrpc.php", "", true},
		{"/./wp-login.php", "/wp-login.php", "/wp-login.php", "", true},
		{"/wp-login.php/x", "/wp-login.php/x", "/wp-login.php", "/x", true},
		{"/index.php/feed/", "/index.php/feed/", "/index.php", "/feed/", true},
		{"/feed/", "/feed/", "/feed/", "", false},
		{"/feed/.", "/feed/", "/feed/", "", false},
		{"/a/..", "/", "/", "", false},
		{"/.well-known/../page", "/page", "/page", "", false},
		{"/wp-json/../page", "/page", "/page", "", false},
		{"/.well-known/acme-challenge/abc", "/.well-known/acme-challenge/abc", "/.well-known/acme-challenge/abc", "", false},
	} {
		got := CleanPath(tc.in)
		if got.Clean != tc.clean || got.Script != tc.script || got.PathInfo != tc.pathInfo || got.PHP != tc.php {
			t.Errorf("CleanPath(%q) = {Clean %q Script %q PathInfo %q PHP %v}, want {%q %q %q %v}",
				tc.in, got.Clean, got.Script, got.PathInfo, got.PHP, tc.clean, tc.script, tc.pathInfo, tc.php)
		}
		if again := CleanPath(got.Clean); again.Clean != got.Clean || again.Altered {
			t.Errorf("CleanPath(%q) is not stable: %q → %q", tc.in, got.Clean, again.Clean)
		}
	}
}

func TestAltered(t *testing.T) {
	for in, want := range map[string]bool{
		"/a/b": false, "/a/b/": false, "/": false,
		"//a": true, "/./a": true, "/a/../b": true, `/a\b`: true, "/a//": true,
	} {
		if got := CleanPath(in).Altered; got != want {
			t.Errorf("CleanPath(%q).Altered = %v, want %v", in, got, want)
		}
	}
}

func TestIsPHP(t *testing.T) {
	for name, want := range map[string]bool{
		"x.php": true, "x.PHP": true, "x.php3": true, "x.php4": true, "x.php5": true, "x.php7": true,
		"x.php8": true, "x.pht": true, "x.phtml": true, "x.phar": true, "x.php.jpg": true,
		"x.tar.php.gz": true, "x.php.": true, "x.php ": true,
		"x": false, "php": false, "x.jpg": false, "x.phps": false, "x.phpx": false, "x.html": false,
		"xphp": false, "x.p.hp": false,
	} {
		if got := IsPHP(name); got != want {
			t.Errorf("IsPHP(%q) = %v, want %v", name, got, want)
		}
	}
}

// Hosts: every spelling that reaches a site must give its name; everything else one bucket.
func TestHost(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"victim.test", "victim.test", true},
		{"Victim.Test", "victim.test", true},
		{"VICTIM.TEST:8080", "victim.test", true},
		{"victim.test:", "victim.test", true},
		{"victim.test.", "victim.test", true},
		{"victim.test..", "victim.test", true},
		{"victim.test...:80", "victim.test", true},
		{"[victim.test]", "victim.test", true},
		{"[victim.test]:443", "victim.test", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1:8080", "127.0.0.1", true},
		{"[::1]:8080", "::1", true},
		{"[::ffff:127.0.0.1]", "127.0.0.1", true},
		{"[2001:DB8::1]", "2001:db8::1", true},
		{"2001:db8::1", "2001:db8::1", true},
		{"bücher.example", "xn--bcher-kva.example", true},
		{"", JunkHost, false},
		{".", JunkHost, false},
		{":80", JunkHost, false},
		{"victim.test:http", JunkHost, false},
		{"victim.test:123456", JunkHost, false},
		{"vic tim.test", JunkHost, false},
		{"victim..test", JunkHost, false},
		{"victim.test/x", JunkHost, false},
		{"[victim.test", JunkHost, false},
		{"[victim.test]x", JunkHost, false},
		{"[fe80::1%eth0]", JunkHost, false},
		{strings.Repeat("a", 64) + ".test", JunkHost, false},
		{strings.Repeat("a.", 200) + "test", JunkHost, false},
		{strings.Repeat("x", 16<<10), JunkHost, false},
		{"\xff\xfe.test", JunkHost, false},
	} {
		got, ok := Host(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Host(%.40q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// However many junk hosts a client invents, they are one name: they cannot create keys.
func TestJunkHostsShareOneBucket(t *testing.T) {
	seen := map[string]bool{}
	for i := range 1000 {
		h, _ := Host(strings.Repeat("x", 300+i))
		seen[h] = true
		h, _ = Host("a b" + strings.Repeat("c", i))
		seen[h] = true
	}
	if len(seen) != 1 || !seen[JunkHost] {
		t.Fatalf("junk hosts gave %d names: %v", len(seen), seen)
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "//a/./b/../c.php/d", `\..\x.PHP`, "/a/b.php.jpg/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p := CleanPath(in)
		if !strings.HasPrefix(p.Clean, "/") || strings.Contains(p.Clean, "//") || strings.Contains(p.Clean, "/../") || strings.Contains(p.Clean, "/./") {
			t.Fatalf("CleanPath(%q).Clean = %q is not clean", in, p.Clean)
		}
		if !strings.HasPrefix(p.Script, "/") || len(p.Script) > len(p.Clean) {
			t.Fatalf("CleanPath(%q).Script = %q", in, p.Script)
		}
		if again := CleanPath(p.Clean); again.Clean != p.Clean {
			t.Fatalf("not stable: %q → %q → %q", in, p.Clean, again.Clean)
		}
		if isClean(in) {
			if slow := cleanPathSlow(in); slow != p {
				t.Fatalf("fast path %+v, slow path %+v for %q", p, slow, in)
			}
		}
	})
}

// The fast path gives what the slow one does on every clean path of the table.
func TestCleanPathFast(t *testing.T) {
	for _, in := range []string{"/", "/a/b", "/a/b/", "/x.php/y", "/a/X.PHP", "/.well-known/x", "/a.b/c.php/d/", "/..a/.b/c..", "/index.php"} {
		if !isClean(in) {
			t.Errorf("isClean(%q) = false", in)
			continue
		}
		if fast, slow := cleanPathFast(in), cleanPathSlow(in); fast != slow {
			t.Errorf("%q: fast %+v, slow %+v", in, fast, slow)
		}
	}
	for _, in := range []string{"", "a", "//a", "/./a", "/a/.", "/a/..", "/a/../b", `/a\b`, "/a\x00"} {
		if isClean(in) {
			t.Errorf("isClean(%q) = true", in)
		}
	}
}

// TestCleanPathDoesNotAllocate: a plain page's path costs no allocation (run without the
// race detector, which allocates itself).
func TestCleanPathDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, p := range []string{"/2024/05/un-article/", "/index.php", "/wp-login.php/x", "/spip.php"} {
		if n := testing.AllocsPerRun(100, func() { CleanPath(p) }); n != 0 {
			t.Errorf("CleanPath(%q): %v allocations, want 0", p, n)
		}
	}
}

// TestHostDoesNotAllocate: a site's name, an address, a name with a port or a trailing dot
// cost no allocation (every request's Host goes through Host).
func TestHostDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, h := range []string{"site1.example.org", "site1.example.org:8080", "victim.test.", "192.0.2.1", "[2001:db8::1]:443", "www1"} {
		if n := testing.AllocsPerRun(100, func() { Host(h) }); n != 0 {
			t.Errorf("Host(%q): %v allocations, want 0", h, n)
		}
	}
}
