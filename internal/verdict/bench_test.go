package verdict

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/store"
)

// benchRules give both a GPTBot-like crawler and browsers two budgets, as the shipped rules
// do; the rates are high enough that the benchmark measures counting, not refusing.
const benchRules = `
rules:
  - name: GPTBot
    class: ai-crawler
    match: {user_agent: [GPTBot]}
    budgets:
      - {rate: 100000000/min, per: bot+host}
      - {rate: 100000000/min, per: bot}
  - name: Browser
    class: browser
    match: {user_agent_regex: ['^Mozilla/5\.0 \(']}
    budgets:
      - {rate: 100000000/min, per: ip}
      - {rate: 100000000/min, per: prefix}
`

const gptbotUA = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"

// BenchmarkDecide counts one request against two budgets in the memory store: the request is
// classified once before timing (as the handler's Result), and Decide runs b.N times over
// 256 clients, 64 sites. The memory store never blocks, so no deadline (StoreTimeout -1),
// except in browser-timeout.
func BenchmarkDecide(b *testing.B) {
	for _, bc := range []struct {
		name, ua string
		opt      Options
	}{
		{"gptbot", gptbotUA, Options{StoreTimeout: -1}},
		{"browser", firefox, Options{StoreTimeout: -1}},
		{"browser-timeout", firefox, Options{}}, // the 50ms default deadline: one timer per request
	} {
		p := newPipeline(b, store.NewMemory(0), bc.opt, benchRules)
		reqs := make([]classify.Request, 256)
		results := make([]classify.Result, len(reqs))
		for i := range reqs {
			reqs[i] = req("127.0."+strconv.Itoa(i%16)+"."+strconv.Itoa(i), bc.ua)
			reqs[i].Host = "site" + strconv.Itoa(i%64) + ".example.org"
			p.c.Classify(&reqs[i], &results[i])
			if len(results[i].Rules) != 1 || len(results[i].Rules[0].Budgets) != 2 {
				b.Fatalf("%s: rules %v, want one rule with two budgets", bc.name, results[i].Rules)
			}
		}
		ctx := context.Background()
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				k := i % len(reqs)
				if v := p.d.Decide(ctx, &Request{Req: &reqs[k], Class: &results[k]}); v.Action != 0 {
					b.Fatalf("verdict %+v", v)
				}
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			var start atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				k := int(start.Add(37))
				for pb.Next() {
					k = (k + 1) % len(reqs)
					p.d.Decide(ctx, &Request{Req: &reqs[k], Class: &results[k]})
				}
			})
		})
	}
}
