package pass

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/netip"
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

// BenchmarkVisitorCookie is what a first visit's visitor cookie costs: the binding and
// network hashes and the signed token, one by one and together.
func BenchmarkVisitorCookie(b *testing.B) {
	s := mustSigner(b, keyA)
	v := Visitor{Visits: 1, First: t0, Last: t0}
	buf := make([]byte, 0, VisitorTokenLen)
	b.Run("binding-hash", func(b *testing.B) {
		for b.Loop() {
			BindingHash(uaFirefox, "site.test")
		}
	})
	b.Run("network-hash", func(b *testing.B) {
		for b.Loop() {
			NetworkHash(net4)
		}
	})
	bh := BindingHash(uaFirefox, "site.test")
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			s.AppendVisitorHash(buf[:0], net4, bh, v)
		}
	})
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.AppendVisitorHash(buf[:0], net4, BindingHash(uaFirefox, "site.test"), v)
		}
	})
}

// issueVisitorV1 is a version 1 visitor token, as IssueVisitor made them before version 2:
// the same body, signed with HMAC-SHA256.
func issueVisitorV1(s *Signer, prefix netip.Prefix, binding string, v Visitor, version byte) string {
	b := make([]byte, visitorBodyLen, visitorBodyLen+macLen)
	b[0] = version
	putVisitorBody(b, prefix, UserAgentHash(binding), v)
	m := hmac.New(sha256.New, s.keys[0])
	m.Write([]byte{byte(PurposeVisitor)})
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(b))
}

// Visitor cookies set before version 2 still count until they expire, with every check
// they had (tampering, network, browser and site); a token of one version's length never
// opens with the other version's byte, and neither version opens under a foreign key.
func TestVisitorTokenVersions(t *testing.T) {
	s := mustSigner(t, keyA)
	const binding = uaFirefox + "\x00site.test"
	v := Visitor{Visits: 3, First: t0, Last: t0.Add(5 * time.Minute)}
	at := t0.Add(time.Hour)
	old := issueVisitorV1(s, net4, binding, v, 1)
	if len(old) != visitorTokenLenV1 || len(s.IssueVisitor(net4, binding, v)) != VisitorTokenLen {
		t.Fatalf("lengths %d and %d, want %d and %d", len(old), len(s.IssueVisitor(net4, binding, v)), visitorTokenLenV1, VisitorTokenLen)
	}
	got, err := s.VerifyVisitor(old, net4, binding, at, 24*time.Hour)
	if err != nil || got.Visits != 3 || !got.First.Equal(t0) || !got.Last.Equal(v.Last) {
		t.Fatalf("version 1 token: %+v, %v", got, err)
	}
	for i := range old {
		if _, err := s.VerifyVisitor(flip(old, i), net4, binding, at, 24*time.Hour); err == nil {
			t.Errorf("version 1 token, character %d changed: still accepted", i)
		}
	}
	for _, c := range []struct {
		name    string
		prefix  netip.Prefix
		binding string
		at      time.Time
		want    error
	}{
		{"other network", net6, binding, at, ReasonOtherNetwork},
		{"other browser", net4, "curl/8\x00site.test", at, ReasonOtherUserAgent},
		{"other site", net4, uaFirefox + "\x00other.test", at, ReasonOtherUserAgent},
		{"expired", net4, binding, t0.Add(48 * time.Hour), ReasonExpired},
	} {
		for _, tok := range []string{old, s.IssueVisitor(net4, binding, v)} {
			if _, err := s.VerifyVisitor(tok, c.prefix, c.binding, c.at, 24*time.Hour); err != c.want {
				t.Errorf("%s, token of %d characters: %v, want %v", c.name, len(tok), err, c.want)
			}
		}
	}
	// An HMAC-signed body claiming version 2 is refused: its length says version 1.
	if _, err := s.VerifyVisitor(issueVisitorV1(s, net4, binding, v, VisitorVersion), net4, binding, at, 24*time.Hour); err != ReasonMalformed {
		t.Errorf("version 1 token with version byte 2: %v, want %v", err, ReasonMalformed)
	}
	other := mustSigner(t, keyB)
	for _, tok := range []string{issueVisitorV1(other, net4, binding, v, 1), other.IssueVisitor(net4, binding, v)} {
		if _, err := s.VerifyVisitor(tok, net4, binding, at, 24*time.Hour); err != ReasonBadSignature {
			t.Errorf("token of %d characters under a foreign key: %v, want %v", len(tok), err, ReasonBadSignature)
		}
	}
	// Rotation: a token of the old key verifies while the key is kept after the new one.
	rotated := mustSigner(t, keyB, keyA)
	for _, tok := range []string{old, s.IssueVisitor(net4, binding, v)} {
		if _, err := rotated.VerifyVisitor(tok, net4, binding, at, 24*time.Hour); err != nil {
			t.Errorf("token of %d characters of the second key: %v", len(tok), err)
		}
	}
}
