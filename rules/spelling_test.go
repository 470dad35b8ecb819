package rulefiles_test

import (
	"net/netip"
	"net/url"
	"slices"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/normalize"
)

// TestShippedRulesOnEverySpelling: the shipped path rules, matched on the normalised path
// (package normalize), apply to every spelling of a request that reaches the same script on
// Apache or nginx (issue 10: each of these reached the upstream or escaped its budget).
// Paths are written as on the wire and decoded once, as net/http does.
func TestShippedRulesOnEverySpelling(t *testing.T) {
	c := shipped(t, false)
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	const upload = "scripts-in-upload-folders"
	cases := []struct {
		method, raw string
		want        string // a policy rule that must apply; "" none of those below
	}{
		{"GET", "//wp-content/uploads/x.php", upload},
		{"GET", "/wp-content//uploads/x.php", upload},
		{"GET", "/./wp-content/uploads/x.php", upload},
		{"GET", "/%2e/wp-content/uploads/x.php", upload},
		{"GET", "/%2E/wp-content/uploads/x.php", upload},
		{"GET", "/wp-content/x/../uploads/x.php", upload},
		{"GET", "/wp-content/x/%2e%2e/uploads/x.php", upload},
		{"GET", "/wp-content%2fuploads%2fx.php", upload},
		{"GET", `/wp-content\uploads\x.php`, upload},
		{"GET", "/wp-content/uploads/x.php/y", upload},
		{"GET", "/wp-content/uploads/x.PHP", upload},
		{"GET", "/wp-content/uploads/x.Php", upload},
		{"GET", "/wp-content/uploads/x.p%68p", upload},
		{"GET", "/wp-content/uploads/x.php8", upload},
		{"GET", "/wp-content/uploads/x.php7", upload},
		{"GET", "/wp-content/uploads/x.pht", upload},
		{"GET", "/wp-content/uploads/x.PHTML", upload},
		{"GET", "/wp-content/uploads/x.phar", upload},
		{"GET", "/wp-content/uploads/x.php.jpg", upload},
		{"GET", "/wp-content/uploads/x.php.", upload},
		{"GET", "/wp-content/uploads/x.php%20", upload},
		{"GET", "/wp-content/uploads/x.php%00.jpg", upload},
		{"GET", "/blog/wp-content/uploads/x.php", upload},
		{"GET", "/blog/wp-content/uploads/2024/05/x.php", upload},
		{"GET", "/spip/IMG/x.php", upload},
		{"GET", "/IMG/x.php5", upload},
		{"GET", "/IMG/arton12.php3", upload},
		{"GET", "/tmp/x.phtml", upload},
		{"GET", "/spip/tmp/x.php", upload},
		{"GET", "/local/cache-vignettes/L100/x.php4", upload},
		{"GET", "/wp-content/cache/x.php", upload},
		{"POST", "//xmlrpc.php", "xmlrpc"},
		{"POST", "/./xmlrpc.php", "xmlrpc"},
		{"POST", "/xmlrpc.php/x", "xmlrpc"},
		{"POST", "//wp-login.php", "wp-login"},
		{"POST", "/./wp-login.php", "wp-login"},
		{"POST", "/wp-login.php/x", "wp-login"},
		{"POST", "/x/../wp-login.php", "wp-login"},
		{"POST", "/%77p-login.php", "wp-login"},
		// What must still pass: images, and scripts outside upload folders.
		{"GET", "/wp-content/uploads/2024/05/photo.jpg", ""},
		{"GET", "/wp-content/uploads/2024/05/Photo.JPG", ""},
		{"GET", "/IMG/arton12.jpg", ""},
		{"GET", "/IMG/photo-php.png", ""},
		{"GET", "/index.php", ""},
		{"GET", "/wp-content/themes/x/functions.php", ""},
		{"GET", "/wp-content/uploads/../themes/x/style.php", ""},
	}
	var res classify.Result
	for _, tc := range cases {
		decoded, err := url.PathUnescape(tc.raw)
		if err != nil {
			t.Fatalf("%s: %v", tc.raw, err)
		}
		view := normalize.Of("member.example.org", decoded)
		req := classify.Request{IP: netip.MustParseAddr("90.0.0.7"), UserAgent: firefox, Host: view.Host,
			Method: tc.method, Path: view.Script}
		c.Classify(&req, &res)
		var got []string
		for _, r := range res.Rules {
			if !r.IsIdentity() && !r.IsResponse() && r.Name != "post-burst" {
				got = append(got, r.Name)
			}
		}
		if tc.want == "" && len(got) > 0 || tc.want != "" && !slices.Contains(got, tc.want) {
			t.Errorf("%s %s (script %s): policy rules %v, want %q", tc.method, tc.raw, view.Script, got, tc.want)
		}
	}
}
