package harness

import (
	"strings"
	"testing"
)

func TestCaddyfile(t *testing.T) {
	base := ProxyConfig{Name: "x", Listen: "127.0.0.1:8080", Admin: "127.0.0.1:2999", Upstream: "127.0.0.1:9000"}
	tests := []struct {
		name    string
		mod     func(*ProxyConfig)
		want    []string
		notWant []string
	}{
		{
			name:    "plain Caddy",
			mod:     func(*ProxyConfig) {},
			want:    []string{"admin 127.0.0.1:2999", "trusted_proxies static 127.0.0.1/32", "http://:8080 {", "bind 127.0.0.1", "reverse_proxy 127.0.0.1:9000", "persist_config off"},
			notWant: []string{"floodgate {", "\tfloodgate\n", "metrics"},
		},
		{
			name: "floodgate with defaults",
			mod:  func(c *ProxyConfig) { c.Floodgate = true; c.Metrics = true },
			want: []string{"\tfloodgate {\n\t\trules shipped\n\t\tstore memory\n\t}", "\tfloodgate\n\treverse_proxy", "\tmetrics\n"},
		},
		{
			name: "floodgate with rules, database, Redis and extras",
			mod: func(c *ProxyConfig) {
				c.Floodgate, c.Rules, c.ASNDB, c.Store = true, []string{"shipped", "/tmp/my rules.yaml"}, "/tmp/a.mmdb", "redis://127.0.0.1:6390/0"
				c.GlobalExtra, c.SiteExtra = "shadow", "header X-Bench yes\nheader X-Two 2"
			},
			want: []string{`rules shipped "/tmp/my rules.yaml"`, "asn_db /tmp/a.mmdb", "store redis://127.0.0.1:6390/0", "\t\tshadow\n\t}", "\theader X-Bench yes\n\theader X-Two 2\n\treverse_proxy"},
		},
	}
	for _, tt := range tests {
		c := base
		tt.mod(&c)
		got := c.Caddyfile()
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: Caddyfile lacks %q:\n%s", tt.name, w, got)
			}
		}
		for _, w := range tt.notWant {
			if strings.Contains(got, w) {
				t.Errorf("%s: Caddyfile has %q:\n%s", tt.name, w, got)
			}
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1:80": true, "127.5.6.7:1": true, "[::1]:8080": true,
		"10.0.0.1:80": false, "localhost:80": false, "example.org:80": false, "127.0.0.1": false, "": false,
	}
	for addr, ok := range tests {
		if err := CheckLoopback(addr); (err == nil) != ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
	if _, err := NewLoopbackTransport("192.0.2.1:80", 1); err == nil {
		t.Error("NewLoopbackTransport accepted a non-loopback target")
	}
	if _, err := StartProxy(t.Context(), ProxyConfig{Name: "x", Listen: "192.0.2.1:80", Admin: "127.0.0.1:1", Upstream: "127.0.0.1:2"}); err == nil {
		t.Error("StartProxy accepted a non-loopback listen address")
	}
}
