package floodgate

import (
	"context"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/floodgate-proxy/floodgate/internal/fleet"
	"github.com/floodgate-proxy/floodgate/internal/protect"
	"github.com/floodgate-proxy/floodgate/internal/store"
)

// With Redis, the proxies of one host share one view of each site (internal/fleet):
// quarantines, modes set by hand through the admin API, and each proxy's under-attack
// verdicts. This file is the glue: what this proxy decides is published, what the others
// decide is applied here through protect's public methods, and the decision reads both.

// fleets shares one fleet view per Redis URL and key prefix across config loads.
var fleets = caddy.NewUsagePool()

type pooledFleet struct{ *fleet.Fleet }

func (p pooledFleet) Destruct() error { return p.Close() }

// loadFleet returns the fleet view of c's Redis (nil without Redis) and its pool key.
func loadFleet(c StoreConfig, log *zap.Logger) (*fleet.Fleet, string, error) {
	if c.Redis == "" {
		return nil, "", nil
	}
	key := "fleet|" + c.Redis + "|" + c.KeyPrefix
	v, _, err := fleets.LoadOrNew(key, func() (caddy.Destructor, error) {
		client, err := store.ParseRedisURL(c.Redis)
		if err != nil {
			return nil, err
		}
		f := fleet.New(client, fleet.Options{KeyPrefix: c.KeyPrefix}, log.Named("fleet"), applyFleetChange)
		return pooledFleet{f}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(pooledFleet).Fleet, key, nil
}

// applyFleetChange applies another proxy's change to this proxy's protection: a mode set
// by hand goes to the detector, a lifted quarantine ends here too. Quarantines started and
// attack verdicts elsewhere need nothing: the decision reads the fleet view (SiteView).
func applyFleetChange(e fleet.Entry) {
	p := currentProtection.Load()
	if p == nil {
		return
	}
	switch e.Kind {
	case fleet.KindMode:
		if m, err := protect.ParseMode(e.Value); err == nil {
			p.detector.SetMode(e.Site, m)
		}
	case fleet.KindQuarantine:
		if !e.Until.After(time.Now()) {
			p.quarantine.End(e.Site)
		}
	}
}

// startQuarantine quarantines site here and across the fleet, and reports whether that
// started a new quarantine here.
func (p *protection) startQuarantine(site string, until time.Time, reason string) bool {
	started := p.quarantine.Start(site, until, reason)
	if f := p.fleet.Load(); f != nil && started {
		f.SetQuarantine(site, until, reason)
	}
	return started
}

// endQuarantine lifts site's quarantine here and across the fleet; it reports whether
// there was one to lift.
func (p *protection) endQuarantine(site string) bool {
	ended := p.quarantine.End(site)
	if f := p.fleet.Load(); f != nil {
		if _, ok := f.QuarantinedUntil(site, time.Now()); ok {
			ended = true
		}
		if ended {
			f.LiftQuarantine(site)
		}
	}
	return ended
}

// setMode sets site's under-attack mode by hand, here and across the fleet (the fleet
// first: the detector's switch then knows it was set by hand, and claims nothing).
func (p *protection) setMode(site string, m protect.Mode) {
	if f := p.fleet.Load(); f != nil {
		f.SetMode(site, m.String())
	}
	p.detector.SetMode(site, m)
}

// byHand reports whether a tech set site's mode on or off through any proxy: then that
// holds, and the proxies' own verdicts neither count nor are published.
func byHand(f *fleet.Fleet, site string) bool {
	m := f.Mode(site)
	return m == protect.ModeOn.String() || m == protect.ModeOff.String()
}

// publishSwitch tells the fleet this proxy's detector switched site on or off by its own
// signals.
func (p *protection) publishSwitch(site string, on bool) {
	if f := p.fleet.Load(); f != nil && !byHand(f, site) {
		f.SetAttack(site, on)
	}
}

// QuarantinedUntil says until when host is quarantined, here or by any proxy
// (verdict.SiteView).
func (p *protection) QuarantinedUntil(host string, t time.Time) (time.Time, bool) {
	until, ok := p.quarantine.Until(host, t)
	if f := p.fleet.Load(); f != nil {
		if fu, fok := f.QuarantinedUntil(host, t); fok && fu.After(until) {
			return fu, true
		}
	}
	return until, ok
}

// UnderAttack says whether site is under attack now, by this proxy's signals or any other's
// (verdict.SiteView).
func (p *protection) UnderAttack(site string) bool {
	if p.detector.Active(site) {
		return true
	}
	f := p.fleet.Load()
	return f != nil && f.UnderAttack(site, time.Now()) && !byHand(f, site)
}

// fleetPassKey returns the pass key shared by the proxies of f's Redis, when the config
// names no keys; nil without Redis or when Redis does not answer within a second (then this
// proxy signs with its own key until a reload finds Redis, and says so).
func fleetPassKey(f *fleet.Fleet, c ChallengeConfig, log *zap.Logger) []byte {
	if f == nil || len(c.Keys) > 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	k, err := f.SharedSecret(ctx, "pass-key")
	if err != nil {
		log.Warn("pass key not shared with the other proxies (Redis did not answer): passes earned here are valid here only until a reload finds Redis; set challenge keys to avoid this",
			zap.Error(err))
		return nil
	}
	return k
}
