package protect

import (
	"slices"
	"strings"
	"time"
)

// Tracked reports whether the detector holds state for site: it has seen the site's traffic
// recently, or the site's mode was set by hand.
func (d *Detector) Tracked(site string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	_, ok := d.sites[site]
	return ok
}

// ActiveSince returns the sites in under-attack mode and since when each is on, sorted.
func (d *Detector) ActiveSince() []SiteOn {
	d.mu.RLock()
	var out []SiteOn
	for name, s := range d.sites {
		if s.active.Load() {
			out = append(out, SiteOn{Site: name, Since: s.onSince, ByHand: s.mode != ModeAuto})
		}
	}
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b SiteOn) int { return strings.Compare(a.Site, b.Site) })
	return out
}

// SiteOn is a site in under-attack mode.
type SiteOn struct {
	Site  string    `json:"site"`
	Since time.Time `json:"since"`
	// ByHand is true when the mode was set by hand (admin API or the site's under_attack).
	ByHand bool `json:"by_hand"`
}
