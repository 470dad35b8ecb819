package pass

import (
	"testing"
	"time"
)

// Every visitor token has VisitorTokenLen characters, and changing any one of them makes it
// refused: the signature covers every field.
func TestVisitorTokenTamper(t *testing.T) {
	s := mustSigner(t, keyA)
	const binding = uaFirefox + "\x00site.test"
	v := Visitor{Visits: 3, First: t0, Last: t0.Add(5 * time.Minute)}
	tok := s.IssueVisitor(net4, binding, v)
	if len(tok) != VisitorTokenLen {
		t.Fatalf("token length %d, want %d", len(tok), VisitorTokenLen)
	}
	got, err := s.VerifyVisitor(tok, net4, binding, t0.Add(time.Hour), 24*time.Hour)
	if err != nil || got.Visits != 3 || !got.First.Equal(t0) || !got.Last.Equal(v.Last) {
		t.Fatalf("verify: %+v, %v", got, err)
	}
	for i := range tok {
		if _, err := s.VerifyVisitor(flip(tok, i), net4, binding, t0.Add(time.Hour), 24*time.Hour); err == nil {
			t.Errorf("character %d changed: still accepted", i)
		}
	}
	// A pass never opens as a visitor token, nor a visitor token as a pass.
	if _, err := s.Verify(tok, net4, binding, t0); err == nil {
		t.Error("visitor token accepted as a pass")
	}
}

// TestVerifyVisitorDoesNotAllocate: reading a visitor cookie runs per request of a browser.
func TestVerifyVisitorDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations cannot be counted under the race detector; .ci/test runs this test without -race")
	}
	s := mustSigner(t, keyA)
	const binding = uaFirefox + "\x00site.test"
	tok := s.IssueVisitor(net4, binding, Visitor{Visits: 3, First: t0, Last: t0})
	if allocs := testing.AllocsPerRun(100, func() { s.VerifyVisitor(tok, net4, binding, t0.Add(time.Hour), 24*time.Hour) }); allocs > 0 {
		t.Errorf("VerifyVisitor allocates %v times, want 0", allocs)
	}
}

// BindingHash is the hash of the binding string the string-taking methods hash, so a
// cookie signed through one form verifies through the other; and it makes no string (it
// runs for every visitor cookie counted or read).
func TestBindingHashWithoutAllocating(t *testing.T) {
	for _, c := range []struct{ ua, host string }{
		{uaFirefox, "site.test"},
		{"", ""},
		{"", "site.test"},
		{uaFirefox, ""},
		{string(make([]byte, 5000)), "a.example"}, // longer than any stack buffer
	} {
		want := UserAgentHash(c.ua + "\x00" + c.host)
		if got := BindingHash(c.ua, c.host); got != want {
			t.Errorf("BindingHash(%.20q, %q) = %x, want %x", c.ua, c.host, got, want)
		}
	}
	s := mustSigner(t, keyA)
	v := Visitor{Visits: 2, First: t0, Last: t0}
	tok := s.IssueVisitor(net4, uaFirefox+"\x00site.test", v)
	if _, err := s.VerifyVisitorHash(tok, net4, BindingHash(uaFirefox, "site.test"), t0, time.Hour); err != nil {
		t.Errorf("a token issued for the binding string does not verify with its hash: %v", err)
	}
	if _, err := s.VerifyVisitorHash(tok, net4, BindingHash(uaFirefox, "other.test"), t0, time.Hour); err != ReasonOtherUserAgent {
		t.Errorf("another site: %v, want %v", err, ReasonOtherUserAgent)
	}
	if raceEnabled {
		return
	}
	if allocs := testing.AllocsPerRun(100, func() { BindingHash(uaFirefox, "site.test") }); allocs > 0 {
		t.Errorf("BindingHash allocates %v times, want 0", allocs)
	}
	var buf [VisitorTokenLen]byte
	if allocs := testing.AllocsPerRun(100, func() { s.AppendVisitorHash(buf[:0], net4, BindingHash(uaFirefox, "site.test"), v) }); allocs > 0 {
		t.Errorf("AppendVisitorHash allocates %v times, want 0", allocs)
	}
}
