package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/reloadtest"
)

// TestReloadAppliesEditedRuleFile: `floodgate reload` with an unchanged Caddyfile applies an
// edited local rule file (issue 10: Caddy skipped the identical config, rc 0, the old rule
// kept blocking; only --force applied it). The adapter embeds the files' content hash.
func TestReloadAppliesEditedRuleFile(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "member site\n")
	}))
	defer up.Close()
	dir := t.TempDir()
	local := filepath.Join(dir, "local.yaml")
	writeBlock := func(path string) {
		rule := "rules:\n  - name: local-block\n    match:\n      path: [" + path + "]\n    action: block\n"
		if err := os.WriteFile(local, []byte(rule), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeBlock("/foo")
	listen, admin := freePort(t), freePort(t)
	caddyfile := filepath.Join(dir, "Caddyfile")
	cf := "{\n\tadmin " + admin + "\n\tpersist_config off\n\tfloodgate {\n\t\trules " + local + "\n\t}\n}\nhttp://" + listen +
		" {\n\tfloodgate\n\treverse_proxy " + up.Listener.Addr().String() + "\n}\n"
	if err := os.WriteFile(caddyfile, []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + t.TempDir(), "XDG_DATA_HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}
	cmd := exec.Command(bin, "run", "--config", caddyfile)
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("floodgate logs:\n%s", logs.String())
		}
	}()
	status := func(path string) int {
		var err error
		for i := 0; i < 100; i++ { // up to 10s for the server to come up
			var resp *http.Response
			if resp, err = http.Get("http://" + listen + path); err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("floodgate never answered: %v", err)
		return 0
	}
	if a, b := status("/foo"), status("/bar"); a != 403 || b != 200 {
		t.Fatalf("before the edit: /foo %d, /bar %d; want 403, 200", a, b)
	}
	writeBlock("/bar")
	if _, errOut, code := run(t, nil, env, "reload", "--config", caddyfile, "--address", admin); code != 0 {
		t.Fatalf("floodgate reload: exit %d: %s", code, errOut)
	}
	// The reload returns before the old configuration's listener closes; until it does, the old
	// rules may answer (see internal/reloadtest).
	reloadtest.OldListenerGone(t, reloadtest.Port(t, listen))
	if a, b := status("/foo"), status("/bar"); a != 200 || b != 403 {
		t.Fatalf("after the edit and floodgate reload: /foo %d, /bar %d; want 200, 403", a, b)
	}
}

// TestCaddyfileExampleTrustsProxiesStrictly: Caddyfile.example, adapted by floodgate, trusts
// proxies only with trusted_proxies_strict (the right-most untrusted X-Forwarded-For entry is
// the client; see TestClientCannotPickItsAddress in modules/floodgate for why).
func TestCaddyfileExampleTrustsProxiesStrictly(t *testing.T) {
	out, errOut, code := run(t, nil, []string{"FLOODGATE_TRUSTED_PROXIES=10.0.0.0/8"}, "adapt", "--config", "../../Caddyfile.example")
	if code != 0 {
		t.Fatalf("floodgate adapt: exit %d: %s", code, errOut)
	}
	for _, want := range []string{`"trusted_proxies":{"ranges":["10.0.0.0/8"],"source":"static"}`, `"trusted_proxies_strict":1`} {
		if !strings.Contains(out, want) {
			t.Errorf("adapted Caddyfile.example lacks %s:\n%s", want, out)
		}
	}
}

// TestRulesCheckWarns: what loads but deserves a look is a warning on stderr, exit 0: networks
// skipped from a range file (a documentation network), and path rules past their documented
// cost (rules.PathRuleWarnAt).
func TestRulesCheckWarns(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nets.txt"), []byte("45.32.0.0/16\n192.0.2.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("ranges:\n  cloud:\n    files: [nets.txt]\nrules:\n")
	for i := range 1001 {
		fmt.Fprintf(&b, "  - name: r%d\n    match:\n      path: [/site%d/wp-login.php]\n    action: block\n", i, i)
	}
	file := filepath.Join(dir, "many.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, nil, nil, "rules", "check", file)
	if code != 0 || !strings.HasPrefix(out, "ok: 1 files") {
		t.Fatalf("rules check: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, want := range []string{
		"warning: " + filepath.Join(dir, "nets.txt") + ":2: 192.0.2.0/24 is a documentation network",
		"warning: 1001 rules match on paths",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if _, errOut, _ := run(t, nil, nil, "rules", "check", "shipped"); strings.Contains(errOut, "warning") {
		t.Errorf("the shipped rules warn:\n%s", errOut)
	}
}
