package pass

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary tokens to the parser. It must never panic, and it
// must accept only the exact tokens the signer issued (the encoding is strict:
// no second spelling of a signed token is accepted either).
func FuzzParse(f *testing.F) {
	s, err := NewSigner(keyB, keyA)
	if err != nil {
		f.Fatal(err)
	}
	issued := map[string]bool{}
	for _, tok := range []string{
		s.Issue(net4, uaFirefox, LevelWork, t0, time.Hour),
		s.Issue(net6, uaFirefox, LevelCookie, t0, 24*time.Hour),
		mustSigner(f, keyA).Issue(net4, uaFirefox, LevelScript, t0, time.Hour), // old key
	} {
		issued[tok] = true
		f.Add(tok)
		f.Add(flip(tok, 10))
		f.Add(tok[:len(tok)-1])
	}
	f.Add("")
	f.Add("====")
	f.Add(s.Seal(PurposeChallenge, make([]byte, bodyLen))) // right length, wrong purpose
	f.Fuzz(func(t *testing.T, token string) {
		for _, prefix := range []netip.Prefix{net4, net6} {
			p, err := s.Verify(token, prefix, uaFirefox, t0)
			if err == nil && !issued[token] {
				t.Fatalf("accepted a token the signer did not issue: %q -> %+v", token, p)
			}
			if err != nil && ReasonOf(err) == "error" {
				t.Fatalf("refusal without a Reason: %v", err)
			}
		}
		if body, err := s.Open(PurposePass, token); err == nil && !issued[token] {
			t.Fatalf("Open accepted a token the signer did not seal: %q -> %x", token, body)
		}
	})
}

// FuzzVisitor feeds arbitrary tokens to VerifyVisitor: it must never panic, and accept only
// the tokens the signer issued, of either version (one spelling each).
func FuzzVisitor(f *testing.F) {
	s, err := NewSigner(keyB, keyA)
	if err != nil {
		f.Fatal(err)
	}
	const binding = uaFirefox + "\x00site.test"
	v := Visitor{Visits: 2, First: t0, Last: t0}
	issued := map[string]bool{}
	for _, tok := range []string{
		s.IssueVisitor(net4, binding, v),
		mustSigner(f, keyA).IssueVisitor(net4, binding, v), // old key
		issueVisitorV1(s, net4, binding, v, 1),             // old format
	} {
		issued[tok] = true
		f.Add(tok)
		f.Add(flip(tok, 10))
		f.Add(tok[:len(tok)-1])
	}
	f.Add("")
	f.Add(s.Issue(net4, binding, LevelWork, t0, time.Hour))
	f.Fuzz(func(t *testing.T, token string) {
		got, err := s.VerifyVisitor(token, net4, binding, t0.Add(time.Minute), time.Hour)
		if err == nil && !issued[token] {
			t.Fatalf("accepted a visitor token the signer did not issue: %q -> %+v", token, got)
		}
		if err != nil && ReasonOf(err) == "error" {
			t.Fatalf("refusal without a Reason: %v", err)
		}
	})
}
