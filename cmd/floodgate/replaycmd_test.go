package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayCommand runs `floodgate replay` on the real log in testdata as a tech would: the
// summary, the HTML report, a comparison, and clear errors for what cannot be read.
func TestReplayCommand(t *testing.T) {
	const log = "../../testdata/access-logs/apache_logs"
	html := filepath.Join(t.TempDir(), "report.html")
	local := filepath.Join(t.TempDir(), "local.yaml")
	if err := os.WriteFile(local, []byte("rules:\n  - name: no-presentations\n    match: {path: [/presentations/**]}\n    action: block\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, nil, nil, "replay", "--html", html, "--compare", "shipped,"+local, "--", log)
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"10000 requests from 2015-05-17T10:05:00Z", "By action:", "By class:", "Would have been refused",
		"impostor:bingbot", "Sites under attack or quarantined:", "Compared with the second rule set:", "pass → block (no-presentations)", "Report written to " + html} {
		if !strings.Contains(out, want) {
			t.Errorf("replay output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "replayed 10000 lines") {
		t.Errorf("stderr %q, want the lines/s line", errOut)
	}
	if b, err := os.ReadFile(html); err != nil || !strings.Contains(string(b), "<svg") {
		t.Errorf("report %s: %v", html, err)
	}
	_, errOut, code = run(t, nil, nil, "replay", "/nonexistent/access.log")
	if code != 1 || !strings.Contains(errOut, "/nonexistent/access.log") {
		t.Errorf("missing log: exit %d, %q", code, errOut)
	}
	_, errOut, code = run(t, nil, nil, "replay", "--rules", "../../testdata/rules/bad/rate-period.yaml", log)
	if code != 1 || !strings.Contains(errOut, "rate-period.yaml:") {
		t.Errorf("bad rule file: exit %d, %q", code, errOut)
	}
}
