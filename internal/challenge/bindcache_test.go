package challenge

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// TestBindingCacheIsTheHash: whatever the order of look-ups and however pairs share slots, a
// table answers pass.BindingHash of the pair asked, never another pair's; spellings that
// differ by a byte, or only in where User-Agent ends and host begins, are different pairs.
func TestBindingCacheIsTheHash(t *testing.T) {
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	pairs := [][2]string{
		{chrome, "site0.example.org"},
		{chrome, "site1.example.org"},
		{chrome + " ", "site0.example.org"},
		{strings.ToUpper(chrome), "site0.example.org"},
		{"ab", "c"}, {"a", "bc"}, // the same bytes, split elsewhere
		{"", ""}, {"", "example.org"}, {"x", ""},
		{strings.Repeat("A", maxBindingPair), "long.example.org"}, // past the bound: never kept
	}
	for i := range 300 { // more pairs than slots: every slot is shared and overwritten
		pairs = append(pairs, [2]string{chrome + strconv.Itoa(i%7), "s" + strconv.Itoa(i) + ".example.org"})
	}
	for _, slots := range []int{1, 2, 64, visitBindingSlots} {
		bc := newBindingCache(slots)
		for round := range 3 {
			for i := range pairs {
				p := pairs[(i*7+round)%len(pairs)]
				if got, want := bc.hash(p[0], p[1]), pass.BindingHash(p[0], p[1]); got != want {
					t.Fatalf("slots %d: hash(%.20q, %q) = %x, want %x", slots, p[0], p[1], got, want)
				}
			}
		}
	}
}

// TestBindingCacheBounded: a client sending ever new, ever longer User-Agents fills at most
// the table's slots, and a pair past maxBindingPair is never kept.
func TestBindingCacheBounded(t *testing.T) {
	bc := newBindingCache(64)
	long := strings.Repeat("B", maxBindingPair)
	for i := range 10_000 {
		ua := long[:i%len(long)] + strconv.Itoa(i)
		bc.hash(ua, "example.org")
	}
	kept := 0
	for i := range bc.slots {
		if e := bc.slots[i].Load(); e != nil {
			kept++
			if len(e.ua)+len(e.host) > maxBindingPair {
				t.Errorf("slot %d keeps a pair of %d bytes, past %d", i, len(e.ua)+len(e.host), maxBindingPair)
			}
		}
	}
	if kept > 64 {
		t.Errorf("%d entries kept in 64 slots", kept)
	}
}

// TestVisitorCookieBindingFromTable: the visitor cookie set for a request, with its pair's hash
// from the allowed requests' table, is the cookie signed with the hash made afresh, and it
// is refused on another site or for another User-Agent (the table never lends one pair's
// hash to another).
func TestVisitorCookieBindingFromTable(t *testing.T) {
	c := newTestChallenger(t, Config{})
	for i := range 3 { // the second and third time, from the table
		r := visitorRequest("site.example.org", "Mozilla/5.0 Chrome/131", "")
		line, ok := c.AppendVisitCookie(nil, r, prefixA, pass.Visitor{}, pass.ReasonMissing)
		if !ok {
			t.Fatalf("round %d: no visitor cookie", i)
		}
		value := strings.TrimPrefix(strings.SplitN(string(line), ";", 2)[0], c.cfg.Visitor.CookieName+"=")
		if _, err := c.cfg.Signer.VerifyVisitorHash(value, prefixA, pass.BindingHash("Mozilla/5.0 Chrome/131", "site.example.org"), now(), c.cfg.Visitor.TTL); err != nil {
			t.Fatalf("round %d: cookie not bound to its pair: %v", i, err)
		}
		for _, other := range [][2]string{{"Mozilla/5.0 Chrome/131", "other.example.org"}, {"Mozilla/5.0 Chrome/132", "site.example.org"}} {
			_, returning, err := c.VisitorOf(visitorRequest(other[1], other[0], c.cfg.Visitor.CookieName+"="+value), prefixA)
			if err == nil || returning {
				t.Errorf("round %d: cookie for site.example.org accepted for %q on %s", i, other[0], other[1])
			}
		}
		if _, _, err := c.VisitorOf(visitorRequest("site.example.org", "Mozilla/5.0 Chrome/131", c.cfg.Visitor.CookieName+"="+value), prefixA); err != nil {
			t.Errorf("round %d: cookie refused on its own pair: %v", i, err)
		}
	}
}

// visitorRequest is a GET of host's page by ua, with a Cookie header when cookie is set.
func visitorRequest(host, ua, cookie string) *http.Request {
	r := get("http://" + host + "/page")
	r.Header.Set("User-Agent", ua)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	return r
}
