package protect

import "time"

// NewQuarantineAt is NewQuarantine on another clock than the system's: a replay of an old
// access log quarantines on the log's timestamps.
func NewQuarantineAt(maxSites int, clock func() time.Time) *Quarantine {
	q := NewQuarantine(maxSites)
	q.clock = clock
	return q
}

// clockNow is the quarantine's clock.
func (q *Quarantine) clockNow() time.Time {
	if q.clock != nil {
		return q.clock()
	}
	return now()
}
