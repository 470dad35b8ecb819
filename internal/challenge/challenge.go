// Package challenge serves challenge pages, checks their answers and reads
// pass cookies. It speaks net/http and knows nothing of Caddy: the floodgate
// handler decides when to challenge and at which level, and counts the
// levels and reasons this package returns.
package challenge

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"iter"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// Defaults for Config fields left zero.
const (
	DefaultCookieName   = "floodgate_pass"
	DefaultPassTTL      = 7 * 24 * time.Hour
	DefaultChallengeTTL = 10 * time.Minute
	DefaultDifficulty   = 16
	DefaultVerifyPath   = "/.floodgate/verify"
	// ScriptDifficulty is the proof of work of the script level: enough to
	// need a script, solved in a blink.
	ScriptDifficulty = 8
	// MaxDifficulty bounds Config.Difficulty (2^24 hashes: many seconds).
	MaxDifficulty = 24
	// slowRefreshSeconds is the meta-refresh delay of the cookie level for a
	// client served one moments ago (it drops cookies): it reloads once a
	// second, not in a tight loop. Others refresh at once (recent.go).
	slowRefreshSeconds = 1
)

// now is the clock; tests replace it.
var now = time.Now

// orNow is t, or the clock's time when t is zero: the *At methods take the request's time
// from a caller that read the clock already.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return t
}

// Config configures a Challenger. Only Signer is required.
type Config struct {
	// Signer signs passes and challenges; share its keys between floodgate
	// instances so that any of them accepts a pass another issued.
	Signer *pass.Signer
	// CookieName is the pass cookie's name. Default "floodgate_pass".
	CookieName string
	// PassTTL is how long a pass is accepted. Default 7 days.
	PassTTL time.Duration
	// ChallengeTTL is how long a served challenge can be answered.
	// Default 10 minutes.
	ChallengeTTL time.Duration
	// Difficulty is the work level's proof of work, in leading zero bits of
	// SHA-256: each bit doubles the expected work. Default 16, at most 24.
	Difficulty int
	// Template replaces the built-in page (see PageData and LoadTemplate).
	Template *template.Template
	// Seen remembers answered challenges so each answer is used once.
	// Default: an in-memory set of DefaultSeenSize keys (this process only).
	Seen SeenSet
	// VerifyPath is the reserved path the answers are posted to.
	// Default "/.floodgate/verify".
	VerifyPath string
	// Visitor sets the visitor cookie (visitor.go).
	Visitor VisitorConfig
	// IsHTTPS reports whether the client reached the site over HTTPS, which makes the
	// cookies Secure. Default: r.TLS != nil. Behind a TLS-terminating load balancer, set it
	// to also trust X-Forwarded-Proto from that balancer (and only from it).
	IsHTTPS func(r *http.Request) bool
}

// Challenger serves challenges and checks answers and passes. It is safe for
// concurrent use.
type Challenger struct {
	cfg       Config
	bufs      sync.Pool // *bytes.Buffer
	recent    *recentChallenges
	skeletons skeletons     // the cookie-level page, prerendered (skeleton.go)
	bindings  *bindingCache // the binding hashes of recent challenges (bindcache.go)
	visits    *bindingCache // those of allowed requests' visitor cookies and passes
	expires   httpDate      // the Expires of the passes issued this second (httpdate.go)
}

// New checks cfg, fills in its defaults and returns a Challenger.
func New(cfg Config) (*Challenger, error) {
	var errs []error
	if cfg.Signer == nil {
		errs = append(errs, errors.New("challenge: no Signer, expected a *pass.Signer"))
	}
	if err := cookieName(&cfg.CookieName, DefaultCookieName, "cookie name"); err != nil {
		errs = append(errs, err)
	}
	if cfg.PassTTL == 0 {
		cfg.PassTTL = DefaultPassTTL
	} else if cfg.PassTTL < time.Minute {
		errs = append(errs, fmt.Errorf("challenge: pass TTL %v: expected a minute or more", cfg.PassTTL))
	}
	if cfg.ChallengeTTL == 0 {
		cfg.ChallengeTTL = DefaultChallengeTTL
	} else if cfg.ChallengeTTL < 10*time.Second || cfg.ChallengeTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("challenge: challenge TTL %v: expected between 10s and 24h", cfg.ChallengeTTL))
	}
	if cfg.Difficulty == 0 {
		cfg.Difficulty = DefaultDifficulty
	} else if cfg.Difficulty < 1 || cfg.Difficulty > MaxDifficulty {
		errs = append(errs, fmt.Errorf("challenge: difficulty %d: expected 1 to %d leading zero bits", cfg.Difficulty, MaxDifficulty))
	}
	if cfg.Template == nil {
		cfg.Template = DefaultTemplate()
	}
	if cfg.Seen == nil {
		cfg.Seen = NewMemorySeen(DefaultSeenSize)
	}
	if cfg.VerifyPath == "" {
		cfg.VerifyPath = DefaultVerifyPath
	} else if !strings.HasPrefix(cfg.VerifyPath, "/") || strings.ContainsAny(cfg.VerifyPath, "?#\\ \"'<>") {
		errs = append(errs, fmt.Errorf("challenge: verify path %q: expected an absolute path such as %s", cfg.VerifyPath, DefaultVerifyPath))
	}
	if err := cfg.Visitor.valid(); err != nil {
		errs = append(errs, err)
	}
	if cfg.IsHTTPS == nil {
		cfg.IsHTTPS = func(r *http.Request) bool { return r.TLS != nil }
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := &Challenger{cfg: cfg, recent: newRecentChallenges(), bindings: newBindingCache(bindingSlots),
		visits: newBindingCache(visitBindingSlots)}
	c.bufs.New = func() any { return new(bytes.Buffer) }
	return c, nil
}

// VerifyPath is the reserved path HandleVerify serves.
func (c *Challenger) VerifyPath() string { return c.cfg.VerifyPath }

// IsVerify reports whether r is for the verify endpoint; route it to
// HandleVerify before anything else.
func (c *Challenger) IsVerify(r *http.Request) bool { return r.URL.Path == c.cfg.VerifyPath }

// Check reads the pass cookie of r and verifies it for the client's network
// prefix and User-Agent, demanding a pass of level need or stronger. The
// error is a pass.Reason (ReasonMissing when there is no cookie). When the
// request carries several cookies of that name, the first valid one wins.
func (c *Challenger) Check(r *http.Request, prefix netip.Prefix, need pass.Level) (pass.Pass, error) {
	err := error(pass.ReasonMissing)
	var found pass.Pass
	c.eachPass(r, prefix, time.Time{}, func(p pass.Pass, verr error) bool {
		switch {
		case verr != nil:
			err = verr
		case !p.Level.Satisfies(need):
			err = pass.ReasonWeakerLevel
		default:
			found, err = p, nil
			return false
		}
		return true
	})
	return found, err
}

// Held returns the level of the strongest valid pass r carries for the client's network
// prefix and User-Agent, or pass.LevelNone and why none is valid (pass.ReasonMissing when
// there is no pass cookie). A request without cookies costs nothing.
func (c *Challenger) Held(r *http.Request, prefix netip.Prefix) (pass.Level, pass.Reason) {
	return c.HeldAt(r, prefix, time.Time{})
}

// HeldAt is Held at t, the request's time (zero: the clock's).
func (c *Challenger) HeldAt(r *http.Request, prefix netip.Prefix, t time.Time) (pass.Level, pass.Reason) {
	level, reason := pass.LevelNone, pass.ReasonMissing
	c.eachPass(r, prefix, t, func(p pass.Pass, verr error) bool {
		if verr != nil {
			if level == pass.LevelNone {
				reason = pass.ReasonOf(verr)
			}
			return true
		}
		level, reason = max(level, p.Level), ""
		return level < pass.LevelWork
	})
	return level, reason
}

// maxPassCookies bounds how many pass cookies of one request are verified (each an HMAC):
// a browser sends one, two across a key change; a client sending thousands gets no more work
// done than this.
const maxPassCookies = 8

// eachPass calls fn with every pass cookie of r, verified, until fn returns false or
// maxPassCookies were verified. Every cookie of every line is looked at (a name comparison
// each): a member site may set dozens of cookies, and a pass after the 64th is still the
// visitor's pass. Passes are verified at t (zero: the clock's time).
func (c *Challenger) eachPass(r *http.Request, prefix netip.Prefix, t time.Time, fn func(pass.Pass, error) bool) {
	if len(r.Header["Cookie"]) == 0 {
		return
	}
	var bh [pass.HashLen]byte // hashed at the first pass cookie: most cookies are others
	t = orNow(t)
	verified := 0
	for value := range cookies(r, c.cfg.CookieName) {
		if verified == maxPassCookies {
			return
		}
		if verified == 0 {
			bh = c.visitBinding(r)
		}
		verified++
		if !fn(c.cfg.Signer.VerifyHash(value, prefix, bh, t)) {
			return
		}
	}
}

// cookies yields the values of the cookies of r named name, unquoted. Every cookie of every
// line is looked at (a name comparison each): a member site may set dozens, and one after
// the 64th is still the visitor's. Callers bound the work they do per value.
func cookies(r *http.Request, name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, line := range r.Header["Cookie"] {
			for line != "" {
				var part string
				part, line, _ = strings.Cut(line, ";")
				n, value, ok := strings.Cut(strings.TrimSpace(part), "=")
				if ok && n == name && !yield(strings.Trim(value, `"`)) {
					return
				}
			}
		}
	}
}

// Serve writes the challenge page of level for r, from a client of network
// prefix. At the cookie level the page itself carries the pass (Set-Cookie)
// and reloads r's URL; the script and work levels post an answer to
// VerifyPath. The status is 403 with Cache-Control: no-store: browsers show
// the page and run it whatever the status, while crawlers, feed readers and
// scripts see a refusal rather than content to index or store (a 200 would
// make the page pass for the site's content; a 503 would make uptime checks
// report the site down).
func (c *Challenger) Serve(w http.ResponseWriter, r *http.Request, level pass.Level, prefix netip.Prefix) error {
	a := new(answerHeader) // the answer's one allocation besides the page's pooled buffer
	return c.serve(w, r, a, level, prefix, returnPath(a.keep(appendRequestURI(a.free(), r.URL))), false)
}

// serve writes the challenge page of level, returning to ret, with a's buffer for the header
// values it makes.
func (c *Challenger) serve(w http.ResponseWriter, r *http.Request, a *answerHeader, level pass.Level, prefix netip.Prefix, ret string, retry bool) error {
	if !level.Valid() {
		return fmt.Errorf("challenge: level %v: expected cookie, script or work", level)
	}
	var nonce [16]byte
	randRead(nonce[:])
	lang := chooseLang(r.Header.Get("Accept-Language"))
	host := hostOf(r)
	d := PageData{
		Lang:           lang,
		Text:           texts[lang],
		Host:           host,
		Level:          level.String(),
		ReturnTo:       ret,
		RefreshSeconds: 0,
		VerifyPath:     c.cfg.VerifyPath,
		Retry:          retry,
		CSPNonce:       a.keep(base64.RawURLEncoding.AppendEncode(a.free(), nonce[:])),
	}
	bh := c.bindings.hash(r.UserAgent(), host) // bindingHash(r)
	var cookie string
	if level == pass.LevelCookie {
		if c.recent.seen(prefix, bh, now()) {
			d.RefreshSeconds = slowRefreshSeconds
		}
		cookie = a.keep(c.appendPassCookie(a.free(), r, prefix, bh, pass.LevelCookie))
	} else {
		d.Difficulty = c.cfg.Difficulty
		if level == pass.LevelScript {
			d.Difficulty = ScriptDifficulty
		}
		d.Challenge, d.Nonce = c.newChallenge(level, d.Difficulty, prefix, bh)
		d.Script = template.JS(solverJS)
	}
	buf := c.bufs.Get().(*bytes.Buffer)
	defer c.bufs.Put(buf)
	buf.Reset()
	var err error
	if level == pass.LevelCookie {
		err = c.skeletons.render(buf, &d, c.execute)
	} else {
		dd := d // a copy to the template, so that d, made for every challenge, stays on the stack
		err = c.execute(buf, &dd)
	}
	if err != nil {
		http.Error(w, "challenge page unavailable", http.StatusInternalServerError)
		return fmt.Errorf("challenge: page template: %w", err)
	}
	csp := append(a.free(), "default-src 'none'; script-src 'nonce-"...)
	csp = append(append(csp, d.CSPNonce...), "'; style-src 'nonce-"...)
	csp = append(append(csp, d.CSPNonce...), "'; worker-src blob:; child-src blob:; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"...)
	a.set(w.Header(), lang, a.keep(csp), a.keep(strconv.AppendInt(a.free(), int64(buf.Len()), 10)), cookie)
	w.WriteHeader(http.StatusForbidden)
	if r.Method != http.MethodHead {
		_, err := w.Write(buf.Bytes())
		return err
	}
	return nil
}

// answerHeader is what the header of a challenge page holds until it is written: the values
// of its fields, and the bytes of those made for this answer (the CSP nonce and policy, the
// pass's Set-Cookie line, the length), in one allocation. A stealth flood that drops its
// cookies is answered a challenge page for every request: setting its eight fields one by
// one (a slice each), the pass through http.Cookie, and the policy by concatenation cost
// about twenty allocations per answer.
type answerHeader struct {
	vals [8]string
	buf  [answerBufLen]byte
	n    int // bytes of buf kept
}

// answerBufLen is room for a page's return path (up to about 250 bytes), nonce, policy,
// length and pass cookie line (with a cookie name of up to 64 bytes); what does not fit is
// appended elsewhere (an allocation). With it an answerHeader is 1,024 bytes, a size class
// of Go's allocator (TestAnswerHeaderSize): a byte more would allocate 1,152.
const answerBufLen = 888

// free returns the unkept part of the buffer, empty, to append one value to.
func (a *answerHeader) free() []byte { return a.buf[a.n:a.n] }

// keep returns b, appended to free(), as a string; its bytes are never written again.
func (a *answerHeader) keep(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if a.n < len(a.buf) && unsafe.SliceData(b) == &a.buf[a.n] {
		a.n += len(b) // in the buffer (else append moved it to an array of its own)
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// set sets the header fields of a challenge page: no-store, noindex, the CSP (the page loads
// nothing from elsewhere, and runs only its own nonced script and style), and the pass
// cookie when there is one (added to any other Set-Cookie).
func (a *answerHeader) set(h http.Header, lang, csp, length, cookie string) {
	a.vals = [...]string{"text/html; charset=utf-8", lang, "no-store", "noindex, nofollow", "same-origin", csp, length, cookie}
	h["Content-Type"] = a.vals[0:1:1]
	h["Content-Language"] = a.vals[1:2:2]
	h["Cache-Control"] = a.vals[2:3:3]
	h["X-Robots-Tag"] = a.vals[3:4:4]
	h["Referrer-Policy"] = a.vals[4:5:5]
	h["Content-Security-Policy"] = a.vals[5:6:6]
	h["Content-Length"] = a.vals[6:7:7]
	if cookie == "" {
		return
	}
	if old := h["Set-Cookie"]; len(old) > 0 {
		h["Set-Cookie"] = append(old, cookie)
		return
	}
	h["Set-Cookie"] = a.vals[7:8:8]
}

// appendRequestURI appends u.RequestURI() to dst: the path and query a challenge returns
// to, made without a string of its own (Serve keeps it in the answer's buffer).
func appendRequestURI(dst []byte, u *url.URL) []byte {
	if u.Opaque != "" {
		return append(dst, u.RequestURI()...) // a request line in absolute form: rare
	}
	start := len(dst)
	dst = append(dst, u.EscapedPath()...)
	if len(dst) == start {
		dst = append(dst, '/')
	}
	if u.ForceQuery || u.RawQuery != "" {
		dst = append(append(dst, '?'), u.RawQuery...)
	}
	return dst
}

// execute renders the page template with d.
func (c *Challenger) execute(buf *bytes.Buffer, d *PageData) error {
	return c.cfg.Template.Execute(buf, d)
}

// setPass issues a pass for the client and sets it as a cookie (appendPassCookie).
func (c *Challenger) setPass(w http.ResponseWriter, r *http.Request, prefix netip.Prefix, level pass.Level) {
	var buf [256]byte
	line := c.appendPassCookie(buf[:0], r, prefix, bindingHash(r), level)
	w.Header()["Set-Cookie"] = append(w.Header()["Set-Cookie"], string(line))
}

// appendPassCookie appends the Set-Cookie line of a pass for the client (network prefix,
// binding hash bh) to dst: host-only, Path=/, HttpOnly (no script needs it), SameSite=Lax
// (it must come along when a visitor follows a link from elsewhere), Secure when the request
// came over HTTPS, directly or through a trusted TLS-terminating proxy (a Secure cookie on a
// plain-HTTP site would never come back and the visitor would be challenged forever). The
// line is http.Cookie's, written by hand: a cookie challenge sets one on every request of a
// flood that drops its cookies.
func (c *Challenger) appendPassCookie(dst []byte, r *http.Request, prefix netip.Prefix, bh [pass.HashLen]byte, level pass.Level) []byte {
	t := now()
	line := append(append(dst, c.cfg.CookieName...), '=')
	line = c.cfg.Signer.AppendIssueHash(line, prefix, bh, level, t, c.cfg.PassTTL)
	line = append(line, "; Path=/; Expires="...)
	line = c.expires.append(line, t.Add(c.cfg.PassTTL)) // t.Add(PassTTL).UTC().AppendFormat(line, http.TimeFormat)
	line = append(line, "; Max-Age="...)
	line = strconv.AppendInt(line, int64(c.cfg.PassTTL/time.Second), 10)
	line = append(line, "; HttpOnly"...)
	if c.cfg.IsHTTPS(r) {
		line = append(line, "; Secure"...)
	}
	return append(line, "; SameSite=Lax"...)
}

// binding is what a pass and a challenge are bound to besides the network: the browser
// (User-Agent) and the site (host). A pass solved on one member site is no good on another,
// so a scraper that solves a challenge once cannot crawl every site with it; a person does
// not notice, since browsers send a cookie only to the site that set it.
func binding(r *http.Request) string { return r.UserAgent() + "\x00" + hostOf(r) }

// bindingHash is pass.UserAgentHash(binding(r)), without making the binding string: what
// the passes and visitor cookies of every request are checked against.
func bindingHash(r *http.Request) [pass.HashLen]byte {
	return pass.BindingHash(r.UserAgent(), hostOf(r))
}

// hostOf returns the request host without port, for display.
func hostOf(r *http.Request) string {
	h := r.Host
	if strings.IndexByte(h, ':') >= 0 { // else no port (and SplitHostPort's error would allocate)
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
	}
	if len(h) > 253 {
		h = h[:253]
	}
	return strings.ToLower(h)
}

// randRead fills b with random bytes; crypto/rand never fails since Go 1.24.
func randRead(b []byte) { rand.Read(b) }

// cookieName fills in *name's default, or checks it.
func cookieName(name *string, def, what string) error {
	if *name == "" {
		*name = def
	} else if !ValidCookieName(*name) {
		return fmt.Errorf("challenge: %s %q: expected letters, digits, '-', '_' or '.'", what, *name)
	}
	return nil
}

// ValidCookieName reports whether s is a plain cookie name (the pass and visitor cookies).
func ValidCookieName(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			return false
		}
	}
	return s != ""
}
