// Package browsertest drives a real headless Chromium for tests: it loads a page and waits
// until the page's title says it got where it should. Only loopback URLs are used.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Find returns the path of a Chromium binary. When there is none the test fails if the CI
// environment variable is set (CI must install the Debian package chromium), and is skipped
// otherwise.
func Find(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found and CI is set: install the Debian package chromium")
	}
	t.Skip("chromium not found (install the Debian package chromium); skipped outside CI")
	return ""
}

// Browse loads url in headless Chromium and waits, in real time (Web Workers do not run
// under --virtual-time-budget), until the page's title contains want. It returns the final
// title and URL, read from Chromium's DevTools HTTP endpoint on loopback. acceptLang sets
// the browser's Accept-Language (empty: Chromium's default).
func Browse(t testing.TB, chromium, url, want, acceptLang string) (title, final string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage", "--disable-quic",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--user-data-dir=" + dir}
	if acceptLang != "" {
		args = append(args, "--accept-lang="+acceptLang)
	}
	cmd := exec.CommandContext(ctx, chromium, append(args, url)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	var port string
	for i := 0; i < 600 && port == ""; i++ { // up to 60s
		if b, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort")); err == nil {
			port, _, _ = strings.Cut(string(b), "\n")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if port == "" {
		t.Fatalf("chromium wrote no DevToolsActivePort; stderr:\n%s", stderr.String())
	}
	for i := 0; i < 600; i++ { // up to 60s
		resp, err := http.Get("http://127.0.0.1:" + port + "/json/list")
		if err == nil {
			var targets []struct{ Type, Title, URL string }
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
			for _, tg := range targets {
				if tg.Type == "page" {
					title, final = tg.Title, tg.URL
				}
			}
			if err == nil && strings.Contains(title, want) {
				return title, final
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the page never reached %q; last title %q at %s", want, title, final)
	return
}
