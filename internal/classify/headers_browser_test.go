package classify

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/browsertest"
)

// chromiumHeaders is the fixture of the headers real Chromium sends when it loads a page,
// captured by TestChromiumHeadersAreConsistent (FLOODGATE_CAPTURE_HEADERS=1 rewrites it).
var chromiumHeaders = filepath.Join("..", "..", "testdata", "headers", "chromium-navigation.json")

// capturedRequest is one request as a browser sent it.
type capturedRequest struct {
	Note      string            `json:"note"`
	UserAgent string            `json:"user_agent"`
	Headers   map[string]string `json:"headers"`
}

// A real headless Chromium loads a page on loopback: the headers it sends are consistent with
// its User-Agent (a browser, not outdated, with Accept-Language and Sec-Fetch-*), and the same
// request with Accept-Language or Sec-Fetch-* removed — what a script copying Chrome's
// User-Agent sends — is not. The headers are compared with the committed fixture.
func TestChromiumHeadersAreConsistent(t *testing.T) {
	chromium := browsertest.Find(t)
	var mu sync.Mutex
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			mu.Lock()
			if got == nil {
				got = r.Clone(r.Context())
			}
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<!doctype html><title>captured</title>"))
	}))
	defer srv.Close()
	browsertest.Browse(t, chromium, srv.URL+"/", "captured", "fr-FR,fr")
	mu.Lock()
	req := got
	mu.Unlock()
	if req == nil {
		t.Fatal("Chromium made no request")
	}
	cap := capturedRequest{Note: "headless Chromium loading http://127.0.0.1/ (a secure context: loopback), captured by TestChromiumHeadersAreConsistent",
		UserAgent: req.UserAgent(), Headers: map[string]string{}}
	var names []string
	for k := range req.Header {
		names = append(names, k)
		cap.Headers[k] = req.Header.Get(k)
	}
	sort.Strings(names)
	t.Logf("Chromium sent %s with headers %v", cap.UserAgent, names)

	if os.Getenv("FLOODGATE_CAPTURE_HEADERS") != "" {
		data, _ := json.MarshalIndent(cap, "", "  ")
		if err := os.MkdirAll(filepath.Dir(chromiumHeaders), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(chromiumHeaders, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(chromiumHeaders)
	if err != nil {
		t.Fatalf("fixture: %v (FLOODGATE_CAPTURE_HEADERS=1 writes it)", err)
	}
	var fixture capturedRequest
	if err := json.Unmarshal(data, &fixture); err != nil {
		t.Fatalf("fixture %s: %v", chromiumHeaders, err)
	}
	// The headers the signal relies on are sent today as in the fixture.
	for _, h := range []string{"Accept-Language", "Sec-Fetch-Mode", "Sec-Fetch-Site"} {
		if req.Header.Get(h) == "" || fixture.Headers[h] == "" {
			t.Errorf("header %s: sent %q, fixture %q; expected both present", h, req.Header.Get(h), fixture.Headers[h])
		}
	}

	c := shippedClassifier(t)
	check := func(name, ua string, h http.Header, wantInconsistent bool) {
		t.Helper()
		var out Result
		// Loopback counts as HTTPS for Sec-Fetch-*: Chromium sends them to secure contexts.
		c.Classify(&Request{IP: ipLocal, UserAgent: ua, Host: "127.0.0.1", Method: "GET", Path: "/", Headers: HeaderFlagsOf(h, true)}, &out)
		if out.Class != "browser" || out.HeadersInconsistent != wantInconsistent || out.Outdated {
			t.Errorf("%s: class %s (rule %s), inconsistent %v, outdated %v; want browser, inconsistent %v, not outdated",
				name, out.Class, out.Rule, out.HeadersInconsistent, out.Outdated, wantInconsistent)
		}
	}
	// Headless Chromium says "HeadlessChrome", which 30-automation.yaml claims: take the
	// User-Agent of the browser it is, as a person's Chrome sends it.
	ua := strings.Replace(req.UserAgent(), "HeadlessChrome", "Chrome", 1)
	fixtureHeaders := http.Header{}
	for k, v := range fixture.Headers {
		fixtureHeaders.Set(k, v)
	}
	check("live Chromium", ua, req.Header, false)
	check("fixture", strings.Replace(fixture.UserAgent, "HeadlessChrome", "Chrome", 1), fixtureHeaders, false)
	for _, drop := range [][]string{{"Accept-Language"}, {"Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-Dest", "Sec-Fetch-User"}} {
		h := req.Header.Clone()
		for _, k := range drop {
			h.Del(k)
		}
		check("without "+strings.Join(drop, ", "), ua, h, true)
	}
}
