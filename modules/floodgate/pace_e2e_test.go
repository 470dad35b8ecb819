package floodgate_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
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
