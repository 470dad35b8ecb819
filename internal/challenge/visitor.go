package challenge

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// Defaults of VisitorConfig.
const (
	DefaultVisitorCookieName = "floodgate_visitor"
	DefaultVisitorVisits     = 3
	DefaultVisitorGap        = time.Minute
	DefaultVisitorTTL        = 30 * 24 * time.Hour
	// visitorRefresh is how often a returning visitor's cookie is renewed: often enough to
	// keep it alive, rarely enough that few answers carry a Set-Cookie.
	visitorRefresh = 24 * time.Hour
)

// VisitorConfig sets the visitor cookie: a signed, HttpOnly cookie set on ordinary answers
// to browsers, bound like a pass to the network, the browser and the site, that counts
// visits spaced at least Gap apart. After Visits of them the browser is a returning
// visitor. The handler counts visits only in calm times (site not under attack), so a
// client cannot earn one cheaply during a flood: it needs Visits-1 Gaps of ordinary
// browsing from one network with one browser, before the flood.
type VisitorConfig struct {
	// Off turns the visitor cookie off: no cookie is set or read.
	Off bool
	// CookieName is the cookie's name. Default "floodgate_visitor".
	CookieName string
	// Visits is how many visits make a returning visitor. Default 3.
	Visits int
	// Gap is the least time between two counted visits. Default 1 minute.
	Gap time.Duration
	// TTL is how long a visitor cookie lasts after the last counted visit. Default 30 days.
	TTL time.Duration
}

// valid fills the defaults of v and checks it.
func (v *VisitorConfig) valid() error {
	var errs []error
	if err := cookieName(&v.CookieName, DefaultVisitorCookieName, "visitor cookie name"); err != nil {
		errs = append(errs, err)
	}
	if v.Visits == 0 {
		v.Visits = DefaultVisitorVisits
	} else if v.Visits < 1 || v.Visits > pass.MaxVisits {
		errs = append(errs, fmt.Errorf("challenge: visitor visits %d: expected 1 to %d", v.Visits, pass.MaxVisits))
	}
	if v.Gap == 0 {
		v.Gap = DefaultVisitorGap
	} else if v.Gap < time.Second || v.Gap > 24*time.Hour {
		errs = append(errs, fmt.Errorf("challenge: visitor gap %v: expected between 1s and 24h", v.Gap))
	}
	if v.TTL == 0 {
		v.TTL = DefaultVisitorTTL
	} else if v.TTL < time.Hour {
		errs = append(errs, fmt.Errorf("challenge: visitor TTL %v: expected an hour or more", v.TTL))
	}
	return errors.Join(errs...)
}

// VisitorOf reads the visitor cookie of r from a client of network prefix. returning is
// true for a returning visitor. err is a pass.Reason: ReasonMissing without a cookie (or
// with the visitor cookie off), else why the cookie was refused; a refused cookie (forged,
// altered, expired, from another network, browser or site) counts as none.
func (c *Challenger) VisitorOf(r *http.Request, prefix netip.Prefix) (v pass.Visitor, returning bool, err error) {
	return c.VisitorOfAt(r, prefix, time.Time{})
}

// VisitorOfAt is VisitorOf at t, the request's time (zero: the clock's).
func (c *Challenger) VisitorOfAt(r *http.Request, prefix netip.Prefix, t time.Time) (v pass.Visitor, returning bool, err error) {
	vc := &c.cfg.Visitor
	err = pass.ReasonMissing
	if vc.Off || len(r.Header["Cookie"]) == 0 {
		return v, false, err
	}
	var bh [pass.HashLen]byte // hashed at the first visitor cookie: most cookies are others
	t = orNow(t)
	verified := 0
	for value := range cookies(r, vc.CookieName) {
		if verified == maxPassCookies { // each a MAC: bounded like the pass cookies
			break
		}
		if verified == 0 {
			bh = c.visitBinding(r)
		}
		verified++
		got, verr := c.cfg.Signer.VerifyVisitorHash(value, prefix, bh, t, vc.TTL)
		if verr != nil {
			err = verr
			continue
		}
		return got, got.Visits >= vc.Visits, nil
	}
	return pass.Visitor{}, false, err
}

// CountVisit counts an ordinary visit of a browser: v and err are what VisitorOf said of
// r. Call it on a page answered normally, in calm times, before the answer's header is
// written. It sets the visitor cookie when the count moves (see VisitCookie); otherwise it
// sets nothing, so most answers carry no Set-Cookie.
func (c *Challenger) CountVisit(w http.ResponseWriter, r *http.Request, prefix netip.Prefix, v pass.Visitor, err error) {
	if line, ok := c.VisitCookie(r, prefix, v, err); ok {
		w.Header()["Set-Cookie"] = append(w.Header()["Set-Cookie"], line)
	}
}

// VisitCookie is CountVisit's Set-Cookie line, and whether there is one: on a first visit
// (or in place of a refused cookie), on a visit at least Gap after the last counted one, and
// once a day for a returning visitor. The caller sets it on the answer.
func (c *Challenger) VisitCookie(r *http.Request, prefix netip.Prefix, v pass.Visitor, err error) (string, bool) {
	var buf [256]byte
	line, ok := c.AppendVisitCookie(buf[:0], r, prefix, v, err)
	if !ok {
		return "", false
	}
	return string(line), true
}

// AppendVisitCookie appends VisitCookie's line to dst, when there is one: with room for it
// in dst (VisitCookieLen), a caller that keeps dst as long as the answer's header (the
// handler's one allocation per request) sets the cookie without another.
func (c *Challenger) AppendVisitCookie(dst []byte, r *http.Request, prefix netip.Prefix, v pass.Visitor, err error) ([]byte, bool) {
	return c.AppendVisitCookieAt(dst, r, prefix, v, err, time.Time{})
}

// AppendVisitCookieAt is AppendVisitCookie at t, the request's time (zero: the clock's).
func (c *Challenger) AppendVisitCookieAt(dst []byte, r *http.Request, prefix netip.Prefix, v pass.Visitor, err error, t time.Time) ([]byte, bool) {
	vc := &c.cfg.Visitor
	if vc.Off || !prefix.IsValid() {
		return dst, false
	}
	t = orNow(t)
	switch {
	case err != nil:
		v = pass.Visitor{Visits: 1, First: t, Last: t}
	case v.Visits < vc.Visits && t.Sub(v.Last) >= vc.Gap:
		v.Visits++
		v.Last = t
	case v.Visits >= vc.Visits && t.Sub(v.Last) >= visitorRefresh:
		v.Visits = min(v.Visits+1, pass.MaxVisits)
		v.Last = t
	default:
		return dst, false
	}
	// The Set-Cookie line is written by hand, without allocating when dst has room: it is
	// set on the first answer to every browser without the cookie, floods of them included.
	line := append(dst, vc.CookieName...)
	line = append(line, '=')
	line = c.cfg.Signer.AppendVisitorHash(line, prefix, c.visitBinding(r), v)
	line = append(line, "; Path=/; Max-Age="...)
	line = strconv.AppendInt(line, int64(vc.TTL/time.Second), 10)
	line = append(line, "; HttpOnly; SameSite=Lax"...)
	if c.cfg.IsHTTPS(r) {
		line = append(line, "; Secure"...)
	}
	return line, true
}

// VisitCookieLen is room enough for a visitor cookie's Set-Cookie line with a cookie name
// of up to 32 bytes: the 56-character cookie and 70 of attributes.
const VisitCookieLen = 160
