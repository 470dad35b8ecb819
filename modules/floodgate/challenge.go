package floodgate

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/ulule/limiter/v3"

	"github.com/floodgate-proxy/floodgate/internal/challenge"
	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// ChallengeConfig sets up challenge pages and the passes they give.
type ChallengeConfig struct {
	// Keys sign passes, base64 or hex, at least 32 bytes each. The first signs; all verify,
	// so a new key can be put first while passes signed by the old one stay valid. Every
	// proxy serving the same sites needs the same keys. Default: with Redis, a random key
	// made by the first proxy and shared by all through Redis; without, a random key made
	// when floodgate starts, kept across reloads (passes then end with the process).
	Keys []string `json:"keys,omitempty"`

	// PassTTL is how long a pass is accepted. Default 7 days.
	PassTTL caddy.Duration `json:"pass_ttl,omitempty"`

	// Difficulty of the work level, in leading zero bits of SHA-256 (each bit doubles the
	// work). Default 16: about half a second in a desktop browser.
	Difficulty int `json:"difficulty,omitempty"`

	// Template is the path of an html/template file replacing the built-in page.
	Template string `json:"template,omitempty"`

	// CookieName is the pass cookie's name. Default "floodgate_pass".
	CookieName string `json:"cookie_name,omitempty"`

	// VisitorCookie "off" stops every site setting and reading the visitor cookie (a signed
	// cookie counting a browser's visits, so that people browsing before a flood go before
	// new clients when the backend is short). Default: on; a site may turn it off in its
	// floodgate directive.
	VisitorCookie string `json:"visitor_cookie,omitempty"`
}

// processKey is the pass key used when the config names none: random, made once per process
// so that passes survive reloads.
var processKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
})

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("a challenge key is neither hex nor base64 (make one with: head -c 32 /dev/urandom | base64)")
}

// newChallenger builds the challenger of c. Without configured keys, passes are signed with
// shared (the fleet's key, when there is a Redis) and checked against it and this process's
// own key.
func newChallenger(c ChallengeConfig, st limiter.Store, shared []byte) (*challenge.Challenger, error) {
	var keys [][]byte
	for i, k := range c.Keys {
		b, err := decodeKey(k)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		keys = append(keys, b)
	}
	if len(keys) == 0 {
		if shared != nil {
			keys = append(keys, shared)
		}
		keys = append(keys, processKey())
	}
	signer, err := pass.NewSigner(keys...)
	if err != nil {
		return nil, err
	}
	cfg := challenge.Config{
		Signer:     signer,
		CookieName: c.CookieName,
		PassTTL:    time.Duration(c.PassTTL),
		Difficulty: c.Difficulty,
		Seen:       challenge.StoreSeen{Store: st},
		IsHTTPS:    isHTTPS,
		Visitor:    challenge.VisitorConfig{Off: c.VisitorCookie == "off"},
	}
	if err := onOff(c.VisitorCookie); err != nil {
		return nil, fmt.Errorf("visitor_cookie: %w", err)
	}
	if c.Template != "" {
		if cfg.Template, err = challenge.LoadTemplate(c.Template); err != nil {
			return nil, err
		}
	}
	return challenge.New(cfg)
}
