package protect

// Tracked reports whether the detector holds state for site: it has seen the site's traffic
// recently, or the site's mode was set by hand.
func (d *Detector) Tracked(site string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	_, ok := d.sites[site]
	return ok
}
