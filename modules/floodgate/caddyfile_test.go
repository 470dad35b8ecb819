package floodgate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/floodgate-proxy/floodgate/internal/normalize"
)

func TestParseGlobalOption(t *testing.T) {
	cases := []struct {
		name, input string
		want        string // JSON of the app, or the error text expected
		wantErr     bool
	}{
		{"defaults", `floodgate`, `{}`, false},
		{"everything", `floodgate {
			rules shipped /etc/floodgate/local.yaml
			asn_db /var/lib/asn.mmdb
			prefix 22 48
			store redis://127.0.0.1:6379/0 {
				mode exact
				sync_interval 250ms
				timeout 20ms
				key_prefix site1:
				max_keys 5000
			}
			challenge {
				key c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0
				pass_ttl 12h
				difficulty 18
			}
			protect {
				backend_max_inflight 64
				site_max_inflight 16
				max_wait 1s
				under_attack {
					rate 50/sec
					challenge_level script
					off_after 2m
				}
			}
			shadow
		}`, `{"rules":["shipped","/etc/floodgate/local.yaml"],"asn_db":"/var/lib/asn.mmdb","prefix_v4":22,"prefix_v6":48,"store":{"redis":"redis://127.0.0.1:6379/0","mode":"exact","sync_interval":250000000,"timeout":20000000,"key_prefix":"site1:","max_keys":5000},"challenge":{"keys":["c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0"],"pass_ttl":43200000000000,"difficulty":18},"protect":{"backend_max_inflight":64,"site_max_inflight":16,"max_wait":1000000000,"under_attack":{"rate":"50/sec","challenge_level":"script","off_after":120000000000}},"shadow":true}`, false},
		{"bad under_attack level", `floodgate {
			protect {
				under_attack {
					challenge_level captcha
				}
			}
		}`, `under_attack challenge_level "captcha": expected cookie, script or work`, true},
		{"bad difficulty", `floodgate {
			challenge {
				difficulty 40
			}
		}`, `challenge difficulty: 40, expected a number of bits from 1 to 24`, true},
		{"memory and no asn db", `floodgate {
			store memory
			asn_db none
		}`, `{}`, false},
		{"unknown option", `floodgate {
			ruless shipped
		}`, `unknown floodgate option "ruless" (expected rules, asn_db, prefix, store, challenge, protect or shadow)`, true},
		{"rules without files", `floodgate {
			rules
		}`, `rules: expected one or more rule files`, true},
		{"bad prefix", `floodgate {
			prefix 24
		}`, `prefix: expected two lengths, IPv4 then IPv6`, true},
		{"bad store option", `floodgate {
			store redis://h:6379 {
				interval 1s
			}
		}`, `unknown store option "interval" (expected mode, sync_interval, timeout, key_prefix or max_keys)`, true},
		{"bad duration", `floodgate {
			store redis://h:6379 {
				timeout soon
			}
		}`, `store timeout: "soon" is not a duration`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(c.input)
			v, err := parseGlobalOption(d, nil)
			if c.wantErr {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error = %v, want one containing %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			got := string(v.(httpcaddyfile.App).Value)
			var a map[string]any
			var b any
			_ = json.Unmarshal([]byte(got), &a)
			// The content hash is the adapter's (see TestContentHashFollowsFiles).
			if h, _ := a["content_hash"].(string); len(h) != 32 {
				t.Fatalf("content_hash = %q, want 32 hex digits", h)
			}
			delete(a, "content_hash")
			_ = json.Unmarshal([]byte(c.want), &b)
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if string(ja) != string(jb) {
				t.Fatalf("JSON = %s\nwant   %s", got, c.want)
			}
		})
	}
}

func TestParseHandlerDirective(t *testing.T) {
	cases := []struct {
		input   string
		shadow  bool
		wantErr string
	}{
		{"floodgate", false, ""},
		{"floodgate {\n shadow \n}", true, ""},
		{"floodgate extra", false, "wrong argument count"},
		{"floodgate {\n shadoww \n}", false, `unknown floodgate subdirective "shadoww" (expected shadow, challenge_exempt or visitor_cookie)`},
	}
	for _, c := range cases {
		h := httpcaddyfile.Helper{Dispenser: caddyfile.NewTestDispenser(c.input)}
		mh, err := parseHandlerDirective(h)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: error = %v, want %q", c.input, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.input, err)
			continue
		}
		if mh.(*Handler).Shadow != c.shadow {
			t.Errorf("%q: shadow = %v", c.input, mh.(*Handler).Shadow)
		}
	}
}

func TestIsStatic(t *testing.T) {
	for path, want := range map[string]bool{
		"/": false, "/wp-content/themes/x/style.css": true, "/IMG/logo.PNG": true, "/app.js": true,
		"/index.php": false, "/spip.php": false, "/2024/05/article/": false, "/a.b/c": false,
		"/fonts/x.woff2": true, "/feed.xml": false,
	} {
		if got := normalize.IsStatic(path); got != want {
			t.Errorf("normalize.IsStatic(%q) = %v, want %v", path, got, want)
		}
	}
}
