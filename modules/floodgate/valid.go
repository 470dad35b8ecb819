package floodgate

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/floodgate-proxy/floodgate/internal/challenge"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/pass"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// Every config struct checks itself here, in one place. Provision calls App.Valid and
// Handler.Valid, so a JSON config is refused exactly as the Caddyfile one (whose parser calls
// the same methods): same rules, same messages. Zero always means "the default".

// Valid reports every setting of the app that floodgate cannot run with.
func (a *App) Valid() error {
	var errs []error
	for i, r := range a.Rules {
		if strings.TrimSpace(r) == "" {
			errs = append(errs, fmt.Errorf("rules: entry %d is empty (expected a rule file, a folder or %q)", i+1, "shipped"))
		}
	}
	if err := (network.PrefixLengths{V4: a.PrefixV4, V6: a.PrefixV6, V6Wide: a.PrefixV6Wide}).Valid(); err != nil {
		errs = append(errs, fmt.Errorf("prefix: %w", err))
	}
	errs = append(errs, a.Store.Valid(), a.Challenge.Valid(), a.Protect.Valid())
	return errors.Join(errs...)
}

// Valid reports every store setting out of range.
func (c StoreConfig) Valid() error {
	var errs []error
	switch c.Mode {
	case "", "batched", "exact":
		if c.Mode != "" && c.Redis == "" {
			errs = append(errs, fmt.Errorf("store mode %q needs a Redis URL (store redis://host:6379 { mode %s })", c.Mode, c.Mode))
		}
	default:
		errs = append(errs, fmt.Errorf("store mode %q: expected batched or exact", c.Mode))
	}
	if c.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("store sync_interval: %v is negative (expected e.g. 100ms; 0: the default)", time.Duration(c.SyncInterval)))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("store timeout: %v is negative (expected e.g. 250ms; 0: the default)", time.Duration(c.Timeout)))
	}
	if strings.ContainsAny(c.KeyPrefix, "{}") {
		errs = append(errs, fmt.Errorf("store key_prefix %q: expected no '{' or '}' (Redis Cluster hash tags are floodgate's)", c.KeyPrefix))
	}
	if c.MaxKeys < 0 {
		errs = append(errs, fmt.Errorf("store max_keys: %d is negative (expected a number of counters; 0: the default 1000000)", c.MaxKeys))
	}
	return errors.Join(errs...)
}

// Valid reports every challenge setting floodgate cannot use.
func (c ChallengeConfig) Valid() error {
	var errs []error
	for i, k := range c.Keys {
		b, err := decodeKey(k)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("challenge key %d: %w", i+1, err))
		case len(b) < pass.MinKeyLen:
			errs = append(errs, fmt.Errorf("challenge key %d: %d bytes, expected at least %d (head -c 32 /dev/urandom | base64)", i+1, len(b), pass.MinKeyLen))
		}
	}
	if c.PassTTL < 0 {
		errs = append(errs, fmt.Errorf("challenge pass_ttl: %v is negative (expected e.g. 7d or 12h; 0: the default 7d)", time.Duration(c.PassTTL)))
	}
	if c.Difficulty != 0 && (c.Difficulty < 1 || c.Difficulty > 24) {
		errs = append(errs, fmt.Errorf("challenge difficulty: %d, expected a number of bits from 1 to 24 (16 is about half a second)", c.Difficulty))
	}
	if c.CookieName != "" && !challenge.ValidCookieName(c.CookieName) {
		errs = append(errs, fmt.Errorf("challenge cookie_name %q: expected letters, digits, '-', '_' or '.'", c.CookieName))
	}
	if err := onOff(c.VisitorCookie); err != nil {
		errs = append(errs, fmt.Errorf("challenge visitor_cookie: %w", err))
	}
	return errors.Join(errs...)
}

// Valid reports every protect setting out of range.
func (c ProtectConfig) Valid() error {
	var errs []error
	for _, f := range []struct {
		name string
		n    int
	}{{"backend_max_inflight", c.BackendMaxInflight}, {"site_max_inflight", c.SiteMaxInflight}, {"queue_length", c.QueueLength}} {
		if f.n < 0 {
			errs = append(errs, fmt.Errorf("protect %s: %d is negative (expected a whole number of requests; 0: no cap or the default)", f.name, f.n))
		}
	}
	if c.MaxWait < 0 {
		errs = append(errs, fmt.Errorf("protect max_wait: %v is negative (expected e.g. 2s; 0: the default)", time.Duration(c.MaxWait)))
	}
	errs = append(errs, c.UnderAttack.Valid())
	return errors.Join(errs...)
}

// Valid reports every under-attack setting out of range.
func (u UnderAttackConfig) Valid() error {
	var errs []error
	if u.Rate != "" && u.Rate != "off" {
		if _, err := rules.ParseRate(u.Rate); err != nil {
			errs = append(errs, fmt.Errorf("under_attack rate: %w (or off)", err))
		}
	}
	for _, f := range []struct {
		name string
		d    caddy.Duration
	}{{"latency", u.Latency}, {"on_after", u.OnAfter}, {"off_after", u.OffAfter}} {
		if f.d < 0 {
			errs = append(errs, fmt.Errorf("under_attack %s: %v is negative (expected a positive duration such as 3s; 0: the default)", f.name, time.Duration(f.d)))
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"error_share", u.ErrorShare}, {"saturation", u.Saturation}} {
		if f.v < 0 || f.v > 1 || f.v != f.v {
			errs = append(errs, fmt.Errorf("under_attack %s: %v, expected a share between 0 and 1 such as 0.5 (0: the default 0.5)", f.name, f.v))
		}
	}
	if f := u.LatencyFactor; f != 0 && !(f > 1 && f <= 100) {
		errs = append(errs, fmt.Errorf("under_attack latency_factor: %v, expected a multiple of the healthy latency above 1 such as 3 (0: the default 3)", f))
	}
	if _, err := pass.ParseLevel(u.ChallengeLevel); u.ChallengeLevel != "" && err != nil {
		errs = append(errs, fmt.Errorf("under_attack challenge_level %q: expected cookie, script or work", u.ChallengeLevel))
	}
	return errors.Join(errs...)
}

// Valid reports every setting of the handler floodgate cannot use.
func (h *Handler) Valid() error {
	if _, err := challenge.NewExempt(h.ChallengeExempt); err != nil {
		return fmt.Errorf("challenge_exempt: %w", err)
	}
	if err := onOff(h.VisitorCookie); err != nil {
		return fmt.Errorf("visitor_cookie: %w", err)
	}
	return nil
}
