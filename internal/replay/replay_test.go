package replay

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/rules"
)

const (
	uaFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	uaGPTBot  = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; +https://openai.com/gptbot"
)

// readAll reads every entry of a log given as text (gzipped when gz), and the errors of the
// lines skipped.
func readAll(t *testing.T, text string, gz bool) ([]Entry, []error, Format) {
	t.Helper()
	var in io.Reader = strings.NewReader(text)
	if gz {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		io.WriteString(w, text)
		w.Close()
		in = &b
	}
	rd, err := NewReader("access.log", in)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out []Entry
	var skips []error
	for {
		var e Entry
		err := rd.Next(&e)
		if err == io.EOF {
			return out, skips, rd.Format()
		}
		if errors.Is(err, ErrSkip) {
			skips = append(skips, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

func TestReaderFormats(t *testing.T) {
	combined := `83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/kibana-search.png?x=1 HTTP/1.1" 200 203023 "http://semicomplete.com/" "Mozilla/5.0 (Macintosh) \"quoted\" Safari/537.36"
not a log line at all

66.249.73.135 - - [17/May/2015:10:05:40 +0200] "GET /blog/ HTTP/1.1" 404 7 "-" "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
2001:db8::7 - frank [17/May/2015:10:06:00 +0000] "-" 408 0 "-" "-"
`
	vhost := `Shop.Example.org:443 192.0.2.7 - - [28/Nov/2026:12:00:00 +0000] "POST /wp-login.php HTTP/2.0" 200 10 "-" "curl/8.0"
`
	caddyJSON := `{"level":"info","ts":1795942690.5,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"127.0.0.1","client_ip":"192.0.2.9","proto":"HTTP/2.0","method":"GET","host":"Shop.Example.org:8443","uri":"/?s=x","headers":{"User-Agent":["GPTBot/1.2"],"Accept":["*/*"]}},"duration":0.25,"status":503}
{"level":"warn","ts":1795942691,"msg":"budget exceeded","rule":"x"}
`
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			got, skips, f := readAll(t, combined, gz)
			if f != FormatCombined || len(got) != 3 || len(skips) != 1 || !strings.Contains(skips[0].Error(), "access.log:2:") {
				t.Fatalf("combined: format %s, %d entries, skips %v", f, len(got), skips)
			}
			e := got[0]
			if e.IP != netip.MustParseAddr("83.149.9.216") || e.Method != "GET" || e.Path != "/presentations/kibana-search.png" || e.Query != "x=1" ||
				e.Status != 200 || e.UserAgent != `Mozilla/5.0 (Macintosh) \"quoted\" Safari/537.36` || !e.Time.Equal(time.Date(2015, 5, 17, 10, 5, 3, 0, time.UTC)) {
				t.Errorf("combined line 1: %+v", e)
			}
			if got[1].Time.UTC() != time.Date(2015, 5, 17, 8, 5, 40, 0, time.UTC) || got[1].Status != 404 {
				t.Errorf("combined line with +0200: %+v", got[1])
			}
			if got[2].IP != netip.MustParseAddr("2001:db8::7") || got[2].Method != "" || got[2].Status != 408 {
				t.Errorf("combined line without a request: %+v", got[2])
			}
			got, _, f = readAll(t, vhost, gz)
			if f != FormatCombined || len(got) != 1 || got[0].Host != "shop.example.org" || got[0].Method != "POST" || got[0].IP != netip.MustParseAddr("192.0.2.7") {
				t.Errorf("vhost_combined: %s %+v", f, got)
			}
			got, skips, f = readAll(t, caddyJSON, gz)
			if f != FormatCaddyJSON || len(got) != 1 || len(skips) != 1 {
				t.Fatalf("caddy json: format %s, %d entries, skips %v", f, len(got), skips)
			}
			e = got[0]
			if e.IP != netip.MustParseAddr("192.0.2.9") || e.Host != "shop.example.org" || e.Path != "/" || e.Query != "s=x" || e.UserAgent != "GPTBot/1.2" ||
				e.Status != 503 || e.Latency != 250*time.Millisecond || e.Time.Unix() != 1795942690 {
				t.Errorf("caddy json line: %+v", e)
			}
		})
	}
	if _, err := NewReader("empty.log", strings.NewReader("\n\n")); err == nil || !strings.Contains(err.Error(), "empty.log: empty log") {
		t.Errorf("empty log: %v", err)
	}
}

func shipped(t testing.TB, extra ...string) Config {
	t.Helper()
	set, err := rulefiles.Load(append([]string{rulefiles.Shipped}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	asn, _, err := rulefiles.ASNPrefixes(rulefiles.Shipped)
	if err != nil {
		t.Fatal(err)
	}
	return Config{Rules: set, ASN: asn, Prefixes: network.PrefixLengths{}, AttackRate: 20, DefaultHost: "site.example"}
}

// writeLog writes lines to a file and returns its path.
func writeLog(t *testing.T, lines []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func clf(host, ip string, t time.Time, method, path, ua string, status int) string {
	return fmt.Sprintf(`%s:443 %s - - [%s] "%s %s HTTP/1.1" %d 100 "-" "%s"`, host, ip, t.Format("02/Jan/2006:15:04:05 -0700"), method, path, status, ua)
}

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// TestVirtualClock: GPTBot at one page every 2 seconds for 10 minutes of log time stays within
// its budget of 60/min per bot+host: nothing is throttled. On the wall clock (the whole log
// replays in milliseconds) 240 of the 300 would be; at 2 pages a second it is throttled.
func TestVirtualClock(t *testing.T) {
	for _, tc := range []struct {
		every             time.Duration
		minThr, maxThr, n int
	}{{2 * time.Second, 0, 0, 300}, {500 * time.Millisecond, 600, 1140, 1200}} {
		var lines []string
		for i := 0; i < tc.n; i++ {
			lines = append(lines, clf("shop.example", "20.0.0.1", t0.Add(time.Duration(i)*tc.every), "GET", fmt.Sprintf("/p%d", i), uaGPTBot, 200))
		}
		res, err := Run([]string{writeLog(t, lines)}, shipped(t))
		if err != nil {
			t.Fatal(err)
		}
		s := res.Summary
		thr := s.ByAction["throttle"]
		if s.Requests != tc.n || thr < tc.minThr || thr > tc.maxThr {
			t.Errorf("GPTBot every %s for 10 min: %d requests, %d throttled; want %d..%d (budget 60/min)", tc.every, s.Requests, thr, tc.minThr, tc.maxThr)
		}
		if thr > 0 && (s.RefusedBots["GPTBot"] != thr || s.RefusedClients["20.0.0.1"] != thr) {
			t.Errorf("refused bots %v, clients %v; want GPTBot and 20.0.0.1 with %d", s.RefusedBots, s.RefusedClients, thr)
		}
		if len(s.Minutes) != 10 {
			t.Errorf("%d minutes in the per-minute series, want 10", len(s.Minutes))
		}
	}
}

// TestUnderAttackAndQuarantine: a flood of browser-looking requests from many addresses at
// 50/s (trigger 20/s) puts the site under attack within seconds of log time, and challenges
// follow; 375 POSTs a minute to another site's xmlrpc.php quarantine it (shipped post-burst: 120/min).
func TestUnderAttackAndQuarantine(t *testing.T) {
	var lines []string
	for i := 0; i < 1500; i++ { // 30 s at 50/s
		at := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		lines = append(lines, clf("news.example", fmt.Sprintf("90.%d.%d.%d", i%200, i/200, i%7+1), at, "GET", fmt.Sprintf("/article/%d", i), uaFirefox, 200))
		if i%8 == 0 { // 6.25 POST/s = 375/min to shop.example
			lines = append(lines, clf("shop.example", fmt.Sprintf("91.0.%d.%d", i%250, i%9+1), at, "POST", "/xmlrpc.php", uaFirefox, 200))
		}
	}
	res, err := Run([]string{writeLog(t, lines)}, shipped(t))
	if err != nil {
		t.Fatal(err)
	}
	var attackAt, quarantineAt time.Time
	for _, e := range res.Summary.Events {
		if e.Site == "news.example" && e.Kind == "under attack" && attackAt.IsZero() {
			attackAt = e.At
		}
		if e.Site == "shop.example" && e.Kind == "quarantine" && quarantineAt.IsZero() {
			quarantineAt = e.At
		}
	}
	if attackAt.IsZero() || attackAt.Sub(t0) > 10*time.Second {
		t.Errorf("news.example under attack at %v (events %+v); want within 10 s of log time", attackAt, res.Summary.Events)
	}
	if quarantineAt.IsZero() || quarantineAt.Sub(t0) > 30*time.Second {
		t.Errorf("shop.example quarantined at %v (events %+v); want within the 30 s", quarantineAt, res.Summary.Events)
	}
	if res.Summary.ByAction["challenge"] < 500 {
		t.Errorf("challenged %d; want most of the flood after the switch", res.Summary.ByAction["challenge"])
	}
	var text bytes.Buffer
	if err := res.Summary.WriteText(&text, 5); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"news.example", "under attack", "shop.example", "quarantine", "challenge"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
}

// TestApacheLog replays the real log in testdata: every line is a request, the summary adds
// up, verified Googlebot passes and fake bingbots (2015 addresses outside Microsoft's published
// ranges) are refused.
func TestApacheLog(t *testing.T) {
	res, err := Run([]string{filepath.Join("..", "..", "testdata", "access-logs", "apache_logs")}, shipped(t))
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if res.Lines != 10000 || s.Requests+s.Skipped != 10000 || s.Skipped != 0 {
		t.Fatalf("lines %d, requests %d, skipped %d (first skips %v)", res.Lines, s.Requests, s.Skipped, res.FirstSkips)
	}
	sum := 0
	for _, n := range s.ByAction {
		sum += n
	}
	if sum != s.Requests {
		t.Errorf("actions add up to %d, want %d", sum, s.Requests)
	}
	if s.ByRule[RuleAction{"Googlebot", "pass"}] < 100 || s.ByClass["search-bot"] < 500 {
		t.Errorf("Googlebot passes: %d, search-bot requests: %d", s.ByRule[RuleAction{"Googlebot", "pass"}], s.ByClass["search-bot"])
	}
	if s.RefusedBots["impostor:bingbot"] == 0 {
		t.Errorf("no impostor bingbot refused: %v", s.RefusedBots)
	}
	if !s.First.Equal(time.Date(2015, 5, 17, 10, 5, 0, 0, time.UTC)) || !s.Last.Equal(time.Date(2015, 5, 20, 21, 5, 59, 0, time.UTC)) {
		t.Errorf("span %v – %v", s.First, s.Last)
	}
}

// TestCompare: the same log against the shipped rules and against the shipped rules plus a
// local file that blocks an expensive path: only those requests change, and the comparison
// says so.
func TestCompare(t *testing.T) {
	local := filepath.Join(t.TempDir(), "local.yaml")
	if err := os.WriteFile(local, []byte("rules:\n  - name: no-feeds\n    match: {path: [/blog/tags/**]}\n    action: block\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := 0; i < 100; i++ {
		path := "/"
		if i%4 == 0 {
			path = "/blog/tags/x"
		}
		lines = append(lines, clf("shop.example", fmt.Sprintf("90.0.0.%d", i+1), t0.Add(time.Duration(i)*time.Second), "GET", path, uaFirefox, 200))
	}
	res, err := Run([]string{writeLog(t, lines)}, shipped(t), shipped(t, local))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Compare
	if c == nil || c.Same != 75 || c.Changed["browser browser: pass → block (no-feeds)"] != 25 || c.Other.ByAction["block"] != 25 {
		t.Fatalf("comparison: %+v", c)
	}
	var text bytes.Buffer
	if err := c.WriteText(&text, res.Summary, 5); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "25 of 100 requests") || !strings.Contains(text.String(), "pass → block (no-feeds)") {
		t.Errorf("comparison text:\n%s", text.String())
	}
}
