package challenge

import (
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// The challenge page's inputs are read without allocating (chooseLang in place, returnPath
// without parsing a plain path, the request URI appended to the answer's buffer). These tests
// hold each fast way to the slow one it replaced, kept here as the reference: an attacker's
// spelling that the two answered differently would fail them.

// chooseLangReference is chooseLang as it was before it read the header in place.
func chooseLangReference(header string) string {
	best, bestQ := langOrder[0], -1.0
	for i, part := range strings.Split(header, ",") {
		if i >= maxLangEntries {
			break
		}
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
		if q <= 0 || q <= bestQ {
			continue
		}
		primary, _, _ := strings.Cut(tag, "-")
		if primary == "*" {
			best, bestQ = langOrder[0], q
			continue
		}
		if _, ok := texts[primary]; ok {
			best, bestQ = primary, q
		}
	}
	return best
}

// langPieces are what random Accept-Language headers are made of: tags in every case,
// q-values well and badly written, separators, spaces, Unicode letters that fold to ASCII
// ones (the Kelvin sign, the long s), the wildcard.
var langPieces = []string{"fr", "FR", "Fr", "en", "EN", "eN", "de", "fr-CH", "en-gb", "*", "-", ",", ";", " ", "\t",
	"q=0.5", "Q=1", "q=0", "q = 0.9", "q=1.5", "q=-1", "q=abc", "q=", "q=1e-1", "q=0x1p-2", "q=inf", "q=NaN",
	"\u212a", "\u017f", "ﬀ", "é", "\xff", "fr;", ";q=0.3", "en;q=0.7,fr;q=0.8"}

func randomLangHeader(rng *rand.Rand) string {
	var b strings.Builder
	for n := rng.IntN(12); n > 0; n-- {
		b.WriteString(langPieces[rng.IntN(len(langPieces))])
	}
	return b.String()
}

func TestChooseLangSameAsReference(t *testing.T) {
	headers := []string{"", ",", ";", "fr", "FR-be", "fr-FR,fr;q=0.9,en;q=0.5", " fr ; q = 0.8 , en ; q=0.7",
		"fr;q=2, en;q=0.2", "*;q=0.9, fr;q=0.5", "\u212aen, fr", "f\u017f", "fr;q=0.5;q=0.9, en;q=0.6",
		strings.Repeat("de,", 31) + "fr", strings.Repeat("de,", 32) + "fr", strings.Repeat(",", 40)}
	rng := rand.New(rand.NewPCG(11, 12))
	for range 20000 {
		headers = append(headers, randomLangHeader(rng))
	}
	for _, h := range headers {
		if got, want := chooseLang(h), chooseLangReference(h); got != want {
			t.Fatalf("chooseLang(%q) = %q, the reference says %q", h, got, want)
		}
	}
}

func FuzzChooseLang(f *testing.F) {
	for _, h := range []string{"", "fr-FR,fr;q=0.9,en;q=0.5", "*;q=0.1", "FR;Q=1", "\u212a"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if got, want := chooseLang(h), chooseLangReference(h); got != want {
			t.Fatalf("chooseLang(%q) = %q, the reference says %q", h, got, want)
		}
	})
}

// returnPathReference is returnPath without its plain-path shortcut: every path parsed.
func returnPathReference(s string) string {
	if s == "" || len(s) > 2048 || s[0] != '/' || strings.HasPrefix(s, "//") {
		return "/"
	}
	return parsedReturnPath(s)
}

func TestReturnPathSameAsParsed(t *testing.T) {
	paths := []string{"/", "/a", "/a?", "/a??", "/a?b?", "/?", "/a?b=c", "/%2F%2Fx", "/%2f", "/%41", "/%zz", "/%4", "/%",
		"/a/../b", "/./", "/~user/", "/a=b", "/index.php?page=3&x=1", "/%00", "/%3A", "/a:b", "/a#b", "/a b"}
	pieces := []string{"/", "a", "Z", "9", "-", ".", "_", "~", "?", "=", "%2F", "%2f", "%41", "%", "%z", "&", "#", ":", "//",
		"\"", "'", "<", ">", " ", "\\", "é", "+", ";", "\t", "\x7f", "..", "@", "[", "]"}
	rng := rand.New(rand.NewPCG(13, 14))
	plain := 0
	for range 30000 {
		var b strings.Builder
		b.WriteString("/")
		safe := rng.IntN(3) > 0
		for n := rng.IntN(10); n > 0; n-- {
			if safe {
				b.WriteString(pieces[rng.IntN(14)])
			} else {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
		}
		paths = append(paths, b.String())
	}
	for _, p := range paths {
		if got, want := returnPath(p), returnPathReference(p); got != want {
			t.Fatalf("returnPath(%q) = %q, parsed it is %q", p, got, want)
		}
		if returnPathReference(p) == p && plainReturnPath(p) {
			plain++
		}
	}
	if plain < 1000 {
		t.Errorf("only %d plain paths: the test does not exercise the shortcut", plain)
	}
}

func TestAppendRequestURI(t *testing.T) {
	for _, raw := range []string{"http://h/", "http://h", "http://h/a/b?x=1", "http://h/a?", "http://h/a%20b?q=%22",
		"http://h/a%2Fb", "http://h/é?é", "http://h/a b", "http://h/?", "http://h/x?y#frag"} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(appendRequestURI([]byte("keep"), u)), "keep"+u.RequestURI(); got != want {
			t.Errorf("%s: appendRequestURI gives %q, RequestURI %q", raw, got, want)
		}
	}
	for _, u := range []*url.URL{{Opaque: "//other/x", Scheme: "http"}, {Opaque: "/op"}, {Path: ""}, {Path: "", RawQuery: "a"}, {Path: "/a", ForceQuery: true}} {
		if got, want := string(appendRequestURI(nil, u)), u.RequestURI(); got != want {
			t.Errorf("%#v: appendRequestURI gives %q, RequestURI %q", u, got, want)
		}
	}
}

// TestBindingCacheSameAsHash asks the challenger's binding cache for many more User-Agent and
// host pairs than it has slots, in random order and from several goroutines, spelled as an
// attacker would (case, a trailing NUL, a pair whose concatenation is another's): every
// answer must be pass.BindingHash of that very pair.
func TestBindingCacheSameAsHash(t *testing.T) {
	bc := newBindingCache(bindingSlots)
	var uas, hosts []string
	for i := range 60 {
		uas = append(uas, "Mozilla/5.0 (X11; Linux x86_64) Firefox/"+strconv.Itoa(100+i))
	}
	uas = append(uas, "", "a", "a\x00", "A", "a\x00b")
	for i := range 40 {
		hosts = append(hosts, "site"+strconv.Itoa(i)+".example.org")
	}
	hosts = append(hosts, "", "b", "\x00b", "B")
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			rng := rand.New(rand.NewPCG(uint64(g), 15))
			for range 20000 {
				ua, host := uas[rng.IntN(len(uas))], hosts[rng.IntN(len(hosts))]
				if got, want := bc.hash(ua, host), pass.BindingHash(ua, host); got != want {
					t.Errorf("binding cache (%q, %q) = %x, want %x", ua, host, got, want)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}

// TestHTTPDateSameAsFormat writes HTTP dates of times around second boundaries, in other
// zones and before 1970, through one httpDate: each must be what time.Time.AppendFormat
// writes.
func TestHTTPDateSameAsFormat(t *testing.T) {
	var d httpDate
	zone := time.FixedZone("x", -7*3600-1800)
	base := time.Date(2026, 11, 30, 2, 59, 59, 0, time.UTC)
	for _, t0 := range []time.Time{base, base.In(zone), time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, 0)} {
		for _, step := range []time.Duration{0, time.Nanosecond, 999 * time.Millisecond, time.Second, 1500 * time.Millisecond, -time.Nanosecond, 0} {
			tt := t0.Add(step)
			if got, want := string(d.append([]byte("x"), tt)), "x"+tt.UTC().Format(http.TimeFormat); got != want {
				t.Errorf("%v: httpDate writes %q, want %q", tt, got, want)
			}
		}
	}
}

// TestAnswerHeaderSize keeps the answer's one allocation at a size class of Go's allocator.
func TestAnswerHeaderSize(t *testing.T) {
	if n := unsafe.Sizeof(answerHeader{}); n != 1024 {
		t.Errorf("answerHeader is %d bytes: set answerBufLen so that it is 1,024", n)
	}
}
