package harness

import (
	"bufio"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/rules"
)

func smallScenario() Scenario {
	s := DefaultScenario()
	s.Calm, s.Flood = 10*time.Second, 20*time.Second
	return s
}

func TestBuildIsDeterministic(t *testing.T) {
	a, err := smallScenario().Build()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := smallScenario().Build()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same scenario built two different schedules")
	}
	other := smallScenario()
	other.Seed = 2
	c, _ := other.Build()
	if reflect.DeepEqual(a.Requests, c.Requests) {
		t.Fatal("seeds 1 and 2 built the same schedule")
	}
}

func TestBuildPopulations(t *testing.T) {
	sc := smallScenario()
	sched, err := sc.Build()
	if err != nil {
		t.Fatal(err)
	}
	in := func(kind NetworkKind, a netip.Addr) bool {
		for _, n := range NetworksOf(kind) {
			if n.Prefix.Contains(a) {
				return true
			}
		}
		return false
	}
	count := map[Class]int{}
	stealthIPs, crawlerIPs := map[netip.Addr]bool{}, map[netip.Addr]bool{}
	for i, q := range sched.Requests {
		if i > 0 && q.At < sched.Requests[i-1].At {
			t.Fatalf("requests not in time order at %d", i)
		}
		count[q.Class]++
		if q.At < 0 || q.At >= sc.Duration() {
			t.Errorf("%s request at %v, outside the run", q.Class, q.At)
		}
		if q.Class != SearchEngine && q.At < sc.Calm {
			t.Errorf("%s request in the calm phase at %v", q.Class, q.At)
		}
		switch q.Class {
		case AICrawlers:
			if !in(Cloud, q.IP) || !sc.SiteAttacked(q.Site) || !strings.Contains(q.UA, "compatible") {
				t.Errorf("AI crawler request %+v: want a cloud address, an attacked site and a crawler UA", q)
			}
			crawlerIPs[q.IP] = true
		case StealthScrapers:
			if !in(Residential, q.IP) || !sc.SiteAttacked(q.Site) || !strings.HasPrefix(q.UA, "Mozilla/5.0 (") {
				t.Errorf("stealth request %+v: want a residential address, an attacked site and a browser UA", q)
			}
			stealthIPs[q.IP] = true
		case PostBurst:
			if q.Site != 0 || q.Method != "POST" {
				t.Errorf("POST burst request %+v: want POST on site 0", q)
			}
		case SearchEngine:
			if q.UA != GooglebotUserAgent || !in(Search, q.IP) {
				t.Errorf("search request %+v: want Googlebot from Google's network", q)
			}
		}
	}
	if n := count[StealthScrapers]; n == 0 || float64(len(stealthIPs)) < 0.95*float64(n) {
		t.Errorf("stealth scrapers: %d requests from %d addresses, want about one request per address", n, len(stealthIPs))
	}
	if len(crawlerIPs) < 3*sc.CrawlerIPs/2 {
		t.Errorf("AI crawlers used %d addresses, want many (close to %d)", len(crawlerIPs), 3*sc.CrawlerIPs)
	}
	// Poisson arrivals: the flood's count is within 5% of rate × time for this seed.
	flood := count[AICrawlers] + count[StealthScrapers] + count[PostBurst]
	want := sc.FloodFactor * sc.Pool.Capacity() * sc.Flood.Seconds()
	if float64(flood) < 0.95*want || float64(flood) > 1.05*want {
		t.Errorf("flood requests = %d, want about %.0f (%.0f× capacity for %v)", flood, want, sc.FloodFactor, sc.Flood)
	}
	// Humans use about HumanLoad of the worker time.
	var work time.Duration
	for _, s := range sched.Sessions {
		if len(s.Pages) == 0 || s.Pages[0].Path != "/" || len(s.Pages[0].Assets) != len(PageAssets) {
			t.Fatalf("session %+v: want a first page / with all its assets", s)
		}
		if !in(Residential, s.IP) {
			t.Errorf("human from %v, want a residential address", s.IP)
		}
		for _, p := range s.Pages {
			work += sc.pageWorkerTime(len(p.Assets))
		}
	}
	load := work.Seconds() / (float64(sc.Pool.Workers) * sc.Duration().Seconds())
	if load < 0.7*sc.HumanLoad || load > 1.3*sc.HumanLoad {
		t.Errorf("humans' scheduled worker load = %.3f, want about %.2f", load, sc.HumanLoad)
	}
}

// The Googlebot addresses must stay inside the shipped googlebot ranges, or the verified
// search engine of the scenario turns into an impostor.
func TestGooglebotAddrsInShippedRanges(t *testing.T) {
	f, err := rulefiles.FS.Open("ranges/googlebot/ipv4_merged.txt")
	if err != nil {
		t.Fatalf("shipped googlebot ranges: %v", err)
	}
	defer f.Close()
	var ranges []netip.Prefix
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, err := netip.ParsePrefix(strings.TrimSpace(sc.Text())); err == nil {
			ranges = append(ranges, p)
		}
	}
	for _, a := range GooglebotAddrs {
		ok := false
		for _, p := range ranges {
			ok = ok || p.Contains(a)
		}
		if !ok {
			t.Errorf("%v is not inside rules/ranges/googlebot/ipv4_merged.txt", a)
		}
	}
}

func TestScenarioValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Scenario)
		want string
	}{
		{"default", func(*Scenario) {}, ""},
		{"one site", func(s *Scenario) { s.Sites = 1 }, "sites: 1"},
		{"all attacked", func(s *Scenario) { s.AttackedSites = s.Sites }, "attacked sites"},
		{"no flood", func(s *Scenario) { s.Flood = 0 }, "phases"},
		{"bad mix", func(s *Scenario) { s.Mix.Post = 0.5 }, "adding up to 1"},
		{"no humans", func(s *Scenario) { s.HumanLoad = 0 }, "human load"},
		{"bad pool", func(s *Scenario) { s.Pool.Workers = 0 }, "workers"},
		{"too big", func(s *Scenario) { s.FloodFactor = 1000; s.Flood = time.Hour - s.Calm }, "at most 5,000,000"},
	}
	for _, tt := range tests {
		s := DefaultScenario()
		tt.mod(&s)
		err := s.Validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
		if tt.want != "" {
			if _, err := s.Build(); err == nil {
				t.Errorf("%s: Build accepted an invalid scenario", tt.name)
			}
		}
	}
}

func TestAddrAt(t *testing.T) {
	p := netip.MustParsePrefix("90.0.0.0/9")
	tests := []struct {
		off  uint32
		want string
	}{
		{0, "90.0.0.1"},       // network address moved inside
		{255, "90.0.0.254"},   // broadcast of the /24 moved inside
		{256 + 7, "90.0.1.7"}, // plain offset
		{1 << 23, "90.0.0.1"}, // wraps around the /9
		{(1 << 23) - 2, "90.127.255.254"},
	}
	for _, tt := range tests {
		got := AddrAt(p, tt.off)
		if got.String() != tt.want || !p.Contains(got) {
			t.Errorf("AddrAt(%v, %d) = %v, want %s inside the prefix", p, tt.off, got, tt.want)
		}
	}
}
