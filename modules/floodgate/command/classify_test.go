package command

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/rules"
)

// classify's JSON input takes headers and tls, and its output shows the signals and whether a
// claimed search engine was verified: without an address unverified, not an impostor.
func TestClassifyStreamSignals(t *testing.T) {
	cl, err := newClassifier([]string{rulefiles.Shipped}, "", network.PrefixLengths{})
	if err != nil {
		t.Fatal(err)
	}
	const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"
	const googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	line := func(v map[string]any) string { b, _ := json.Marshal(v); return string(b) }
	tests := []struct {
		name, in string
		want     map[string]any // fields that must have these values; nil value: field absent
	}{
		{"Googlebot without an address is unverified", googlebot,
			map[string]any{"class": "search-bot", "verified": false, "impostor": nil}},
		{"Googlebot from its range is verified", line(map[string]any{"ip": "66.249.66.1", "ua": googlebot}),
			map[string]any{"class": "search-bot", "verified": true, "impostor": nil}},
		{"Googlebot from a home ISP is an impostor", line(map[string]any{"ip": "90.1.2.3", "ua": googlebot}),
			map[string]any{"class": "bot", "verified": false, "impostor": true}},
		{"Chrome over HTTPS with all its headers", line(map[string]any{"ua": chrome, "tls": true,
			"headers": map[string]string{"accept-language": "fr-FR,fr;q=0.9", "Sec-Fetch-Mode": "navigate"}}),
			map[string]any{"class": "browser", "headers_inconsistent": nil, "outdated": nil}},
		{"Chrome over HTTPS without Sec-Fetch", line(map[string]any{"ua": chrome, "tls": true,
			"headers": map[string]string{"Accept-Language": "fr"}}),
			map[string]any{"class": "browser", "headers_inconsistent": true}},
		{"Chrome without headers given: not judged", chrome,
			map[string]any{"class": "browser", "headers_inconsistent": nil}},
		{"Internet Explorer 6 is outdated", "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)",
			map[string]any{"class": "browser", "outdated": true, "verified": nil}},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if _, err := classifyStream(cl, strings.NewReader(tt.in+"\n"), &out); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var got map[string]any
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%s: output %q is not JSON: %v", tt.name, out.String(), err)
		}
		for k, want := range tt.want {
			if v, ok := got[k]; want == nil && ok || want != nil && v != want {
				t.Errorf("%s: %s = %v (present %v), want %v; output %s", tt.name, k, v, ok, want, out.String())
			}
		}
	}
}
