// Package hoststatus keeps what `floodgate status` shows of the host now that no other part
// keeps: the requests of the last minute by class and by action.
package hoststatus

import (
	"sync"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// Window is how far back Rates looks.
const Window = time.Minute

const slots = int(Window/time.Second) + 1

// Rates counts requests per second by class and by action over the last minute. Add is
// cheap (one lock, no allocation once a class has been seen in its slot); it is safe for
// concurrent use.
type Rates struct {
	mu    sync.Mutex
	slots [slots]slot
}

type slot struct {
	sec      int64
	byClass  map[string]int64
	byAction [rules.ActionBlock + 1]int64
}

// Add counts one request of class that got action, at t.
func (r *Rates) Add(t time.Time, class string, action rules.Action) {
	sec := t.Unix()
	r.mu.Lock()
	s := &r.slots[sec%int64(slots)]
	if s.sec != sec {
		s.sec = sec
		s.byAction = [rules.ActionBlock + 1]int64{}
		clear(s.byClass)
	}
	if s.byClass == nil {
		s.byClass = map[string]int64{}
	}
	s.byClass[class]++
	if action >= 0 && int(action) < len(s.byAction) {
		s.byAction[action]++
	}
	r.mu.Unlock()
}

// LastMinute returns the requests per second by class and by action over the full seconds
// of the last minute before now.
func (r *Rates) LastMinute(now time.Time) (byClass, byAction map[string]float64) {
	byClass, byAction = map[string]float64{}, map[string]float64{}
	end := now.Unix() // the current second is not over: not counted
	start := end - int64(Window/time.Second)
	r.mu.Lock()
	for i := range r.slots {
		s := &r.slots[i]
		if s.sec < start || s.sec >= end {
			continue
		}
		for c, n := range s.byClass {
			byClass[c] += float64(n)
		}
		for a, n := range s.byAction {
			if n > 0 {
				byAction[rules.Action(a).String()] += float64(n)
			}
		}
	}
	r.mu.Unlock()
	secs := Window.Seconds()
	for k := range byClass {
		byClass[k] /= secs
	}
	for k := range byAction {
		byAction[k] /= secs
	}
	return byClass, byAction
}
