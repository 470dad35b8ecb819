package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/floodgate-proxy/floodgate/rules"
)

// bin is the floodgate binary built from this tree for the tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "floodgate-bin")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "floodgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building floodgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, stdin io.Reader, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = stdin
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running floodgate %v: %v", args, err)
	}
	return o.String(), e.String(), 0
}

func TestRulesCheck(t *testing.T) {
	out, errOut, code := run(t, nil, nil, "rules", "check", "shipped")
	if want := fmt.Sprintf("ok: %d files", len(rulefiles.Files())); code != 0 || !strings.HasPrefix(out, want) {
		t.Fatalf("rules check shipped: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	good, _ := filepath.Glob("../../testdata/rules/good/*.yaml")
	if _, errOut, code = run(t, nil, nil, append([]string{"rules", "check"}, good...)...); code != 0 {
		t.Fatalf("rules check on good files: exit %d: %s", code, errOut)
	}
	bad := "../../testdata/rules/bad/rate-period.yaml"
	want, err := os.ReadFile(strings.TrimSuffix(bad, ".yaml") + ".err")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = run(t, nil, nil, "rules", "check", bad)
	if code != 1 || out != "" {
		t.Fatalf("rules check on a bad file: exit %d (want 1), stdout %q", code, out)
	}
	// The golden names the file relative to testdata/rules; the command names it as given.
	wantMsg := strings.ReplaceAll(strings.TrimSpace(string(want)), "bad/", "../../testdata/rules/bad/")
	if strings.TrimSpace(errOut) != wantMsg {
		t.Fatalf("rules check message:\n got %q\nwant %q", strings.TrimSpace(errOut), wantMsg)
	}
}

// TestClassifyManyLines sends 50,000 lines (isbot's fixtures, as bare user agents and as
// JSON objects with addresses) and checks every line gets a sensible answer.
func TestClassifyManyLines(t *testing.T) {
	var fixtures map[string][]string
	data, err := os.ReadFile("../../testdata/isbot-fixtures/browsers.yml")
	if err != nil {
		t.Fatalf("isbot fixtures: %v", err)
	}
	if err := yaml.Unmarshal(data, &fixtures); err != nil {
		t.Fatal(err)
	}
	var uas []string
	for _, list := range fixtures {
		uas = append(uas, list...)
	}
	var in bytes.Buffer
	const n = 50000
	for i := 0; i < n; i++ {
		ua := uas[i%len(uas)]
		if i%2 == 0 {
			line, _ := json.Marshal(map[string]string{"ip": fmt.Sprintf("90.0.%d.%d", i/256%256, i%256), "ua": ua, "host": "example.org", "path": "/"})
			in.Write(line)
		} else {
			in.WriteString(ua)
		}
		in.WriteByte('\n')
	}
	start := time.Now()
	out, errOut, code := run(t, &in, nil, "classify", "--asn-db", "../../testdata/mmdb/test-asn.mmdb")
	t.Logf("classified %d lines in %v", n, time.Since(start))
	if code != 0 {
		t.Fatalf("classify: exit %d: %s", code, errOut)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	lines, browsers, orange := 0, 0, 0
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("line %d is not JSON: %v", lines+1, err)
		}
		for _, k := range []string{"class", "bot", "rule", "asn", "as_org", "prefix"} {
			if _, ok := raw[k]; !ok {
				t.Fatalf("line %d has no %q: %s", lines+1, k, sc.Text())
			}
		}
		lines++
		if raw["class"] == "browser" {
			browsers++
		}
		if raw["as_org"] == "Orange" {
			orange++
		}
	}
	if lines != n {
		t.Fatalf("%d lines out for %d in", lines, n)
	}
	// isbot's browser fixtures hold a few deliberate non-browsers (see rules/shipped_test.go).
	if browsers < n*97/100 {
		t.Errorf("only %d of %d browser fixtures classified as browser", browsers, n)
	}
	if orange != n/2 {
		t.Errorf("%d lines from 90.0.0.0/9 got AS Orange, want %d", orange, n/2)
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestCaddyfileExampleRuns runs `floodgate run --config Caddyfile.example` as a tech would,
// with the environment variables it documents, then `floodgate reload`.
func TestCaddyfileExampleRuns(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "member site\n")
	}))
	defer up.Close()
	listen, admin := freePort(t), freePort(t)
	env := []string{
		"FLOODGATE_LISTEN=" + listen, "FLOODGATE_UPSTREAM=" + up.Listener.Addr().String(),
		"FLOODGATE_ADMIN=" + admin, "HOME=" + t.TempDir(), "XDG_DATA_HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(),
	}
	cmd := exec.Command(bin, "run", "--config", "../../Caddyfile.example")
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
	get := func(ua string) *http.Response {
		req, _ := http.NewRequest("GET", "http://"+listen+"/", nil)
		req.Header.Set("User-Agent", ua)
		var resp *http.Response
		var err error
		for i := 0; i < 100; i++ { // wait up to 10s for the server to come up
			resp, err = http.DefaultClient.Do(req)
			if err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("floodgate never answered: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	const browser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	if s := get(browser).StatusCode; s != 200 {
		t.Fatalf("browser through Caddyfile.example: status %d", s)
	}
	if s := get("sqlmap/1.7").StatusCode; s != 403 {
		t.Fatalf("scanner through Caddyfile.example: status %d, want 403", s)
	}
	_, errOut, code := run(t, nil, env, "reload", "--config", "../../Caddyfile.example", "--address", admin)
	if code != 0 {
		t.Fatalf("floodgate reload: exit %d: %s", code, errOut)
	}
	if s := get(browser).StatusCode; s != 200 {
		t.Fatalf("browser after reload: status %d", s)
	}
}

// TestRulesExport writes the shipped rules into a folder that then loads as they do, and
// never overwrites a tech's files.
func TestRulesExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rules")
	if _, errOut, code := run(t, nil, nil, "rules", "export", dir); code != 0 {
		t.Fatalf("rules export: exit %d: %s", code, errOut)
	}
	want, _, _ := run(t, nil, nil, "rules", "check", "shipped")
	got, errOut, code := run(t, nil, nil, "rules", "check", dir)
	if code != 0 || got != want {
		t.Fatalf("the exported folder checks as %q (exit %d, %s), the shipped rules as %q", got, code, errOut, want)
	}
	// A refreshed range file is used without rebuilding: here, one that drops every range.
	if err := os.WriteFile(filepath.Join(dir, "ranges", "googlebot", "ipv4_merged.txt"), []byte("# emptied\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, _ := run(t, strings.NewReader(`{"ip":"66.249.66.1","ua":"Mozilla/5.0 (compatible; Googlebot/2.1)"}`+"\n"), nil, "classify", "--rules", dir)
	if !strings.Contains(out, `"impostor":true`) {
		t.Errorf("after emptying the exported googlebot ranges, Googlebot from 66.249.66.1 is still verified: %s", out)
	}
	if _, _, code := run(t, nil, nil, "rules", "export", dir); code != 1 {
		t.Errorf("a second export into the same folder: exit %d, want 1 (no overwriting)", code)
	}
}

func TestVersionNamesFloodgateAndCaddy(t *testing.T) {
	out, errOut, code := run(t, nil, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "floodgate ") || !strings.Contains(out, "(Caddy v2.11.") {
		t.Fatalf("floodgate version: exit %d, %q %q; want floodgate's version and Caddy's", code, out, errOut)
	}
}
