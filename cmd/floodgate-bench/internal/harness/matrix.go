package harness

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Load kinds of a matrix cell.
const (
	// OpenLoop floods send on a schedule, whatever the answers.
	OpenLoop = "open"
	// ClosedLoop floods are workers that send again as soon as an answer comes back.
	ClosedLoopLoad = "closed"
	// NoFlood is the flash crowd: new real visitors, no attack.
	NoFlood = "none"
)

// Mix names of a matrix cell.
const (
	MixAI      = "ai"
	MixStealth = "stealth"
	MixPost    = "post"
	MixAll     = "all"
	MixCrowd   = "flash-crowd"
)

// Cell is one scenario of the matrix: a backend, a flood (or a flash crowd), how it is
// sent, and how many proxies share the work.
type Cell struct {
	// Name identifies the cell (-cells NAME,...).
	Name string `json:"name"`
	// Workers and Page size the backend: Workers PHP-like workers, Page of worker time per
	// page (a static file: 1 ms).
	Workers int `json:"workers"`
	// Page is the worker time of one page.
	Page time.Duration `json:"page_ns"`
	// Load is OpenLoop, ClosedLoopLoad or NoFlood.
	Load string `json:"load"`
	// Factor is the flood's size: open loop, its rate as a multiple of the backend's
	// capacity; closed loop, its workers as a multiple of the backend's workers; flash
	// crowd, the crowd's demand as a multiple of capacity.
	Factor float64 `json:"factor"`
	// Mix is the flood's populations: MixAI, MixStealth, MixPost, MixAll or MixCrowd.
	Mix string `json:"mix"`
	// Closed is the closed-loop workers per population (Load == ClosedLoopLoad).
	Closed ClosedLoop `json:"closed_loop,omitzero"`
	// People is how many regulars browse the whole run (returning visitors in the flood);
	// 0: sized to about a tenth of the backend's capacity.
	People int `json:"people"`
	// Proxies is how many proxies share the traffic (2: they share one Redis).
	Proxies int `json:"proxies"`
	// Why says what the cell stands for.
	Why string `json:"why"`
}

// MatrixCells is the covering set of scenarios: every backend size (4, 8, 32 workers),
// page cost (20–200 ms), flood size (3×, 10×, 30×), mix (AI crawlers, stealth scrapers, a
// POST burst, all together), load kind (open and closed loop) appears at least once, with
// the flood of issue 11's table, a flash crowd and two proxies sharing one Redis; not the
// cross product.
func MatrixCells() []Cell {
	ms := time.Millisecond
	return []Cell{
		{Name: "issue11", Workers: 8, Page: 50 * ms, Load: ClosedLoopLoad, Factor: 26, Mix: MixAll, Closed: ClosedLoop{AI: 96, Stealth: 96, Post: 16}, People: 24, Proxies: 1,
			Why: "issue 11's table: 8 workers × 50 ms, 96 AI-crawler + 96 stealth workers and a POST burst retrying as fast as refusals return, Googlebot, 24 people"},
		{Name: "ai-open-10x-8w50", Workers: 8, Page: 50 * ms, Load: OpenLoop, Factor: 10, Mix: MixAI, Proxies: 1, Why: "AI crawlers only, on schedule"},
		{Name: "stealth-open-10x-8w50", Workers: 8, Page: 50 * ms, Load: OpenLoop, Factor: 10, Mix: MixStealth, Proxies: 1, Why: "a residential botnet only: browser User-Agents, one request per address"},
		{Name: "post-open-10x-8w50", Workers: 8, Page: 50 * ms, Load: OpenLoop, Factor: 10, Mix: MixPost, Proxies: 1, Why: "a POST burst on one site only (a compromised site)"},
		{Name: "all-open-10x-8w50", Workers: 8, Page: 50 * ms, Load: OpenLoop, Factor: 10, Mix: MixAll, Proxies: 1, Why: "the attack scenario of issue 6, shorter"},
		{Name: "all-open-3x-32w200", Workers: 32, Page: 200 * ms, Load: OpenLoop, Factor: 3, Mix: MixAll, Proxies: 1, Why: "a big slow backend, a small flood"},
		{Name: "all-open-30x-4w200", Workers: 4, Page: 200 * ms, Load: OpenLoop, Factor: 30, Mix: MixAll, Proxies: 1, Why: "a tiny slow backend, a huge flood"},
		{Name: "stealth-closed-30x-4w20", Workers: 4, Page: 20 * ms, Load: ClosedLoopLoad, Factor: 30, Mix: MixStealth, Closed: ClosedLoop{Stealth: 120}, Proxies: 1, Why: "a tiny fast backend, a residential botnet retrying at once"},
		{Name: "ai-closed-3x-32w100", Workers: 32, Page: 100 * ms, Load: ClosedLoopLoad, Factor: 3, Mix: MixAI, Closed: ClosedLoop{AI: 96}, Proxies: 1, Why: "a big backend, AI crawlers retrying at once"},
		{Name: "post-closed-10x-4w200", Workers: 4, Page: 200 * ms, Load: ClosedLoopLoad, Factor: 10, Mix: MixPost, Closed: ClosedLoop{Post: 40}, Proxies: 1, Why: "a tiny slow backend, a POST burst retrying at once"},
		{Name: "flash-3x-8w50", Workers: 8, Page: 50 * ms, Load: NoFlood, Factor: 3, Mix: MixCrowd, Proxies: 1, Why: "no flood: new real visitors on one site, 3× what the backend serves"},
		{Name: "flash-2x-4w200", Workers: 4, Page: 200 * ms, Load: NoFlood, Factor: 2, Mix: MixCrowd, Proxies: 1, Why: "no flood: a flash crowd on a tiny slow backend"},
		{Name: "redis2-open-10x-8w50", Workers: 8, Page: 50 * ms, Load: OpenLoop, Factor: 10, Mix: MixAll, Proxies: 2, Why: "two proxies sharing one Redis, humans and flood split between them"},
	}
}

// QuickCells are the cells of -quick: one of each kind.
var QuickCells = []string{"issue11", "ai-open-10x-8w50", "flash-3x-8w50", "redis2-open-10x-8w50"}

// SelectCells returns the cells named in names (all of them for none), or an error naming
// the unknown ones.
func SelectCells(all []Cell, names []string) ([]Cell, error) {
	if len(names) == 0 {
		return all, nil
	}
	byName := map[string]Cell{}
	var known []string
	for _, c := range all {
		byName[c.Name] = c
		known = append(known, c.Name)
	}
	var out []Cell
	var unknown []string
	for _, n := range names {
		c, ok := byName[n]
		if !ok {
			unknown = append(unknown, n)
			continue
		}
		out = append(out, c)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown cells %s; the matrix has %s", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return out, nil
}

// Flash says whether the cell is a flash crowd (no flood).
func (c Cell) Flash() bool { return c.Load == NoFlood }

// Backend is the cell's backend pool: like PHP-FPM, workers behind a queue where a request
// waits at most 500 ms (issue 11's backend), then gets 504.
func (c Cell) Backend() PoolConfig {
	return PoolConfig{Workers: c.Workers, Queue: 512, QueueTimeout: 500 * time.Millisecond, DynamicCost: c.Page, StaticCost: time.Millisecond}
}

// Scenario returns the cell's traffic with the given seed and phase lengths.
func (c Cell) Scenario(seed uint64, calm, flood time.Duration) Scenario {
	s := DefaultScenario()
	s.Seed, s.Calm, s.Flood, s.Pool = seed, calm, flood, c.Backend()
	s.HumanLoad = 0.1
	s.People = c.People
	if s.People == 0 {
		// Regulars use about a tenth of the backend: a page every ~2.2 s each.
		per := 0.45 * (c.Page + 2*s.Pool.StaticCost).Seconds()
		s.People = max(8, int(math.Round(0.1*float64(c.Workers)/per)))
	}
	switch c.Mix {
	case MixAI:
		s.Mix = Mix{AI: 1}
	case MixStealth:
		s.Mix = Mix{Stealth: 1}
	case MixPost:
		s.Mix = Mix{Post: 1}
		s.AttackedSites = 1 // the burst hits site 0 alone
	}
	switch c.Load {
	case OpenLoop:
		s.FloodFactor = c.Factor
	case ClosedLoopLoad:
		s.FloodFactor = 0
		s.Closed = c.Closed
		if c.Closed.AI+c.Closed.Stealth == 0 {
			s.AttackedSites = 1
		}
	case NoFlood:
		s.FloodFactor = 0
		s.FlashCrowd, s.FlashSite, s.AttackedSites = c.Factor, 0, 1
	}
	return s
}

// LoadLabel describes the cell's load in a few words.
func (c Cell) LoadLabel() string {
	switch c.Load {
	case ClosedLoopLoad:
		return fmt.Sprintf("closed, %d workers (%g× backend)", c.Closed.Total(), c.Factor)
	case NoFlood:
		return fmt.Sprintf("flash crowd %g× capacity", c.Factor)
	default:
		return fmt.Sprintf("open, %g× capacity", c.Factor)
	}
}

// Coverage returns, per dimension, the values the cells cover, sorted.
func Coverage(cells []Cell) map[string][]string {
	set := map[string]map[string]bool{}
	add := func(dim, v string) {
		if set[dim] == nil {
			set[dim] = map[string]bool{}
		}
		set[dim][v] = true
	}
	for _, c := range cells {
		add("workers", fmt.Sprint(c.Workers))
		add("page", c.Page.String())
		add("load", c.Load)
		add("mix", c.Mix)
		add("proxies", fmt.Sprint(c.Proxies))
		if !c.Flash() {
			add("factor", fmt.Sprint(c.Factor))
		}
	}
	out := map[string][]string{}
	for dim, vs := range set {
		for v := range vs {
			out[dim] = append(out[dim], v)
		}
		sort.Strings(out[dim])
	}
	return out
}

// Targets of issue 11, for shipped defaults.
const (
	// TargetPeopleOK is the least share of people's requests served in a flood.
	TargetPeopleOK = 0.995
	// TargetP95 is the most people's flood p95 may be, as a multiple of their calm p95.
	TargetP95 = 1.5
	// TargetQuietP95 is the same for the sites not attacked.
	TargetQuietP95 = 1.2
	// TargetCalmP95 is the most floodgate's calm p95 may be, as a multiple of plain Caddy's
	// in the same cell: on a calm day nobody waits for floodgate. Without it a broken calm
	// passes the flood checks, which compare the flood with that calm (session 5: a calm p95
	// of 1,070 ms against plain Caddy's 203 counted as met).
	TargetCalmP95 = 1.2
	// TargetFlashBusy is the least share of the backend's capacity a flash crowd uses.
	TargetFlashBusy = 0.95
	// TargetReturningOK is the least share of returning visitors' requests served in a
	// flash crowd.
	TargetReturningOK = 0.995
)

// Check is one target checked on one arm of a cell.
type Check struct {
	// Target says what is checked.
	Target string `json:"target"`
	// Got is the measured value, Want the bound.
	Got float64 `json:"got"`
	// Want is the bound.
	Want float64 `json:"want"`
	// OK says whether Got meets Want.
	OK bool `json:"ok"`
}

// CheckArm returns issue 11's targets checked on one arm of a cell: in a flood, people's
// success and p95 against calm, and the sites not attacked p95 against their calm; in a
// flash crowd, the backend's capacity used and returning visitors' success.
func CheckArm(c Cell, a *ArmReport) []Check {
	if c.Flash() {
		return []Check{
			{Target: "backend capacity used", Got: a.BackendBusy, Want: TargetFlashBusy, OK: a.BackendBusy >= TargetFlashBusy},
			{Target: "returning visitors served", Got: a.ReturningFlood.SuccessRate, Want: TargetReturningOK, OK: a.ReturningFlood.Requests > 0 && a.ReturningFlood.SuccessRate >= TargetReturningOK},
		}
	}
	p95 := ratio(a.HumansFlood.Latency.P95, a.HumansCalm.Latency.P95)
	quiet := ratio(a.QuietSitesFlood.Latency.P95, a.QuietSitesCalm.Latency.P95)
	return []Check{
		{Target: "people served", Got: a.HumansFlood.SuccessRate, Want: TargetPeopleOK, OK: a.HumansFlood.Requests > 0 && a.HumansFlood.SuccessRate >= TargetPeopleOK},
		{Target: "people p95 / calm", Got: round2(p95), Want: TargetP95, OK: p95 > 0 && p95 <= TargetP95},
		{Target: "sites not attacked p95 / calm", Got: round2(quiet), Want: TargetQuietP95, OK: quiet > 0 && quiet <= TargetQuietP95},
	}
}

// CheckCalm checks floodgate's calm p95 against plain Caddy's calm p95 in the same cell.
func CheckCalm(plain, fg *ArmReport) Check {
	r := ratio(fg.HumansCalm.Latency.P95, plain.HumansCalm.Latency.P95)
	return Check{Target: "calm p95 / plain Caddy's", Got: round2(r), Want: TargetCalmP95, OK: r > 0 && r <= TargetCalmP95}
}

// allOK says whether every check holds.
func allOK(cs []Check) bool {
	for _, c := range cs {
		if !c.OK {
			return false
		}
	}
	return len(cs) > 0
}
