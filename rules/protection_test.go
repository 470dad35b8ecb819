package rulefiles_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// TestShippedPathRules checks which shipped policy rules apply to requests of member sites:
// expensive paths get their budgets, scripts in upload folders are blocked, POSTs count
// towards the site's quarantine budget, and ordinary pages get none of these.
func TestShippedPathRules(t *testing.T) {
	c := shipped(t, false)
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	cases := []struct {
		method, path, query string
		want                []string // policy rules expected, in set order
	}{
		{"GET", "/", "", nil},
		{"GET", "/2024/05/un-article/", "", nil},
		{"GET", "/", "s=velo", []string{"wp-search"}},
		{"GET", "/", "s%3D=x", nil},
		{"GET", "/spip.php", "page=recherche&recherche=velo", []string{"spip-search"}},
		{"GET", "/", "page=article&id_article=3", nil},
		{"GET", "/spip.php", "page=backend&id_rubrique=2", []string{"spip-feed"}},
		{"POST", "/wp-login.php", "", []string{"wp-login", "post-burst"}},
		{"GET", "/wp-login.php", "", nil},
		{"POST", "/xmlrpc.php", "", []string{"xmlrpc", "post-burst"}},
		{"GET", "/ecrire/", "page=login", []string{"spip-login"}},
		{"GET", "/feed/", "", nil},
		{"GET", "/feed/", "nocache=8812", []string{"feed-with-query"}},
		{"GET", "/category/news/feed/", "x=1", []string{"feed-with-query"}},
		{"GET", "/wp-content/uploads/2024/05/photo.jpg", "", nil},
		{"GET", "/wp-content/uploads/2024/05/wso.php", "", []string{"scripts-in-upload-folders"}},
		{"POST", "/wp-content/uploads/x.phtml", "", []string{"scripts-in-upload-folders"}},
		{"GET", "/IMG/arton12.php", "", []string{"scripts-in-upload-folders"}},
		{"GET", "/IMG/arton12.jpg", "", nil},
		{"GET", "/local/cache-vignettes/L100/x.php", "", []string{"scripts-in-upload-folders"}},
		// Ordinary forms do not count towards a quarantine (issue 10); scripts abuse aims at do.
		{"POST", "/wp-comments-post.php", "", nil},
		{"POST", "/", "wc-ajax=checkout", nil},
		{"POST", "/contact/", "", nil},
		{"POST", "/wp-admin/admin-ajax.php", "", nil},
		{"POST", "/blog/wp-login.php", "", []string{"post-burst"}},
		{"POST", "/wp-content/plugins/x/mailer.php", "", []string{"post-burst"}},
		{"POST", "/wp-admin/async-upload.php", "", []string{"post-burst"}},
		{"POST", "/ecrire/", "page=login", []string{"spip-login", "post-burst"}},
	}
	var res classify.Result
	for _, tc := range cases {
		req := classify.Request{IP: netip.MustParseAddr("90.0.0.7"), UserAgent: firefox, Host: "member.example.org",
			Method: tc.method, Path: tc.path, Query: tc.query}
		c.Classify(&req, &res)
		var got []string
		for _, r := range res.Rules {
			if !r.IsIdentity() && !r.IsResponse() {
				got = append(got, r.Name)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %s?%s: policy rules %v, want %v", tc.method, tc.path, tc.query, got, tc.want)
		}
		if res.Class != rules.ClassBrowser {
			t.Errorf("%s %s: class %s, want browser (paths do not change who is asking)", tc.method, tc.path, res.Class)
		}
	}
	// Every request may count towards the 404 budget once its response is known.
	c.Classify(&classify.Request{UserAgent: firefox, Method: "GET", Path: "/x"}, &res)
	found := false
	for _, r := range res.Rules {
		found = found || (r.IsResponse() && r.Name == "not-found-flood")
	}
	if !found {
		t.Error("the 404-flood response rule does not apply to ordinary requests")
	}
	for _, r := range c.Set().Rules {
		if r.Name == "post-burst" {
			if b := r.Budgets[0]; b.Quarantine == 0 || !slices.Contains(b.Per, rules.KeyHost) {
				t.Errorf("post-burst budget %s: quarantine %v", b.Label, b.Quarantine)
			}
		}
		if strings.HasPrefix(r.Name, "scripts-in") && r.Action != rules.ActionBlock {
			t.Errorf("%s: action %v, want block", r.Name, r.Action)
		}
	}
}
