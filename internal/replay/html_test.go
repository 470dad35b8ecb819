package replay

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/browsertest"
)

// TestHTMLReportInBrowser writes the report of the real log, opens it in headless Chromium
// from a loopback server that records every request, and checks that it renders (title),
// that the two time charts and the three top-refused lists are there and drawn (pixels of the
// chart colours in a screenshot), and that the page asked for nothing but itself.
func TestHTMLReportInBrowser(t *testing.T) {
	chromium := browsertest.Find(t)
	res, err := Run([]string{filepath.Join("..", "..", "testdata", "access-logs", "apache_logs")}, shipped(t))
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, res, 10); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	if n := strings.Count(html, "<svg"); n != 2 {
		t.Errorf("%d charts, want 2 (by class, by action)", n)
	}
	if n := strings.Count(html, `class="bar"`); n < 100 {
		t.Errorf("%d bars in the charts, want the log's span in bars", n)
	}
	if n := strings.Count(html, `<section class="top">`); n != 3 {
		t.Errorf("%d top-refused lists, want 3", n)
	}
	// Nothing that could reach the network: no scripts, stylesheets, images or fonts by URL.
	if m := regexp.MustCompile(`(?i)<script|<img|<link[^>]+href="(https?:|//)|url\(|@import|src=`).FindString(html); m != "" {
		t.Errorf("the report refers to something outside itself: %q", m)
	}

	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		if r.URL.Path != "/report.html" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page.Bytes())
	}))
	defer srv.Close()
	title, _ := browsertest.Browse(t, chromium, srv.URL+"/report.html", "floodgate replay", "")
	if !strings.Contains(title, "floodgate replay") {
		t.Fatalf("title %q", title)
	}
	mu.Lock()
	if len(asked) != 1 || asked[0] != "/report.html" {
		t.Errorf("the browser asked for %v; want only /report.html (the report must need no network)", asked)
	}
	mu.Unlock()

	// The charts are drawn: a screenshot holds the pass colour and the class colours.
	shot := filepath.Join(t.TempDir(), "report.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--window-size=1000,1100", "--screenshot="+shot, srv.URL+"/report.html")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium screenshot: %v\n%s", err, out)
	}
	img := readPNG(t, shot)
	for _, c := range []struct {
		name    string
		r, g, b uint8
	}{{"pass (green)", 0x59, 0xa1, 0x4f}, {"browser class (blue)", 0x4e, 0x79, 0xa7}} {
		if n := countColour(img, c.r, c.g, c.b); n < 200 {
			t.Errorf("the screenshot has %d pixels of %s: the chart is not drawn", n, c.name)
		}
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// countColour counts pixels within a small distance of the colour (antialiasing).
func countColour(img image.Image, r, g, b uint8) int {
	n := 0
	near := func(a uint32, want uint8) bool { d := int(a>>8) - int(want); return d > -8 && d < 8 }
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, r) && near(pg, g) && near(pb, b) {
				n++
			}
		}
	}
	return n
}
