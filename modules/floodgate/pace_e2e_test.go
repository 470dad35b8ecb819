package floodgate_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/modules/floodgate"
)

// TestHeldAnswersSparePeople (issue 11, the proxy's CPU): while floodgate holds its own
// answers to the lowest tiers — as it does when a closed-loop flood of challenges leaves the
// proxy short of CPU — a new visitor's challenge is held and still works: the pass it sets
// gets the page, unheld. A person holding a visitor cookie on a site under attack, a pass
// holder, a page let through and an answer to a challenge are never held.
func TestHeldAnswersSparePeople(t *testing.T) {
	up := newContentUpstream(t)
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProxyWith(t, &proxy{admin: admin}, "rules "+protectRules, up.Listener.Addr().String(), "")
	const hold = 30 * time.Millisecond
	floodgate.HoldAnswers(t, hold)
	for deadline := time.Now().Add(5 * time.Second); floodgate.AnswerHold() != hold; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the hold is %v 5 s after it was pinned at %v", floodgate.AnswerHold(), hold)
		}
	}
	lang := []string{"Accept-Language", "fr-FR,fr;q=0.9"}
	// step sends one request and checks its status and whether it was held.
	step := func(what string, wantStatus int, wantHeld bool, send func() *http.Response) *http.Response {
		t.Helper()
		before := floodgate.AnswersHeld()
		resp := send()
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s: status %d, want %d", what, resp.StatusCode, wantStatus)
		}
		if held := floodgate.AnswersHeld() - before; held != map[bool]int64{true: 1, false: 0}[wantHeld] {
			t.Errorf("%s: %d answers held, want held %v", what, held, wantHeld)
		}
		return resp
	}
	cookie := func(resp *http.Response, name string) string {
		t.Helper()
		for _, c := range resp.Cookies() {
			if c.Name == name {
				return c.Name + "=" + c.Value
			}
		}
		t.Fatalf("no %s cookie in the answer (%d)", name, resp.StatusCode)
		return ""
	}

	// A person browsing e.example before it is attacked keeps a visitor cookie.
	first := step("a person's first page, calm", 200, false, func() *http.Response {
		return p.getWith("e.example", "90.5.0.1", uaBrowser, "/", lang...)
	})
	visitor := cookie(first, "floodgate_visitor")
	req, _ := http.NewRequest("POST", "http://"+admin+"/floodgate/under-attack?site=e.example&mode=on", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("switching e.example under attack: %v %v", resp, err)
	}
	resp.Body.Close()
	step("the person with a visitor cookie, site under attack", 200, false, func() *http.Response {
		return p.getWith("e.example", "90.5.0.1", uaBrowser, "/next", append(lang, "Cookie", visitor)...)
	})
	// The cookie spelled by an attacker earns no exemption from the hold: copied to another
	// network, to another browser, or with its signature altered, it is a new visitor's.
	tampered := visitor[:len(visitor)-2] + map[bool]string{true: "AA", false: "BB"}[visitor[len(visitor)-2:] != "AA"]
	for _, c := range []struct{ what, ip, ua, cookie string }{
		{"the visitor cookie from another network", "91.5.0.1", uaBrowser, visitor},
		{"the visitor cookie from another browser", "90.5.0.1", uaBrowser + " Edg/120.0", visitor},
		{"a visitor cookie with an altered signature", "90.5.0.1", uaBrowser, tampered},
	} {
		step(c.what+", site under attack", 403, true, func() *http.Response {
			return p.getWith("e.example", c.ip, c.ua, "/next", append(lang, "Cookie", c.cookie)...)
		})
	}
	// A new visitor (or a stealth scraper: the proxy cannot tell) is challenged, held; the
	// challenge works: its pass gets the page, unheld.
	challenged := step("a new visitor, site under attack", 403, true, func() *http.Response {
		return p.getWith("e.example", "90.7.0.1", uaBrowser, "/article?page=2", lang...)
	})
	pass := cookie(challenged, "floodgate_pass")
	step("the new visitor back with its pass", 200, false, func() *http.Response {
		return p.getWith("e.example", "90.7.0.1", uaBrowser, "/article?page=2", append(lang, "Cookie", pass)...)
	})
	if up.hitsOf("/article") != 1 {
		t.Errorf("the upstream served /article %d times, want once (after the challenge)", up.hitsOf("/article"))
	}
	// A script challenge is held; a (wrong) answer to it is not.
	step("a script challenge", 403, true, func() *http.Response {
		return p.getWith("b.example", "90.8.0.1", uaBrowser, "/script/x", lang...)
	})
	step("an answer to the challenge", 403, false, func() *http.Response {
		form := url.Values{"c": {"forged"}, "a": {"0"}, "r": {"/script/x"}}
		req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/.floodgate/verify", p.port), strings.NewReader(form.Encode()))
		req.Host = "b.example"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", uaBrowser)
		req.Header.Set("X-Forwarded-For", "90.8.0.1")
		resp, err := e2eClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	})
}

// TestHeldBoundDropsTheExcess (the hold bypass): past the bound of answers held at once, a
// request floodgate would answer itself and hold — a challenge to a browser from a fresh
// address, as a stealth scraper sends, or an AI crawler's — is neither held nor answered at
// once (a flood with more connections than the bound got its excess answered at full speed:
// more connections paid) but dropped: the connection closes with no answer, and no
// access-log line is written for it. Once held answers are released there is room again.
func TestHeldBoundDropsTheExcess(t *testing.T) {
	up := newContentUpstream(t)
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProxyWith(t, &proxy{admin: admin}, "rules "+protectRules, up.Listener.Addr().String(), "")
	const hold, bound = time.Minute, 2 // held until their clients leave
	floodgate.HoldAnswers(t, hold)
	floodgate.PaceFor(t, hold)
	floodgate.BoundHeld(t, bound)
	for deadline := time.Now().Add(5 * time.Second); floodgate.AnswerHold() != hold; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the hold is %v 5 s after it was pinned at %v", floodgate.AnswerHold(), hold)
		}
	}
	req, _ := http.NewRequest("POST", "http://"+admin+"/floodgate/under-attack?site=e.example&mode=on", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("switching e.example under attack: %v %v", resp, err)
	}
	resp.Body.Close()
	heldNow := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); floodgate.HeldNow() != want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d answers held, want %d", floodgate.HeldNow(), want)
			}
		}
	}
	// send sends a GET of path from ip with ua, on a connection of its own (a client's
	// transport would retry a GET its kept-alive connection lost), until ctx ends.
	send := func(ctx context.Context, ip, ua, path string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path), nil)
		req.Host = "e.example"
		req.Header.Set("User-Agent", ua)
		req.Header.Set("X-Forwarded-For", ip)
		c := &http.Client{Timeout: 2 * hold, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	// fill holds bound answers until the returned function is called.
	fill := func(n int, ua string) (release func()) {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if resp, err := send(ctx, fmt.Sprintf("90.9.%d.1", i), ua, "/held"); err == nil {
					t.Errorf("a held answer came back (%d) before its client left", resp.StatusCode)
				}
			}()
		}
		heldNow(int64(n))
		return func() { cancel(); wg.Wait(); heldNow(0) }
	}
	for i, c := range []struct{ what, ua string }{
		{"a browser from a fresh address (a stealth scraper)", uaBrowser},
		{"an AI crawler", uaGPTBot},
	} {
		release := fill(bound, c.ua)
		before := floodgate.AnswersDropped()
		resp, err := send(context.Background(), fmt.Sprintf("90.10.%d.1", i), c.ua, "/dropped")
		if err == nil {
			t.Errorf("%s past the bound: answered %d, want the connection closed with no answer", c.what, resp.StatusCode)
		}
		if n := floodgate.AnswersDropped() - before; n != 1 {
			t.Errorf("%s past the bound: %d dropped counted, want 1", c.what, n)
		}
		if n := floodgate.HeldNow(); n != bound {
			t.Errorf("%s past the bound: %d held, want the bound (%d)", c.what, n, bound)
		}
		release()
		// Room again: the next is held, not dropped.
		release = fill(1, c.ua)
		release()
		if n := floodgate.AnswersDropped() - before; n != 1 {
			t.Errorf("%s under the bound again: %d dropped since, want 1", c.what, n)
		}
	}
	if up.hitsOf("/held")+up.hitsOf("/dropped") != 0 {
		t.Error("a held or dropped request reached the upstream")
	}
	log, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), `"/dropped"`) {
		t.Error("the access log has a line for a dropped request")
	}
	if !strings.Contains(string(log), `"/held"`) {
		t.Error("the access log has no line for a held request: is it written at all?")
	}
}
