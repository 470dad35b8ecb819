package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The messages a tech reads when something is wrong, as the binary prints them.

// writeCaddyfile writes a minimal Caddyfile for floodgate with these global options and
// returns its path.
func writeCaddyfile(t *testing.T, admin, listen, floodgateOpts string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Caddyfile")
	cf := fmt.Sprintf("{\n\tadmin %s\n\tpersist_config off\n\tfloodgate {\n%s\n\t}\n}\nhttp://%s {\n\tfloodgate\n\trespond \"member site\"\n}\n", admin, floodgateOpts, listen)
	if err := os.WriteFile(path, []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// badRuleFile writes a rule file with one error and returns its path and the error's line.
func badRuleFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "local.yaml")
	if err := os.WriteFile(path, []byte("rules:\n  - name: x\n    match: {path: [/a]}\n    action: nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func caddyEnv(t *testing.T) []string {
	return []string{"HOME=" + t.TempDir(), "XDG_DATA_HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}
}

// TestStartWithBrokenRulesSaysNothingStarted: on a first start nothing is running, so the
// message must not promise that a running configuration is kept.
func TestStartWithBrokenRulesSaysNothingStarted(t *testing.T) {
	bad := badRuleFile(t)
	cf := writeCaddyfile(t, "off", freePort(t), "\t\trules shipped "+bad)
	_, errOut, code := run(t, nil, caddyEnv(t), "run", "--config", cf)
	if code == 0 {
		t.Fatal("floodgate run with a broken rule file exited 0")
	}
	if !strings.Contains(errOut, bad+`:4: action \"nope\"`) || !strings.Contains(errOut, "nothing was started") ||
		strings.Contains(errOut, "running configuration is kept") {
		t.Errorf("floodgate run with a broken rule file:\n%s\nwant the file:line problem and \"nothing was started\", no \"running configuration is kept\"", errOut)
	}
}

// TestBadRedisURLSaysStoreOnce: the message names the setting once, not "store: store:".
func TestBadRedisURLSaysStoreOnce(t *testing.T) {
	for _, store := range []string{"redis://:secret@127.0.0.1:notaport/0", "redis://:secret@127.0.0.1:6390/0?nope=1"} {
		cf := writeCaddyfile(t, "off", freePort(t), "\t\tstore "+store)
		_, errOut, code := run(t, nil, caddyEnv(t), "run", "--config", cf)
		if code == 0 {
			t.Fatalf("store %s: floodgate run exited 0", store)
		}
		if strings.Count(errOut, "store:") != 1 || !strings.Contains(errOut, "floodgate: store: bad Redis URL") || strings.Contains(errOut, "secret") {
			t.Errorf("store %s: message %q: want \"floodgate: store: bad Redis URL\" once, without the password", store, errOut)
		}
	}
}

// TestReloadWithBrokenRulesPrintsLikeRulesCheck: a refused reload prints the file:line
// problem as plain lines (no JSON, no escaped quotes or line breaks), exits 1, and the
// running configuration keeps serving.
func TestReloadWithBrokenRulesPrintsLikeRulesCheck(t *testing.T) {
	admin, listen := freePort(t), freePort(t)
	good := writeCaddyfile(t, admin, listen, "\t\trules shipped")
	runFloodgate(t, good)
	get := func() int { return getStatus(t, "http://"+listen+"/", "") }
	if s := get(); s != 200 {
		t.Fatalf("before the reload: status %d", s)
	}
	bad := badRuleFile(t)
	broken := writeCaddyfile(t, admin, listen, "\t\trules shipped "+bad)
	_, errOut, code := run(t, nil, caddyEnv(t), "reload", "--config", broken)
	if code != 1 {
		t.Errorf("reload of a broken config: exit %d, want 1", code)
	}
	wantLine := bad + `:4: action "nope" is not known here, expected one of allow, challenge, block`
	lines := strings.Split(errOut, "\n")
	found := false
	for _, l := range lines {
		found = found || l == wantLine
	}
	if !found || strings.Contains(errOut, `\"`) || strings.Contains(errOut, `\n`) || strings.Contains(errOut, `{"error"`) ||
		!strings.Contains(errOut, "the running configuration is kept") {
		t.Errorf("reload message:\n%s\nwant the line %q on its own, unescaped, and that the running configuration is kept", errOut, wantLine)
	}
	if s := get(); s != 200 {
		t.Errorf("after the refused reload: status %d, want 200 (the running configuration serves)", s)
	}
	// A reload that works still works, and exits 0.
	if _, errOut, code := run(t, nil, caddyEnv(t), "reload", "--config", good, "--force"); code != 0 {
		t.Errorf("reload of a good config: exit %d: %s", code, errOut)
	}
}

func TestHelpNamesFloodgate(t *testing.T) {
	for _, args := range [][]string{{"help", "classify"}, {"classify", "--help"}, {"rules", "export", "--help"}} {
		out, _, code := run(t, nil, nil, args...)
		if code != 0 || strings.Contains(out, "caddy classify") || strings.Contains(out, "caddy rules") ||
			!strings.Contains(out, "Usage:\n  floodgate ") {
			t.Errorf("floodgate %v: exit %d, usage not naming floodgate:\n%s", args, code, out)
		}
	}
}

// TestClassifyResponseRulesAndBadLines: a rule that counts responses (not-found-flood) is
// listed only for a line whose status it counts; an unreadable line gets an error field,
// the lines after it are still answered, and the exit status is 1.
func TestClassifyResponseRulesAndBadLines(t *testing.T) {
	in := strings.Join([]string{
		`{"ip":"192.0.2.1","ua":"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0","path":"/"}`,
		`{"ip":"192.0.2.1","ua":"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0","path":"/x.php","status":404}`,
		`{"ip":"192.0.2.1","ua":"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0","path":"/","status":200}`,
		`{"ip":"192.0.2.1", "ua": `,
		`{"ip":"not-an-ip","ua":"curl/8.0"}`,
		`curl/8.0`,
	}, "\n") + "\n"
	out, errOut, code := run(t, strings.NewReader(in), nil, "classify")
	if code != 1 || !strings.Contains(errOut, "2 input lines could not be read") {
		t.Errorf("classify with 2 bad lines: exit %d, stderr %q; want 1 and the count", code, errOut)
	}
	type classifyOutput struct {
		Class, Error string
		Rules        []string
	}
	var got []classifyOutput
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var o classifyOutput
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		got = append(got, o)
	}
	if len(got) != 6 {
		t.Fatalf("%d output lines for 6 in:\n%s", len(got), out)
	}
	has := func(o classifyOutput) bool {
		for _, r := range o.Rules {
			if r == "not-found-flood" {
				return true
			}
		}
		return false
	}
	if has(got[0]) || !has(got[1]) || has(got[2]) {
		t.Errorf("not-found-flood listed for: no status %v, 404 %v, 200 %v; want only the 404", has(got[0]), has(got[1]), has(got[2]))
	}
	if got[3].Error == "" || got[4].Error == "" || got[5].Error != "" || got[5].Class == "" {
		t.Errorf("bad lines: %+v %+v, line after them: %+v", got[3], got[4], got[5])
	}
}

// runFloodgate runs `floodgate run --config cf` until the test ends.
func runFloodgate(t *testing.T, cf string) {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", cf)
	cmd.Env = append(os.Environ(), caddyEnv(t)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// getStatus GETs url with the User-Agent ua, waiting up to 10s for floodgate to come up, and
// returns the status.
func getStatus(t *testing.T, url, ua string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("User-Agent", ua)
	for i := 0; i < 100; i++ {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return resp.StatusCode
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("floodgate never answered")
	return 0
}
