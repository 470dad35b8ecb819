package replay

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/rules"
)

var apacheLog = filepath.Join("..", "..", "testdata", "access-logs", "apache_logs")

func shippedConfig(tb testing.TB) Config {
	tb.Helper()
	set, err := rulefiles.Load(rulefiles.Shipped)
	if err != nil {
		tb.Fatal(err)
	}
	asn, _, err := rulefiles.ASNPrefixes(rulefiles.Shipped)
	if err != nil {
		tb.Fatal(err)
	}
	return Config{Rules: set, ASN: asn, Prefixes: network.PrefixLengths{}, AttackRate: 20, DefaultHost: "site"}
}

// BenchmarkReplayApacheLog replays the real 10,000-line log; lines/s is reported.
func BenchmarkReplayApacheLog(b *testing.B) {
	cfg := shippedConfig(b)
	lines := 0
	cpu0 := cpuTime()
	for b.Loop() {
		res, err := Run([]string{apacheLog}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		lines += res.Lines
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(lines)/(cpuTime()-cpu0).Seconds(), "lines/cpu-s")
}

// cpuTime is the process's user+system CPU time so far: on a shared machine, lines per
// CPU-second is steadier than lines per second of wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// generateLog writes n combined-format lines (Apache's vhost_combined) made from the real log's
// requests: its lines in turn, on 40 member sites, from addresses shifted per round, at
// rate lines per second of log time — a busy host's day compressed.
func generateLog(tb testing.TB, n, rate int) string {
	tb.Helper()
	src, err := os.ReadFile(apacheLog)
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(src)), "\n")
	path := filepath.Join(tb.TempDir(), "generated.log")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	start := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		l := lines[i%len(lines)]
		round := i / len(lines)
		ip, rest, _ := strings.Cut(l, " ")
		a := netip.MustParseAddr(ip).As4()
		a[2] ^= byte(round)
		_, rest, _ = strings.Cut(rest, "[")
		_, rest, _ = strings.Cut(rest, "]")
		t := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
		fmt.Fprintf(w, "site%d.example:443 %s - - [%s]%s\n", (i*7+round)%40, netip.AddrFrom4(a), t.Format("02/Jan/2006:15:04:05 -0700"), rest)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	return path
}

// BenchmarkReplayGenerated replays a generated 1,000,000-line log (vhost_combined, 40 sites,
// 300 requests/s of log time); lines/s is reported.
func BenchmarkReplayGenerated(b *testing.B) {
	cfg := shippedConfig(b)
	path := generateLog(b, 1_000_000, 300)
	lines := 0
	cpu0 := cpuTime()
	for b.Loop() {
		res, err := Run([]string{path}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		lines += res.Lines
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(lines)/(cpuTime()-cpu0).Seconds(), "lines/cpu-s")
}
