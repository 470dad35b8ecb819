package pass

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	keyA = bytes.Repeat([]byte("a"), 32)
	keyB = bytes.Repeat([]byte("b"), 32)
	t0   = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	net4 = netip.MustParsePrefix("192.0.2.0/24")
	net6 = netip.MustParsePrefix("2001:db8:1:2::/64")
)

const uaFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"

func mustSigner(t testing.TB, keys ...[]byte) *Signer {
	t.Helper()
	s, err := NewSigner(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// flip returns token with the character at i replaced by another alphabet
// character.
func flip(token string, i int) string {
	b := []byte(token)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestVerify(t *testing.T) {
	issuer := mustSigner(t, keyA)
	good := issuer.Issue(net4, uaFirefox, LevelWork, t0, 7*24*time.Hour)
	good6 := issuer.Issue(net6, uaFirefox, LevelCookie, t0, time.Hour)
	if len(good) != TokenLen {
		t.Fatalf("token length %d, want %d", len(good), TokenLen)
	}
	tests := []struct {
		name   string
		signer *Signer
		token  string
		prefix netip.Prefix
		ua     string
		now    time.Time
		want   Reason // "" = accepted
		level  Level
	}{
		{"good", issuer, good, net4, uaFirefox, t0.Add(time.Minute), "", LevelWork},
		{"good at issue time", issuer, good, net4, uaFirefox, t0, "", LevelWork},
		{"good ipv6", issuer, good6, net6, uaFirefox, t0, "", LevelCookie},
		{"same network spelled unmasked", issuer, good, netip.MustParsePrefix("192.0.2.77/24"), uaFirefox, t0, "", LevelWork},
		{"same network spelled ipv4-mapped", issuer, good, netip.MustParsePrefix("::ffff:192.0.2.0/120"), uaFirefox, t0, "", LevelWork},
		{"other prefix", issuer, good, netip.MustParsePrefix("192.0.3.0/24"), uaFirefox, t0, ReasonOtherNetwork, 0},
		{"other prefix length", issuer, good, netip.MustParsePrefix("192.0.2.0/25"), uaFirefox, t0, ReasonOtherNetwork, 0},
		{"other ipv6 prefix", issuer, good6, netip.MustParsePrefix("2001:db8:1:3::/64"), uaFirefox, t0, ReasonOtherNetwork, 0},
		{"invalid prefix", issuer, good, netip.Prefix{}, uaFirefox, t0, ReasonOtherNetwork, 0},
		{"other UA", issuer, good, net4, strings.Replace(uaFirefox, "132", "133", 2), t0, ReasonOtherUserAgent, 0},
		{"empty UA", issuer, good, net4, "", t0, ReasonOtherUserAgent, 0},
		{"expired exactly", issuer, good, net4, uaFirefox, t0.Add(7 * 24 * time.Hour), ReasonExpired, 0},
		{"expired", issuer, good, net4, uaFirefox, t0.Add(8 * 24 * time.Hour), ReasonExpired, 0},
		{"altered first byte", issuer, flip(good, 0), net4, uaFirefox, t0, ReasonBadSignature, 0},
		{"altered level", issuer, flip(good, 2), net4, uaFirefox, t0, ReasonBadSignature, 0},
		{"altered expiry", issuer, flip(good, 20), net4, uaFirefox, t0, ReasonBadSignature, 0},
		{"altered tag", issuer, flip(good, TokenLen-1), net4, uaFirefox, t0, ReasonBadSignature, 0},
		{"truncated", issuer, good[:TokenLen-4], net4, uaFirefox, t0, ReasonMalformed, 0},
		{"one char short", issuer, good[:TokenLen-1], net4, uaFirefox, t0, ReasonMalformed, 0},
		{"extended", issuer, good + "AAAA", net4, uaFirefox, t0, ReasonMalformed, 0},
		{"empty", issuer, "", net4, uaFirefox, t0, ReasonMalformed, 0},
		{"padding char", issuer, good[:TokenLen-1] + "=", net4, uaFirefox, t0, ReasonMalformed, 0},
		{"std alphabet", issuer, strings.NewReplacer("-", "+", "_", "/").Replace(good[:TokenLen-1]) + "+", net4, uaFirefox, t0, ReasonMalformed, 0},
		{"wrong key", mustSigner(t, keyB), good, net4, uaFirefox, t0, ReasonBadSignature, 0},
		{"rotated key: old key still verifies", mustSigner(t, keyB, keyA), good, net4, uaFirefox, t0, "", LevelWork},
		{"rotated key: dropped key refused", mustSigner(t, keyB), good, net4, uaFirefox, t0, ReasonBadSignature, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.signer.Verify(tc.token, tc.prefix, tc.ua, tc.now)
			if got := ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q (err %v), want %q", got, err, tc.want)
			}
			if tc.want != "" {
				if !errors.Is(err, tc.want) {
					t.Errorf("errors.Is(%v, %v) is false", err, tc.want)
				}
				return
			}
			if p.Level != tc.level || p.Version != Version {
				t.Errorf("pass %+v, want level %v version %d", p, tc.level, Version)
			}
			if !p.Issued.Equal(t0) {
				t.Errorf("issued %v, want %v", p.Issued, t0)
			}
		})
	}
}

func TestRotationNewKeySigns(t *testing.T) {
	rotated := mustSigner(t, keyB, keyA)
	tok := rotated.Issue(net4, uaFirefox, LevelScript, t0, time.Hour)
	if _, err := mustSigner(t, keyB).Verify(tok, net4, uaFirefox, t0); err != nil {
		t.Errorf("new key signs: a signer with only the new key refuses: %v", err)
	}
	if _, err := mustSigner(t, keyA).Verify(tok, net4, uaFirefox, t0); !errors.Is(err, ReasonBadSignature) {
		t.Errorf("a signer with only the old key: %v, want bad_signature", err)
	}
}

func TestNewSigner(t *testing.T) {
	tests := []struct {
		name string
		keys [][]byte
		want string // "" = ok; else part of the error
	}{
		{"one key", [][]byte{keyA}, ""},
		{"two keys", [][]byte{keyA, keyB}, ""},
		{"no key", nil, "no key given"},
		{"short key", [][]byte{[]byte("0123456789abcdef0123456789abcde")}, "key 0 is 31 bytes, expected at least 32"},
		{"short second key", [][]byte{keyA, []byte("short")}, "key 1 is 5 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSigner(tc.keys...)
			if tc.want == "" {
				if err != nil || s == nil {
					t.Fatalf("NewSigner: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSignerCopiesKeys(t *testing.T) {
	k := bytes.Clone(keyA)
	s := mustSigner(t, k)
	tok := s.Issue(net4, uaFirefox, LevelCookie, t0, time.Hour)
	k[0] ^= 1 // the caller reusing its buffer must not change the signer
	if _, err := s.Verify(tok, net4, uaFirefox, t0); err != nil {
		t.Fatal(err)
	}
}

func TestPurposeSeparation(t *testing.T) {
	s := mustSigner(t, keyA)
	body := []byte("some body that is long enough")
	tok := s.Seal(PurposeChallenge, body)
	got, err := s.Open(PurposeChallenge, tok)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(PurposePass, tok); !errors.Is(err, ReasonBadSignature) {
		t.Errorf("a challenge token opened as a pass: %v", err)
	}
	// A pass token never opens as a challenge either.
	pass := s.Issue(net4, uaFirefox, LevelWork, t0, time.Hour)
	if _, err := s.Open(PurposeChallenge, pass); !errors.Is(err, ReasonBadSignature) {
		t.Errorf("a pass opened as a challenge: %v", err)
	}
}

func TestDecodeBase64URLStrict(t *testing.T) {
	tests := []struct {
		in   string
		want []byte // nil = refused
	}{
		{"", []byte{}},
		{"AA", []byte{0}},
		{"AB", nil}, // non-zero trailing bits
		{"AAA", []byte{0, 0}},
		{"AAB", nil},
		{"AAAA", []byte{0, 0, 0}},
		{"A", nil},
		{"AAAAA", nil},
		{"_-8", []byte{0xff, 0xef}},
		{"AA==", nil},
		{"AA\n", nil},
		{"A+A", nil},
	}
	for _, tc := range tests {
		var dst [8]byte
		n, ok := decodeBase64URL(dst[:], tc.in)
		if ok != (tc.want != nil) || (ok && !bytes.Equal(dst[:n], tc.want)) {
			t.Errorf("decode(%q) = %x, %v; want %x", tc.in, dst[:n], ok, tc.want)
		}
	}
	var small [2]byte
	if _, ok := decodeBase64URL(small[:], "AAAA"); ok {
		t.Error("decode past the end of dst accepted")
	}
}

func TestLevels(t *testing.T) {
	for _, l := range []Level{LevelCookie, LevelScript, LevelWork} {
		got, err := ParseLevel(l.String())
		if err != nil || got != l {
			t.Errorf("ParseLevel(%q) = %v, %v", l.String(), got, err)
		}
	}
	if _, err := ParseLevel("captcha"); err == nil || !strings.Contains(err.Error(), "expected cookie, script or work") {
		t.Errorf("ParseLevel(captcha) error %v", err)
	}
	if !LevelWork.Satisfies(LevelCookie) || LevelCookie.Satisfies(LevelScript) || LevelNone.Satisfies(LevelNone) {
		t.Error("Satisfies ordering wrong")
	}
}

func TestReasonOf(t *testing.T) {
	if ReasonOf(nil) != "" || ReasonOf(errors.New("x")) != "error" {
		t.Error("ReasonOf of nil / plain error")
	}
	wrapped := errors.Join(errors.New("context"), ReasonExpired)
	if ReasonOf(wrapped) != ReasonExpired {
		t.Errorf("ReasonOf(wrapped) = %q", ReasonOf(wrapped))
	}
}

// TestVerifyDoesNotAllocate runs without the race detector only (it allocates itself);
// .ci/test runs it (and every test named *Alloc*) again without -race.
func TestVerifyDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations cannot be counted under the race detector; .ci/test runs this test without -race")
	}
	s := mustSigner(t, keyB, keyA)
	tok := s.Issue(net6, uaFirefox, LevelWork, t0, time.Hour)
	old := mustSigner(t, keyA).Issue(net6, uaFirefox, LevelWork, t0, time.Hour)
	for name, tok := range map[string]string{"first key": tok, "second key": old, "forged": flip(tok, 5)} {
		allocs := testing.AllocsPerRun(100, func() { s.Verify(tok, net6, uaFirefox, t0) })
		if allocs != 0 {
			t.Errorf("%s: Verify allocates %.1f times per call, want 0", name, allocs)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, bc := range []struct {
		name string
		keys [][]byte
	}{{"one key", [][]byte{keyA}}, {"rotated, second key", [][]byte{keyB, keyA}}} {
		s := mustSigner(b, bc.keys...)
		tok := mustSigner(b, keyA).Issue(net6, uaFirefox, LevelWork, t0, time.Hour)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Verify(tok, net6, uaFirefox, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkIssue(b *testing.B) {
	s := mustSigner(b, keyA)
	b.ReportAllocs()
	for b.Loop() {
		s.Issue(net6, uaFirefox, LevelWork, t0, time.Hour)
	}
}
