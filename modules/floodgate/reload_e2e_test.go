package floodgate_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// writeRules writes a rule file into dir and returns its path.
func writeRules(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRefusedReloadChangesNothing: config A runs; config B sets a site under attack by hand in
// its rule file, and its handler lists an invalid challenge_exempt path (JSON config: the
// Caddyfile adapter refuses it sooner). B is refused when the handler is provisioned, after
// the app; A behaves exactly as before: the site is not challenged, the rules are A's
// (issue 10: the app's Provision published B's site modes, so A began challenging the site).
func TestRefusedReloadChangesNothing(t *testing.T) {
	dir := t.TempDir()
	good := writeRules(t, dir, "a.yaml", `
rules:
  - name: block-foo
    match:
      path: [/foo]
    action: block
sites:
  - hosts: [shop.test]
`)
	bad := writeRules(t, dir, "b.yaml", `
rules:
  - name: block-bar
    match:
      path: [/bar]
    action: block
sites:
  - hosts: [shop.test]
    under_attack: "on"
`)
	up := newUpstream(t)
	p := startProxy(t, "rules "+good, up.Listener.Addr().String(), "")
	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			path string
			want int
		}{{"/", 200}, {"/page", 200}, {"/bar", 200}, {"/foo", 403}} {
			if code, _ := p.hit(e2eClient, "GET", "shop.test", ipOrange, uaBrowser, c.path); code != c.want {
				t.Errorf("%s: GET shop.test%s: %d, want %d", when, c.path, code, c.want)
			}
		}
	}
	check("config A")
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(p.caddyfile("rules "+bad, up.Listener.Addr().String(), "")), nil)
	if err != nil {
		t.Fatal(err)
	}
	const handler = `"handler":"floodgate"`
	if !bytes.Contains(cfg, []byte(handler)) {
		t.Fatalf("no floodgate handler in %s", cfg)
	}
	cfg = bytes.Replace(cfg, []byte(handler), []byte(handler+`,"challenge_exempt":["api/*"]`), 1)
	err = caddy.Load(cfg, true)
	if err == nil || !strings.Contains(err.Error(), "challenge_exempt") {
		t.Fatalf("loading config B: %v, want a challenge_exempt error", err)
	}
	check("after B was refused")
	// B without the bad path loads, and Start publishes its site mode: now challenged.
	if err := load(p.caddyfile("rules "+bad, up.Listener.Addr().String(), "")); err != nil {
		t.Fatal(err)
	}
	p.afterReload() // until A's listener closes, A may still answer
	if code, _ := p.hit(reloadSafeClient, "GET", "shop.test", ipOrange, uaBrowser, "/page"); code != http.StatusForbidden {
		t.Errorf("config B loaded: GET shop.test/page: %d, want a challenge (403)", code)
	}
}
