package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
)

// ClosedWorker is one closed-loop client of the flood: it sends its next request as soon as
// the previous answer came back, refusal or not, as scrapers that retry at once do. Its
// requests come from its own random stream, so the same seed gives the same requests in the
// same order (what the answers are, and so how many it sends, depends on the proxy).
type ClosedWorker struct {
	// Class is the population.
	Class Class
	// Index numbers the worker within all the closed-loop workers.
	Index int
	rng   *rand.Rand
	sc    *Scenario
	// pool is the worker's address pool (AI crawlers: their crawler's cloud addresses;
	// POST burst: the botnet's); nil for stealth scrapers, who take a fresh address each time.
	pool []netip.Addr
	ua   string
}

// ClosedWorkers returns the closed-loop workers of s, in a fixed order: AI crawlers, then
// stealth scrapers, then the POST burst. None when s's flood is open-loop.
func (s *Scenario) ClosedWorkers() []*ClosedWorker {
	if s.Closed.Total() == 0 {
		return nil
	}
	cloud, residential := NetworksOf(Cloud), NetworksOf(Residential)
	pools := crawlerPools(s.CrawlerIPs, cloud)
	botnet := make([]netip.Addr, s.PostBurstIPs)
	{
		r := rand.New(rand.NewPCG(s.Seed, 4))
		nets := append(append([]Network(nil), residential...), cloud...)
		for j := range botnet {
			botnet[j] = AddrAt(nets[r.IntN(len(nets))].Prefix, r.Uint32())
		}
	}
	var out []*ClosedWorker
	add := func(class Class, n int, pool func(k int) ([]netip.Addr, string)) {
		for k := range n {
			w := &ClosedWorker{Class: class, Index: len(out), sc: s, rng: rand.New(rand.NewPCG(s.Seed, 1000+uint64(len(out))))}
			w.pool, w.ua = pool(k)
			out = append(out, w)
		}
	}
	add(AICrawlers, s.Closed.AI, func(k int) ([]netip.Addr, string) {
		b := k % len(AICrawlerAgents)
		return pools[b], AICrawlerAgents[b].UserAgent
	})
	add(StealthScrapers, s.Closed.Stealth, func(int) ([]netip.Addr, string) { return nil, "" })
	add(PostBurst, s.Closed.Post, func(int) ([]netip.Addr, string) { return botnet, "" })
	return out
}

// crawlerPools returns each AI crawler's addresses: n of them over 32 /24s of one cloud
// network.
func crawlerPools(n int, cloud []Network) [][]netip.Addr {
	pools := make([][]netip.Addr, len(AICrawlerAgents))
	for b := range AICrawlerAgents {
		p := cloud[b%len(cloud)].Prefix
		for j := 0; j < n; j++ {
			pools[b] = append(pools[b], AddrAt(p, uint32(b*40+j%32)*256+uint32(1+j/32)))
		}
	}
	return pools
}

// Next returns the worker's next request (its At is zero: a closed-loop request is sent when
// the previous one is answered).
func (w *ClosedWorker) Next() Request {
	r, s := w.rng, w.sc
	switch w.Class {
	case AICrawlers:
		return Request{Class: AICrawlers, Site: r.IntN(s.AttackedSites), Method: "GET",
			Path: fmt.Sprintf("/article/%d", r.IntN(100000)), IP: w.pool[r.IntN(len(w.pool))], UA: w.ua}
	case PostBurst:
		return Request{Class: PostBurst, Site: 0, Method: "POST", Path: "/wp-login.php",
			IP: w.pool[r.IntN(len(w.pool))], UA: BrowserUserAgents[r.IntN(len(BrowserUserAgents))]}
	default:
		residential := NetworksOf(Residential)
		return Request{Class: StealthScrapers, Site: r.IntN(s.AttackedSites), Method: "GET",
			Path: fmt.Sprintf("/article/%d?page=%d", r.IntN(100000), 1+r.IntN(20)),
			IP:   AddrAt(residential[r.IntN(len(residential))].Prefix, r.Uint32()), UA: CurrentBrowserUserAgents[r.IntN(len(CurrentBrowserUserAgents))]}
	}
}

// RunClosedLoop runs workers until ctx ends or limit requests were sent in all: each worker
// takes its next request, reserves one of the limit, sends it with send and records the
// sample, then goes again at once. It never sends more than limit requests, whatever the
// number of workers, and returns when every worker has stopped.
func RunClosedLoop(ctx context.Context, workers []*ClosedWorker, limit int64, send func(w *ClosedWorker, q Request) Sample, record func(Sample)) int64 {
	var sent atomic.Int64
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if sent.Add(1) > limit {
					sent.Add(-1)
					return
				}
				record(send(w, w.Next()))
			}
		}()
	}
	wg.Wait()
	return sent.Load()
}
