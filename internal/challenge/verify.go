package challenge

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// Refusal reasons of HandleVerify beside those of package pass
// (ReasonMalformed, ReasonBadSignature, ReasonExpired, ReasonOtherNetwork,
// ReasonOtherUserAgent).
const (
	// ReasonWrongAnswer: the answer does not solve the challenge.
	ReasonWrongAnswer pass.Reason = "wrong_answer"
	// ReasonReplayed: the challenge was already answered once.
	ReasonReplayed pass.Reason = "replayed"
)

// Challenge token layout (before base64url), 75 bytes, 100 characters:
//
//	0      version (1)
//	1      level (1)
//	2      difficulty in bits (1)
//	3..10  expires, Unix seconds, big endian (8)
//	11..18 network hash (8)
//	19..26 user agent hash (8)
//	27..42 nonce (16)
//	43..74 HMAC-SHA256 over pass.PurposeChallenge and bytes 0..42 (32)
const (
	challengeVersion = 1
	challengeBodyLen = 43
	nonceLen         = 16
	maxAnswerLen     = 15 // decimal digits; JavaScript counts exactly up to 2^53
	maxVerifyBody    = 4 << 10
)

// challenge is an opened challenge token.
type challenge struct {
	level      pass.Level
	difficulty int
	expires    time.Time
	netHash    []byte
	uaHash     []byte
	nonce      string // hexadecimal
}

// newChallenge returns a signed challenge token and its hexadecimal nonce.
func (c *Challenger) newChallenge(level pass.Level, difficulty int, prefix netip.Prefix, uh [pass.HashLen]byte) (token, nonce string) {
	var b [challengeBodyLen]byte
	b[0] = challengeVersion
	b[1] = byte(level)
	b[2] = byte(difficulty)
	binary.BigEndian.PutUint64(b[3:], uint64(now().Add(c.cfg.ChallengeTTL).Unix()))
	nh := pass.NetworkHash(prefix)
	copy(b[11:], nh[:])
	copy(b[19:], uh[:])
	rand16 := b[27 : 27+nonceLen]
	randRead(rand16)
	return c.cfg.Signer.Seal(pass.PurposeChallenge, b[:]), hex.EncodeToString(rand16)
}

// openChallenge checks a challenge token's signature and format.
func (c *Challenger) openChallenge(token string) (challenge, error) {
	if len(token) > 200 {
		return challenge{}, pass.ReasonMalformed
	}
	b, err := c.cfg.Signer.Open(pass.PurposeChallenge, token)
	if err != nil {
		return challenge{}, err
	}
	if len(b) != challengeBodyLen || b[0] != challengeVersion || !pass.Level(b[1]).Valid() || b[2] > 64 {
		return challenge{}, pass.ReasonMalformed
	}
	return challenge{
		level:      pass.Level(b[1]),
		difficulty: int(b[2]),
		expires:    time.Unix(int64(binary.BigEndian.Uint64(b[3:])), 0),
		netHash:    b[11:19],
		uaHash:     b[19:27],
		nonce:      hex.EncodeToString(b[27 : 27+nonceLen]),
	}, nil
}

// Outcome is what HandleVerify did, for metrics and logs.
type Outcome struct {
	// Level is the level of the answered challenge; LevelNone when the
	// challenge could not be read.
	Level pass.Level
	// Passed is true when the answer was accepted and a pass was set.
	Passed bool
	// Reason says why the answer was refused ("" when Passed).
	Reason pass.Reason
	// SeenErr is set when the replay set failed. The answer was then
	// accepted anyway (a store outage must not lock visitors out), so an
	// answer may have been used twice: log it.
	SeenErr error
}

// HandleVerify serves the verify endpoint (VerifyPath) for a client of
// network prefix. It takes a POSTed form: c, the challenge token; a, the
// answer; r, the path to return to. A correct, fresh, first-time answer from
// the network and User-Agent the challenge was made for earns a pass cookie
// of the challenge's level and a 303 redirect to r (or "/" when r is not a
// same-site path). Anything else gets a fresh challenge page (403) with a
// note that the previous one was not accepted.
func (c *Challenger) HandleVerify(w http.ResponseWriter, r *http.Request, prefix netip.Prefix) Outcome {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "floodgate verify endpoint: expected a POST from a challenge page", http.StatusMethodNotAllowed)
		return Outcome{Reason: pass.ReasonMalformed}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxVerifyBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "floodgate verify endpoint: expected a small url-encoded form", http.StatusBadRequest)
		return Outcome{Reason: pass.ReasonMalformed}
	}
	ret := returnPath(r.PostForm.Get("r"))
	if ret == c.cfg.VerifyPath || strings.HasPrefix(ret, c.cfg.VerifyPath+"?") {
		ret = "/"
	}
	out := c.verify(r, prefix)
	if !out.Passed {
		level := out.Level
		if !level.Valid() {
			level = pass.LevelWork
		}
		c.serve(w, r, new(answerHeader), level, prefix, ret, true)
		return out
	}
	c.setPass(w, r, prefix, out.Level)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, ret, http.StatusSeeOther)
	return out
}

// verify checks the posted answer.
func (c *Challenger) verify(r *http.Request, prefix netip.Prefix) Outcome {
	ch, err := c.openChallenge(r.PostForm.Get("c"))
	if err != nil {
		return Outcome{Reason: pass.ReasonOf(err)}
	}
	out := Outcome{Level: ch.level}
	t := now()
	nh, uh := pass.NetworkHash(prefix), bindingHash(r)
	switch {
	case !t.Before(ch.expires):
		out.Reason = pass.ReasonExpired
	case !prefix.IsValid() || subtle.ConstantTimeCompare(nh[:], ch.netHash) != 1:
		out.Reason = pass.ReasonOtherNetwork
	case subtle.ConstantTimeCompare(uh[:], ch.uaHash) != 1:
		out.Reason = pass.ReasonOtherUserAgent
	case !solves(ch.nonce, r.PostForm.Get("a"), ch.difficulty):
		out.Reason = ReasonWrongAnswer
	}
	if out.Reason != "" {
		return out
	}
	// The same ttl for every use of a nonce: the challenges' whole lifetime (a counter store
	// keys its windows by it; what is left of the challenge changes with every call).
	first, err := c.cfg.Seen.FirstUse(r.Context(), "floodgate:challenge:"+ch.nonce, c.cfg.ChallengeTTL+time.Second)
	if err != nil {
		out.SeenErr = err
	} else if !first {
		out.Reason = ReasonReplayed
		return out
	}
	out.Passed = true
	return out
}

// solves reports whether answer, a decimal counter written without leading
// zeros, makes SHA-256(nonce + answer) start with difficulty zero bits.
func solves(nonce, answer string, difficulty int) bool {
	if answer == "" || len(answer) > maxAnswerLen || (answer[0] == '0' && len(answer) > 1) {
		return false
	}
	for i := 0; i < len(answer); i++ {
		if answer[i] < '0' || answer[i] > '9' {
			return false
		}
	}
	return leadingZeroBits(sha256.Sum256([]byte(nonce+answer))) >= difficulty
}

// leadingZeroBits counts the zero bits at the start of h.
func leadingZeroBits(h [sha256.Size]byte) int {
	n := 0
	for _, b := range h {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// returnPath returns s when it is a safe same-site path to redirect to
// (absolute path, optional query; no scheme, host, "//", backslash or
// control character), with quotes and spaces percent-encoded; else "/".
func returnPath(s string) string {
	if s == "" || len(s) > 2048 || s[0] != '/' || strings.HasPrefix(s, "//") {
		return "/"
	}
	if plainReturnPath(s) {
		return s
	}
	return parsedReturnPath(s)
}

// plainReturnPath reports whether returnPath(s) is s itself, without parsing it: s starts
// with a single '/' (checked by the caller) and holds only what safeReturnTo accepts — letters,
// digits, "/-._~?=" and '%' with two hexadecimal digits: no scheme (no ':'), no fragment, no
// byte to escape — and it does not end in '?' (a lone trailing '?' is dropped by the parse).
// Every challenge page starts from the request's URI, and the parse cost a stealth flood's
// challenge answer a URL and two strings (BenchmarkHandlerChallenge); TestReturnPathPlain
// and FuzzReturnPath compare both ways.
func plainReturnPath(s string) bool {
	return s[len(s)-1] != '?' && safeReturnTo(s)
}

// parsedReturnPath is returnPath for a path that is not plain: parsed, re-escaped.
func parsedReturnPath(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	p := u.EscapedPath()
	if strings.HasPrefix(p, "//") {
		return "/"
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return returnPathEscaper.Replace(p)
}

// returnPathEscaper percent-encodes what returnPath must not leave in a path. Built once: a
// Replacer builds its tables on first use, and returnPath runs for every challenge served.
var returnPathEscaper = strings.NewReplacer(`"`, "%22", "'", "%27", " ", "%20", "<", "%3C", ">", "%3E")
