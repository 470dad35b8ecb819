package harness

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"sort"
	"time"
)

// Class is a traffic population of the attack scenario.
type Class string

// The populations.
const (
	// Humans browse: sessions of a page plus its assets, think time, cookies kept.
	Humans Class = "human"
	// AICrawlers are named AI crawlers (GPTBot, ClaudeBot, Bytespider) from cloud networks.
	AICrawlers Class = "ai-crawler"
	// StealthScrapers send browser User-Agents from thousands of residential addresses,
	// about one request each.
	StealthScrapers Class = "stealth-scraper"
	// PostBurst is a POST flood (wp-login.php) on one member site, as on a compromised site.
	PostBurst Class = "post-burst"
	// SearchEngine is Googlebot from Google's published googlebot ranges.
	SearchEngine Class = "search-engine"
)

// Classes lists the populations in report order.
var Classes = []Class{Humans, AICrawlers, StealthScrapers, PostBurst, SearchEngine}

// Phase is a part of the run.
type Phase string

// The phases.
const (
	// Calm is the baseline: humans and the search engine only.
	Calm Phase = "calm"
	// Flood adds the attack populations.
	Flood Phase = "flood"
)

// PageAssets are the static files of a site's pages; a browser fetches them with the first
// page of a session and keeps them in its cache.
var PageAssets = []string{"/assets/site.css", "/assets/app.js", "/img/logo.png", "/img/hero.jpg", "/img/icons.svg", "/favicon.ico"}

// Mix says which share of the flood's requests each attack population sends.
type Mix struct {
	// AI is the share of AI crawlers.
	AI float64 `json:"ai_crawlers"`
	// Stealth is the share of stealth scrapers.
	Stealth float64 `json:"stealth_scrapers"`
	// Post is the share of the POST burst.
	Post float64 `json:"post_burst"`
}

// Scenario is everything that decides the traffic of an attack run; the same Scenario gives
// the same Schedule, so both arms see the same traffic.
type Scenario struct {
	// Seed drives every random choice.
	Seed uint64 `json:"seed"`
	// Sites is how many member sites the backend hosts (site00.example.org …).
	Sites int `json:"sites"`
	// AttackedSites is how many of them (the first ones) the flood targets; the others are
	// the "sites not under attack".
	AttackedSites int `json:"attacked_sites"`
	// Pool is the backend's capacity.
	Pool PoolConfig `json:"backend"`
	// Calm and Flood are the lengths of the two phases.
	Calm time.Duration `json:"calm_ns"`
	// Flood is the length of the flood phase.
	Flood time.Duration `json:"flood_ns"`
	// FloodFactor is the flood's request rate as a multiple of the backend's capacity in
	// dynamic requests per second.
	FloodFactor float64 `json:"flood_factor"`
	// Mix splits the flood between the attack populations.
	Mix Mix `json:"mix"`
	// HumanLoad is the share of the backend's worker time humans use (both phases).
	HumanLoad float64 `json:"human_load"`
	// PagesPerSession is the mean number of pages a human visits.
	PagesPerSession int `json:"pages_per_session"`
	// ThinkTime is the mean pause of a human between pages.
	ThinkTime time.Duration `json:"think_time_ns"`
	// SearchRate is Googlebot's requests per second (both phases).
	SearchRate float64 `json:"search_rate"`
	// CrawlerIPs is how many addresses each AI crawler uses.
	CrawlerIPs int `json:"crawler_ips"`
	// PostBurstIPs is how many addresses the POST burst comes from.
	PostBurstIPs int `json:"post_burst_ips"`
	// People is how many regulars browse the whole run, from the first seconds of the calm
	// phase to its end, keeping one cookie jar: in the flood they are returning visitors
	// (their jar holds what floodgate set in calm times). They browse every site, or only
	// FlashSite when there is a flash crowd. 0: none.
	People int `json:"people,omitempty"`
	// Closed makes the flood closed-loop: that many workers per population, each sending
	// its next request as soon as the previous answer (refusal or not) came back. When set,
	// FloodFactor and Mix do not apply (no open-loop flood).
	Closed ClosedLoop `json:"closed_loop,omitzero"`
	// FlashCrowd is a crowd of new visitors (sessions with empty cookie jars) on one site,
	// FlashSite, during the flood phase, sized to use FlashCrowd times the backend's
	// capacity. 0: none.
	FlashCrowd float64 `json:"flash_crowd,omitempty"`
	// FlashSite is the site of the flash crowd.
	FlashSite int `json:"flash_site,omitempty"`
}

// ClosedLoop is the number of closed-loop workers of each flood population.
type ClosedLoop struct {
	// AI workers are AI crawlers, each from its crawler's pool of cloud addresses.
	AI int `json:"ai_crawlers,omitempty"`
	// Stealth workers send browser User-Agents from a fresh residential address per request.
	Stealth int `json:"stealth_scrapers,omitempty"`
	// Post workers POST to site 0's login from the POST burst's addresses.
	Post int `json:"post_burst,omitempty"`
}

// Total is the number of closed-loop workers.
func (c ClosedLoop) Total() int { return c.AI + c.Stealth + c.Post }

// DefaultScenario is the attack scenario of `floodgate-bench -scenario attack`: sized for a
// small shared machine (2 cores), about one minute per arm.
func DefaultScenario() Scenario {
	return Scenario{
		Seed:          1,
		Sites:         40,
		AttackedSites: 8,
		Pool: PoolConfig{
			Workers:      8,
			Queue:        512, // PHP-FPM's default listen.backlog is 511
			QueueTimeout: 5 * time.Second,
			DynamicCost:  50 * time.Millisecond,
			StaticCost:   time.Millisecond,
		},
		Calm:            20 * time.Second,
		Flood:           40 * time.Second,
		FloodFactor:     10,
		Mix:             Mix{AI: 0.45, Stealth: 0.45, Post: 0.10},
		HumanLoad:       0.2,
		PagesPerSession: 4,
		ThinkTime:       2 * time.Second,
		SearchRate:      4,
		CrawlerIPs:      256,
		PostBurstIPs:    500,
	}
}

// Validate says what is wrong with s, if anything.
func (s Scenario) Validate() error {
	var errs []error
	if err := s.Pool.Validate(); err != nil {
		errs = append(errs, err)
	}
	if s.Sites < 2 || s.Sites > 1000 {
		errs = append(errs, fmt.Errorf("sites: %d, expected 2 to 1000", s.Sites))
	}
	if s.AttackedSites < 1 || s.AttackedSites >= s.Sites {
		errs = append(errs, fmt.Errorf("attacked sites: %d, expected 1 to sites-1 (%d)", s.AttackedSites, s.Sites-1))
	}
	if s.Calm <= 0 || s.Flood <= 0 || s.Calm+s.Flood > time.Hour {
		errs = append(errs, fmt.Errorf("phases: calm %v, flood %v, expected both positive and at most an hour together", s.Calm, s.Flood))
	}
	if s.FloodFactor < 0 || s.FloodFactor > 1000 {
		errs = append(errs, fmt.Errorf("flood factor: %v, expected 0 to 1000", s.FloodFactor))
	}
	if s.Mix.AI < 0 || s.Mix.Stealth < 0 || s.Mix.Post < 0 || math.Abs(s.Mix.AI+s.Mix.Stealth+s.Mix.Post-1) > 1e-6 {
		errs = append(errs, fmt.Errorf("mix: %+v, expected non-negative shares adding up to 1", s.Mix))
	}
	if s.HumanLoad <= 0 || s.HumanLoad > 1 {
		errs = append(errs, fmt.Errorf("human load: %v, expected more than 0 and at most 1", s.HumanLoad))
	}
	if s.PagesPerSession < 1 || s.PagesPerSession > 100 {
		errs = append(errs, fmt.Errorf("pages per session: %d, expected 1 to 100", s.PagesPerSession))
	}
	if s.ThinkTime < 0 {
		errs = append(errs, fmt.Errorf("think time: %v, expected 0 or more", s.ThinkTime))
	}
	if s.SearchRate < 0 || s.CrawlerIPs < 1 || s.PostBurstIPs < 1 {
		errs = append(errs, fmt.Errorf("search rate %v, crawler IPs %d, POST burst IPs %d: expected rate >= 0 and at least one address each", s.SearchRate, s.CrawlerIPs, s.PostBurstIPs))
	}
	if s.People < 0 || s.People > 1000 {
		errs = append(errs, fmt.Errorf("people: %d, expected 0 to 1000", s.People))
	}
	if c := s.Closed; c.AI < 0 || c.Stealth < 0 || c.Post < 0 || c.Total() > 2000 {
		errs = append(errs, fmt.Errorf("closed-loop workers: %+v, expected none negative and at most 2000 in all", c))
	}
	if s.FlashCrowd < 0 || s.FlashCrowd > 20 || s.FlashSite < 0 || s.FlashSite >= max(s.Sites, 1) {
		errs = append(errs, fmt.Errorf("flash crowd: %v× capacity on site %d, expected 0 to 20 on a site of the backend", s.FlashCrowd, s.FlashSite))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if n := s.expectedRequests(); n > 5_000_000 {
		return fmt.Errorf("scenario would send about %d requests, expected at most 5,000,000 (shorten the phases or lower the flood factor)", n)
	}
	return nil
}

// Duration is the length of the whole run.
func (s Scenario) Duration() time.Duration { return s.Calm + s.Flood }

// PhaseAt returns the phase at offset t from the start.
func (s Scenario) PhaseAt(t time.Duration) Phase {
	if t < s.Calm {
		return Calm
	}
	return Flood
}

// Host returns the Host of site i.
func Host(i int) string { return fmt.Sprintf("site%02d.example.org", i) }

// SiteAttacked says whether site i is one the flood targets.
func (s Scenario) SiteAttacked(i int) bool { return i < s.AttackedSites }

// Request is one request of an open-loop population (it is sent at At whatever happened
// to the previous ones).
type Request struct {
	// At is the offset from the start of the run.
	At time.Duration
	// Class is the population.
	Class Class
	// Site is the site index (Host(Site)).
	Site int
	// Method is GET or POST.
	Method string
	// Path is the path and query.
	Path string
	// IP is the client address sent in X-Forwarded-For.
	IP netip.Addr
	// UA is the User-Agent.
	UA string
}

// PageVisit is one page of a human session.
type PageVisit struct {
	// Path is the page.
	Path string
	// Assets are the static files fetched after the page (those not cached yet).
	Assets []string
	// Think is the pause after the page.
	Think time.Duration
}

// Session is one human's visit: pages of one site, in order, from one address and browser,
// with one cookie jar.
type Session struct {
	// At is when the session starts, from the start of the run.
	At time.Duration
	// Site is the site index.
	Site int
	// IP and UA identify the human.
	IP netip.Addr
	// UA is the browser's User-Agent.
	UA string
	// Pages are visited in order.
	Pages []PageVisit
	// Regular marks a regular: a person who browses the site habitually, from the first
	// seconds of the calm phase to the end of the run, with one cookie jar.
	Regular bool
}

// Schedule is the traffic of one run.
type Schedule struct {
	// Sessions are the human sessions, by start time.
	Sessions []Session
	// Requests are the open-loop requests, by time.
	Requests []Request
}

// pageWorkerTime is the backend worker time of one human page visit with n assets.
func (s Scenario) pageWorkerTime(n int) time.Duration {
	return s.Pool.DynamicCost + time.Duration(n)*s.Pool.StaticCost
}

// sessionRate is how many human sessions start per second so that humans use HumanLoad of
// the backend's worker time.
func (s Scenario) sessionRate() float64 {
	p := s.PagesPerSession
	// first page: all assets; later pages: two new images each.
	per := s.pageWorkerTime(len(PageAssets)).Seconds() + float64(p-1)*s.pageWorkerTime(2).Seconds()
	return s.HumanLoad * float64(s.Pool.Workers) / per
}

func (s Scenario) expectedRequests() int {
	humans := s.sessionRate() * s.Duration().Seconds() * float64(s.PagesPerSession*3+len(PageAssets))
	flood := s.openFloodRate() * s.Flood.Seconds()
	crowd := s.FlashCrowd * s.sessionRate() / s.HumanLoad * s.Flood.Seconds() * float64(s.PagesPerSession*3+len(PageAssets))
	return int(humans + flood + crowd + s.SearchRate*s.Duration().Seconds())
}

// openFloodRate is the open-loop flood's request rate: none when the flood is closed-loop.
func (s Scenario) openFloodRate() float64 {
	if s.Closed.Total() > 0 {
		return 0
	}
	return s.FloodFactor * s.Pool.Capacity()
}

// Build returns the schedule of s. It is a pure function of s.
func (s Scenario) Build() (*Schedule, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	gbot := GooglebotAddrs
	sched := &Schedule{}
	residential, cloud := NetworksOf(Residential), NetworksOf(Cloud)
	rng := func(salt uint64) *rand.Rand { return rand.New(rand.NewPCG(s.Seed, salt)) }
	randAddr := func(r *rand.Rand, nets []Network) netip.Addr {
		return AddrAt(nets[r.IntN(len(nets))].Prefix, r.Uint32())
	}
	total := s.Duration()
	floodRate := s.openFloodRate()

	// Humans: Poisson session arrivals over the whole run, sites uniform.
	{
		r := rng(1)
		for _, at := range arrivals(r, s.sessionRate(), 0, total) {
			n := 1 + r.IntN(2*s.PagesPerSession-1) // mean PagesPerSession
			sched.Sessions = append(sched.Sessions, s.session(r, at, r.IntN(s.Sites), n, residential))
		}
	}

	// Regulars: browse from the first seconds of the calm phase to the end of the run.
	{
		r := rng(6)
		pages := min(500, 2+int(2*total.Seconds()/max(s.ThinkTime.Seconds(), 0.05)))
		for range s.People {
			at := time.Duration(r.Float64() * float64(min(s.Calm/4, 2*time.Second)))
			site := r.IntN(s.Sites)
			if s.FlashCrowd > 0 {
				site = s.FlashSite
			}
			sess := s.session(r, at, site, pages, residential)
			sess.Regular = true
			sched.Sessions = append(sched.Sessions, sess)
		}
	}

	// Flash crowd: new visitors on one site during the flood phase.
	if s.FlashCrowd > 0 {
		r := rng(7)
		for _, at := range arrivals(r, s.FlashCrowd*s.sessionRate()/s.HumanLoad, s.Calm, total) {
			n := 1 + r.IntN(2*s.PagesPerSession-1)
			sched.Sessions = append(sched.Sessions, s.session(r, at, s.FlashSite, n, residential))
		}
	}
	sort.SliceStable(sched.Sessions, func(i, j int) bool { return sched.Sessions[i].At < sched.Sessions[j].At })

	// AI crawlers: each from its own pool of cloud addresses, spread over 32 /24s.
	{
		r := rng(2)
		pools := crawlerPools(s.CrawlerIPs, cloud)
		for _, at := range arrivals(r, floodRate*s.Mix.AI, s.Calm, total) {
			b := r.IntN(len(AICrawlerAgents))
			sched.Requests = append(sched.Requests, Request{
				At: at, Class: AICrawlers, Site: r.IntN(s.AttackedSites), Method: "GET",
				Path: fmt.Sprintf("/article/%d", r.IntN(100000)),
				IP:   pools[b][r.IntN(len(pools[b]))], UA: AICrawlerAgents[b].UserAgent,
			})
		}
	}

	// Stealth scrapers: a fresh residential address for (nearly) every request.
	{
		r := rng(3)
		for _, at := range arrivals(r, floodRate*s.Mix.Stealth, s.Calm, total) {
			sched.Requests = append(sched.Requests, Request{
				At: at, Class: StealthScrapers, Site: r.IntN(s.AttackedSites), Method: "GET",
				Path: fmt.Sprintf("/article/%d?page=%d", r.IntN(100000), 1+r.IntN(20)),
				IP:   randAddr(r, residential), UA: CurrentBrowserUserAgents[r.IntN(len(CurrentBrowserUserAgents))],
			})
		}
	}

	// POST burst on site 0 from a botnet of residential and cloud addresses.
	{
		r := rng(4)
		nets := append(append([]Network(nil), residential...), cloud...)
		pool := make([]netip.Addr, s.PostBurstIPs)
		for j := range pool {
			pool[j] = randAddr(r, nets)
		}
		for _, at := range arrivals(r, floodRate*s.Mix.Post, s.Calm, total) {
			sched.Requests = append(sched.Requests, Request{
				At: at, Class: PostBurst, Site: 0, Method: "POST", Path: "/wp-login.php",
				IP: pool[r.IntN(len(pool))], UA: BrowserUserAgents[r.IntN(len(BrowserUserAgents))],
			})
		}
	}

	// Googlebot, verified: the whole run, every site.
	{
		r := rng(5)
		for _, at := range arrivals(r, s.SearchRate, 0, total) {
			sched.Requests = append(sched.Requests, Request{
				At: at, Class: SearchEngine, Site: r.IntN(s.Sites), Method: "GET",
				Path: fmt.Sprintf("/article/%d", r.IntN(100000)),
				IP:   gbot[r.IntN(len(gbot))], UA: GooglebotUserAgent,
			})
		}
	}
	sort.SliceStable(sched.Requests, func(i, j int) bool { return sched.Requests[i].At < sched.Requests[j].At })
	return sched, nil
}

// session returns a human session of n pages on site, starting at at.
func (s Scenario) session(r *rand.Rand, at time.Duration, site, n int, nets []Network) Session {
	sess := Session{At: at, Site: site, IP: AddrAt(nets[r.IntN(len(nets))].Prefix, r.Uint32()), UA: CurrentBrowserUserAgents[r.IntN(len(CurrentBrowserUserAgents))]}
	for k := 0; k < n; k++ {
		v := PageVisit{Path: "/"}
		if k == 0 {
			v.Assets = PageAssets
		} else {
			a := r.IntN(5000)
			v.Path = fmt.Sprintf("/article/%d", a)
			v.Assets = []string{fmt.Sprintf("/img/article-%d-1.jpg", a), fmt.Sprintf("/img/article-%d-2.jpg", a)}
		}
		if k < n-1 {
			v.Think = time.Duration(math.Min(r.ExpFloat64(), 4) * float64(s.ThinkTime))
		}
		sess.Pages = append(sess.Pages, v)
	}
	return sess
}

// arrivals returns Poisson arrival times at rate per second in [from, to).
func arrivals(r *rand.Rand, rate float64, from, to time.Duration) []time.Duration {
	if rate <= 0 || to <= from {
		return nil
	}
	var out []time.Duration
	t := from.Seconds()
	end := to.Seconds()
	for limit := 0; limit < 10_000_000; limit++ {
		t += r.ExpFloat64() / rate
		if t >= end {
			break
		}
		out = append(out, time.Duration(t*float64(time.Second)))
	}
	return out
}
