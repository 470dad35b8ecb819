package hoststatus

import (
	"time"

	"github.com/floodgate-proxy/floodgate/internal/protect"
)

// Status is the answer of the admin endpoint GET /floodgate/status: the host now.
type Status struct {
	Now         time.Time        `json:"now"`
	UnderAttack []protect.SiteOn `json:"under_attack"`
	Quarantined []protect.Entry  `json:"quarantined"`
	// PerSecond holds requests per second over the last minute, by class and by action.
	PerSecond struct {
		Window   string             `json:"window"`
		ByClass  map[string]float64 `json:"by_class"`
		ByAction map[string]float64 `json:"by_action"`
	} `json:"per_second"`
	Store struct {
		// Shared is true for a Redis store; Healthy is false while it is unreachable.
		Shared  bool `json:"shared"`
		Healthy bool `json:"healthy"`
	} `json:"store"`
}
