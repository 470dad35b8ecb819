package classify

import (
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/rules"
)

// isbotDir holds the isbot project's fixtures (see testdata/README.md).
var isbotDir = filepath.Join("..", "..", "testdata", "isbot-fixtures")

// realUAs returns the User-Agents of the isbot fixtures, browsers and crawlers interleaved
// so that a benchmark loop sees a mix, in a fixed order.
func realUAs(tb testing.TB) []string {
	tb.Helper()
	var lists [2][]string
	for i, name := range []string{"browsers.yml", "crawlers.yml"} {
		data, err := os.ReadFile(filepath.Join(isbotDir, name))
		if err != nil {
			tb.Fatalf("reading the isbot fixtures (expected them in testdata/isbot-fixtures): %v", err)
		}
		var m map[string][]string
		if err := yaml.Unmarshal(data, &m); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			lists[i] = append(lists[i], m[k]...)
		}
	}
	var uas []string
	for i := 0; i < max(len(lists[0]), len(lists[1])); i++ {
		for _, l := range lists {
			if i < len(l) {
				uas = append(uas, l[i])
			}
		}
	}
	if len(uas) < 100 {
		tb.Fatalf("only %d User-Agents in the isbot fixtures", len(uas))
	}
	return uas
}

func shippedClassifier(tb testing.TB) *Classifier {
	tb.Helper()
	set, err := rulefiles.Load(rulefiles.Shipped)
	if err != nil {
		tb.Fatalf("loading the shipped rules: %v", err)
	}
	return New(set, openASN(tb), network.PrefixLengths{})
}

// TestShippedRulesOnIsbotFixtures is a sanity check for the benchmark's input: the shipped
// rules leave most real browsers alone and recognise some crawlers.
func TestShippedRulesOnIsbotFixtures(t *testing.T) {
	c := shippedClassifier(t)
	uas := realUAs(t)
	classes := map[string]int{}
	var out Result
	for _, ua := range uas {
		c.Classify(&Request{IP: ipLocal, UserAgent: ua, Host: "example.org", Method: "GET", Path: "/"}, &out)
		classes[out.Class]++
	}
	t.Logf("classes of %d isbot User-Agents: %v", len(uas), classes)
	if classes["unknown"] == 0 || classes["ai-crawler"]+classes["search-bot"]+classes["bot"] == 0 {
		t.Errorf("classes %v: expected unknown browsers and recognised crawlers", classes)
	}
}

func benchRequests(b *testing.B, uas []string) []Request {
	ips := []netip.Addr{ipLocal, ipAmazon, ipGoogle, ipV6Local, netip.MustParseAddr("127.0.10.9")}
	reqs := make([]Request, len(uas))
	for i, ua := range uas {
		reqs[i] = Request{IP: ips[i%len(ips)], UserAgent: ua, Host: "site" + strconv.Itoa(i%50) + ".example.org",
			Method: "GET", Path: "/spip.php", Query: "page=article&id_article=" + strconv.Itoa(i)}
	}
	return reqs
}

// BenchmarkClassify classifies real User-Agents against the shipped rules. cached: the mix
// repeats, so the User-Agent cache answers; uncached: every User-Agent is new (a counter is
// appended), so every request runs the automaton and the regexes and fills the cache.
func BenchmarkClassify(b *testing.B) {
	c := shippedClassifier(b)
	reqs := benchRequests(b, realUAs(b))
	b.Run("cached", func(b *testing.B) {
		var out Result
		for i := range reqs { // warm the cache
			c.Classify(&reqs[i], &out)
		}
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			c.Classify(&reqs[i%len(reqs)], &out)
		}
	})
	b.Run("uncached", func(b *testing.B) {
		var out Result
		var buf []byte
		b.ReportAllocs()
		b.ResetTimer()
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			r := reqs[i%len(reqs)]
			// One allocation per op is this string, which a server would have made anyway.
			buf = strconv.AppendInt(append(append(buf[:0], r.UserAgent...), ' '), int64(i), 10)
			r.UserAgent = string(buf)
			c.Classify(&r, &out)
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		var out Result
		for i := range reqs {
			c.Classify(&reqs[i], &out)
		}
		var start atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var out Result
			i := int(start.Add(97))
			for pb.Next() {
				c.Classify(&reqs[i%len(reqs)], &out)
				i++
			}
		})
	})
	b.Run("uncached-parallel", func(b *testing.B) {
		var n atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var out Result
			var buf []byte
			for pb.Next() {
				i := int(n.Add(1))
				r := reqs[i%len(reqs)]
				buf = strconv.AppendInt(append(append(buf[:0], r.UserAgent...), ' '), int64(i), 10)
				r.UserAgent = string(buf)
				c.Classify(&r, &out)
			}
		})
	})
}

// reportCPU starts counting the process's CPU time (user and system, all threads: the GC's
// too) and returns what reports it per operation as cpu-ns/op. On a shared machine, where
// other processes take turns on the cores, it is steadier than wall time per operation.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() { b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op") }
}

func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkSubstringIndex runs the automaton of the shipped rules' user_agent entries alone.
func BenchmarkSubstringIndex(b *testing.B) {
	c := shippedClassifier(b)
	uas := realUAs(b)
	var total int
	for _, ua := range uas {
		total += len(ua)
	}
	b.SetBytes(int64(total / len(uas)))
	b.ReportAllocs()
	b.ResetTimer()
	found := 0
	for i := 0; i < b.N; i++ {
		c.subs.each(uas[i%len(uas)], func(int32, int) { found++ })
	}
	_ = found
}

// longUA is a User-Agent of n bytes: "Mozilla/5.0 (" and a comment that never closes, the
// costliest shape found for the shipped regexes (each keeps scanning for the platform or the
// end of the comment).
func longUA(n int) string {
	b := make([]byte, 0, n)
	b = append(b, "Mozilla/5.0 ("...)
	for len(b) < n {
		b = append(b, "abcdefghij"[len(b)%10])
	}
	return string(b)
}

// BenchmarkClassifyLongUA classifies 16 KB User-Agents, a new one every time (a counter at the
// start defeats the cache): what one request with a huge header costs.
func BenchmarkClassifyLongUA(b *testing.B) {
	c := shippedClassifier(b)
	pad := longUA(16 << 10)
	var out Result
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req := Request{IP: ipLocal, UserAgent: pad[:13] + strconv.Itoa(i) + pad[13:], Host: "example.org", Method: "GET", Path: "/"}
		c.Classify(&req, &out)
	}
}
