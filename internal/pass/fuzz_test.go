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
