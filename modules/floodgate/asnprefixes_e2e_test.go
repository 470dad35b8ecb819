package floodgate_test

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestHostingPrefixListsWithoutASNDatabase: with asn_db none, a browser User-Agent from a
// hosting network's address (Hetzner, AS24940, in the shipped prefix lists) is the hosting
// bot, with its AS number in the access log; with an ASN database that does not place the
// address in a hosting AS (testdata's test database knows nothing of it), the database wins
// and the client is a browser.
func TestHostingPrefixListsWithoutASNDatabase(t *testing.T) {
	const hetzner = "5.9.10.11"
	up := newUpstream(t)
	for _, tc := range []struct {
		name, asnDB, want string
	}{
		{"no database", "none", "bot hosting:hetzner 24940"},
		{"database wins", "", "browser browser "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &proxy{t: t}
			p.port, p.log = freePort(t), t.TempDir()+"/access.log"
			cf := p.caddyfile("rules shipped", up.Listener.Addr().String(), "")
			if tc.asnDB != "" {
				cf = strings.Replace(cf, abs("../../testdata/mmdb/test-asn.mmdb"), tc.asnDB, 1)
			}
			if err := load(cf); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = caddy.Stop() }()
			if s := p.status(hetzner, uaBrowser, "/"); s != 200 {
				t.Fatalf("status %d", s)
			}
			f, err := os.Open(p.log)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			if !sc.Scan() {
				t.Fatal("no access log line")
			}
			var line struct {
				Floodgate struct {
					Class, Bot, ASN string
				} `json:"floodgate"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			if got := line.Floodgate.Class + " " + line.Floodgate.Bot + " " + line.Floodgate.ASN; got != tc.want {
				t.Errorf("%s from %s: %q, want %q (%s)", uaBrowser, hetzner, got, tc.want, sc.Text())
			}
		})
	}
}
