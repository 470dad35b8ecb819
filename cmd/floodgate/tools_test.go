package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestExplainAndStatusLive runs floodgate, sends a crawler past its budget, switches the site
// under attack by hand, and asks the running floodgate (admin endpoint) to explain three
// requests — the throttled crawler, a browser challenged because the site is under attack, a
// verified Googlebot let through — and for its status.
func TestExplainAndStatusLive(t *testing.T) {
	admin, listen := freePort(t), freePort(t)
	cf := writeCaddyfile(t, admin, listen, "\t\trules shipped")
	runFloodgate(t, cf)
	host, _, _ := strings.Cut(listen, ":")
	const gptbot = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
	get := func(ua string) int { return getStatus(t, "http://"+listen+"/page", ua) }
	throttled := 0
	for i := 0; i < 70; i++ {
		if get(gptbot) == http.StatusTooManyRequests {
			throttled++
		}
	}
	if throttled < 5 {
		t.Fatalf("GPTBot: %d of 70 throttled, want those past 60/min", throttled)
	}
	explain := func(args ...string) string {
		out, errOut, code := run(t, nil, nil, append([]string{"explain", "--address", admin, "--host", host}, args...)...)
		if code != 0 {
			t.Fatalf("explain %v: exit %d: %s", args, code, errOut)
		}
		t.Logf("floodgate explain %s\n%s", strings.Join(args, " "), out)
		return out
	}
	out := explain("--ip", "127.0.0.1", "--ua", gptbot, "--path", "/page")
	if !strings.Contains(out, "Action: throttle") || !strings.Contains(out, "rule GPTBot budget 60/min per bot+host (60/60") ||
		!strings.Contains(out, "past its rate [decides]") || !strings.Contains(out, "rule GPTBot budget 600/min per bot (71/600") {
		t.Errorf("the crawler: want a throttle by its 60/min budget with its live count (71 or so):\n%s", out)
	}
	resp, err := http.Post("http://"+admin+"/floodgate/under-attack?site="+host+"&mode=on", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("switching %s on: %v %v", host, resp, err)
	}
	out = explain("--ip", "90.1.2.3", "--ua", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	if !strings.Contains(out, "Action: challenge") || !strings.Contains(out, "under attack") {
		t.Errorf("the browser on a site under attack: want a challenge:\n%s", out)
	}
	out = explain("--ip", "66.249.66.1", "--ua", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
	if !strings.Contains(out, "Action: pass") || !strings.Contains(out, ", verified,") {
		t.Errorf("verified Googlebot: want it let through, even under attack:\n%s", out)
	}
	// A bad request to explain is a clear error.
	if _, errOut, code := run(t, nil, nil, "explain", "--address", admin, "--ip", "nope", "--ua", "x"); code != 1 || !strings.Contains(errOut, `ip "nope" is not an IP address`) {
		t.Errorf("explain with a bad ip: exit %d, %q", code, errOut)
	}

	// The last minute counts full seconds: let the second of the last request end.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	out, errOut, code := run(t, nil, nil, "status", "--address", admin)
	t.Logf("floodgate status\n%s", out)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Sites under attack:\n  " + host, "set by hand", "Sites quarantined: none", "Requests per second, last 1m0s:",
		"throttle ", "ai-crawler ", "Admission:", "Counter store: memory"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if _, errOut, code := run(t, nil, nil, "status", "--address", freePort(t)); code != 1 || !strings.Contains(errOut, "status:") {
		t.Errorf("status of nothing running: exit %d, %q", code, errOut)
	}
}

// TestExplainOffline explains a request read as JSON on standard input with the shipped
// rules and fresh counters: an AI crawler on a wp-login POST, every step named.
func TestExplainOffline(t *testing.T) {
	in := `{"ip":"20.0.0.1","ua":"GPTBot/1.2","host":"shop.example.org","method":"post","path":"/wp-login.php?x=1"}` + "\n"
	out, errOut, code := run(t, strings.NewReader(in), nil, "explain")
	if code != 0 {
		t.Fatalf("explain: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Request: POST shop.example.org/wp-login.php?x=1 from 20.0.0.1", "class ai-crawler, bot GPTBot",
		"+ wp-login ", "- xmlrpc ", "path /wp-login.php matches none of [/xmlrpc.php]", "budget 60/min per bot+host (1/60", "Action: pass"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	_, errOut, code = run(t, strings.NewReader("{\"ip\":1}\n"), nil, "explain")
	if code != 1 || !strings.Contains(errOut, "not a JSON object") {
		t.Errorf("bad JSON: exit %d, %q", code, errOut)
	}
}
