package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/cmd/floodgate-bench/internal/harness"
)

// TestMain lets the test binary be the matrix's flood process, as the bench binary is
// (-flood-process: it starts itself again with harness.FloodWorkerFlag).
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == harness.FloodWorkerFlag {
		if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSmoke runs the whole harness at a tiny scale: it builds floodgate from this tree (or
// takes FLOODGATE_BENCH_BIN), runs both arms of the attack scenario for a few seconds and
// one short overhead round, and checks that the reports hold both arms with sane numbers.
// It asserts no speed: only that the traffic went through and was accounted.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the smoke test starts proxies")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := t.TempDir()
	common := []string{"-out", out}
	if b := os.Getenv("FLOODGATE_BENCH_BIN"); b != "" {
		common = append(common, "-floodgate-bin", b)
	} else {
		// Build once for both scenarios.
		bin := filepath.Join(t.TempDir(), "floodgate")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "../floodgate")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building floodgate: %v\n%s", err, b)
		}
		common = append(common, "-floodgate-bin", bin)
	}

	var log bytes.Buffer
	args := append([]string{"-scenario", "attack", "-calm", "2s", "-flood", "3s", "-workers", "2", "-dynamic-cost", "10ms",
		"-sites", "6", "-attacked-sites", "2", "-flood-factor", "4", "-think", "200ms", "-search-rate", "5"}, common...)
	if err := run(ctx, args, &log); err != nil {
		t.Fatalf("attack scenario: %v\n%s", err, log.String())
	}
	var rep harness.AttackReport
	readJSON(t, filepath.Join(out, "attack.json"), &rep)
	if len(rep.Arms) != 2 || rep.Arm("plain") == nil || rep.Arm("floodgate") == nil || rep.Targets == nil {
		t.Fatalf("attack report has arms %+v and targets %v, want plain and floodgate with targets checked", armNames(rep.Arms), rep.Targets)
	}
	for _, a := range rep.Arms {
		if a.HumansCalm.Requests == 0 || a.HumansFlood.Requests == 0 {
			t.Errorf("%s: humans sent %d calm and %d flood requests, want both > 0", a.Name, a.HumansCalm.Requests, a.HumansFlood.Requests)
		}
		// The calm phase uses a fifth of the backend: humans must get through.
		if a.HumansCalm.SuccessRate < 0.8 || a.HumansCalm.Latency.P50 <= 0 {
			t.Errorf("%s: calm humans %.2f ok, p50 %v ms; want ≥ 0.8 and a positive latency", a.Name, a.HumansCalm.SuccessRate, a.HumansCalm.Latency.P50)
		}
		for _, c := range a.Classes {
			if c.SuccessRate < 0 || c.SuccessRate > 1 || c.WorkerShare < 0 || c.Backend.Served > c.Backend.Arrived {
				t.Errorf("%s/%s: insane numbers %+v", a.Name, c.Class, c)
			}
			if c.Class == harness.AICrawlers && (c.Sent == 0 || c.Backend.Arrived == 0 && a.Name == "plain") {
				t.Errorf("%s: AI crawlers sent %d, backend saw %d; want traffic", a.Name, c.Sent, c.Backend.Arrived)
			}
		}
	}
	// floodgate is in the loop: the shipped AI-crawler budgets throttle some crawler requests,
	// and plain Caddy throttles none.
	if n := classOf(rep.Arm("floodgate"), harness.AICrawlers).Outcomes[harness.Throttled]; n == 0 {
		t.Errorf("floodgate throttled no AI crawler request; log:\n%s", log.String())
	}
	if n := classOf(rep.Arm("plain"), harness.AICrawlers).Outcomes[harness.Throttled]; n != 0 {
		t.Errorf("plain Caddy throttled %d requests", n)
	}
	if len(rep.Arm("floodgate").Floodgate) == 0 {
		t.Error("no floodgate_requests_total metrics in the floodgate arm")
	}
	for _, f := range []string{"attack.md", "attack.svg", "logs/floodgate.Caddyfile", "logs/plain.Caddyfile"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}

	args = append([]string{"-scenario", "overhead", "-duration", "500ms", "-warmup", "200ms", "-repeats", "1", "-concurrency", "4"}, common...)
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server not on PATH (required when CI is set): %v", err)
		}
		args = append(args, "-no-redis")
	}
	log.Reset()
	if err := run(ctx, args, &log); err != nil {
		t.Fatalf("overhead scenario: %v\n%s", err, log.String())
	}
	var ov harness.OverheadReport
	readJSON(t, filepath.Join(out, "overhead.json"), &ov)
	if len(ov.Arms) < 2 || ov.Arms[0].Name != "plain" {
		t.Fatalf("overhead arms %+v, want plain first and floodgate", ov.Arms)
	}
	for _, a := range ov.Arms {
		if a.MedianRPS <= 0 || a.Non200 != 0 || a.RPSRatio <= 0 {
			t.Errorf("overhead %s: %+v, want requests/s > 0, a ratio, and every answer 200 (the allowed path)", a.Name, a)
		}
	}
	if !strings.Contains(ov.Perf, "perf") {
		t.Errorf("overhead report does not say how instructions were counted: %q", ov.Perf)
	}

	// The matrix, two cells, a calm of two seconds and a flood of four: the closed-loop flood
	// of issue 11 and two proxies sharing one Redis (when redis-server is here). The flood
	// outlasts admission's longest wait (2 s): a request still queued when the run ends is
	// not counted, and with a 2 s flood the AI crawlers, the lowest tier, queued behind the
	// stealth flood until the end and none were counted.
	cells := "issue11,redis2-open-10x-8w50"
	if _, err := exec.LookPath("redis-server"); err != nil {
		cells = "issue11"
	}
	args = append([]string{"-scenario", "matrix", "-cells", cells, "-calm", "2s", "-flood", "4s"}, common...)
	log.Reset()
	if err := run(ctx, args, &log); err != nil {
		t.Fatalf("matrix: %v\n%s", err, log.String())
	}
	var mx harness.MatrixReport
	readJSON(t, filepath.Join(out, "matrix.json"), &mx)
	if len(mx.Cells) != len(strings.Split(cells, ",")) {
		t.Fatalf("matrix ran %d cells, want %s", len(mx.Cells), cells)
	}
	for _, c := range mx.Cells {
		if len(c.Arms) != 2 || c.Arm("plain") == nil || c.Arm("floodgate") == nil {
			t.Fatalf("cell %s: arms %d, want plain and floodgate", c.Cell.Name, len(c.Arms))
		}
		for _, a := range c.Arms {
			want := 3 // people served, their p95, the quiet sites' p95
			if a.Name == "floodgate" {
				want = 4 // and its calm p95 against plain Caddy's
			}
			if a.HumansCalm.Requests == 0 || len(a.Checks) != want {
				t.Errorf("cell %s, %s: %d calm human requests, %d checks; want people measured and %d targets checked", c.Cell.Name, a.Name, a.HumansCalm.Requests, len(a.Checks), want)
			}
			if ai := classOf(&a.ArmReport, harness.AICrawlers); ai.Sent == 0 {
				t.Errorf("cell %s, %s: no AI crawler request in the flood", c.Cell.Name, a.Name)
			}
		}
		if len(c.Arm("floodgate").Floodgate) == 0 {
			t.Errorf("cell %s: no floodgate metrics", c.Cell.Name)
		}
	}
	plain, err := os.ReadFile(filepath.Join(out, "logs", "issue11-plain.Caddyfile"))
	if err != nil || strings.Contains(string(plain), "\tfloodgate") || !strings.Contains(string(plain), "reverse_proxy 127.0.0.1:") {
		t.Errorf("plain Caddyfile of the matrix (%v):\n%s", err, plain)
	}
	if strings.Contains(cells, "redis2") {
		for _, n := range []string{"1", "2"} {
			b, err := os.ReadFile(filepath.Join(out, "logs", "redis2-open-10x-8w50-floodgate"+n+".Caddyfile"))
			if err != nil || !strings.Contains(string(b), "store redis://127.0.0.1:") {
				t.Errorf("proxy %s of the two-proxy cell does not use the shared Redis (%v)", n, err)
			}
		}
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-scenario", "nope", "-floodgate-bin", "/bin/true", "-out", t.TempDir()}, "expected attack, overhead or matrix"},
		{[]string{"-scenario", "matrix", "-cells", "issue11,nope", "-floodgate-bin", "/bin/true", "-out", t.TempDir()}, "unknown cells nope"},
		{[]string{"-mix", "1,2", "-floodgate-bin", "/bin/true", "-out", t.TempDir()}, "-mix"},
		{[]string{"-workers", "0", "-floodgate-bin", "/bin/true", "-out", t.TempDir()}, "workers"},
		{[]string{"stray", "-out", t.TempDir()}, "unexpected arguments"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := run(context.Background(), tt.args, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func armNames(arms []harness.ArmReport) []string {
	var n []string
	for _, a := range arms {
		n = append(n, a.Name)
	}
	return n
}

func classOf(a *harness.ArmReport, c harness.Class) harness.ClassReport {
	for _, cr := range a.Classes {
		if cr.Class == c {
			return cr
		}
	}
	return harness.ClassReport{}
}

// TestHelpIsNotAnError: -h prints the flags and succeeds (a tech asking for help did nothing
// wrong), creating nothing.
func TestHelpIsNotAnError(t *testing.T) {
	for _, h := range []string{"-h", "-help", "--help"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{h}, &out); err != nil || !strings.Contains(out.String(), "-floodgate-options") {
			t.Errorf("run(%s) = %v, output %q; want the usage and no error", h, err, out.String())
		}
	}
}

// TestReproduceLineQuotes: the report's Reproduce command, pasted into a shell, gives the same
// arguments back, a multi-line option and quotes included.
func TestReproduceLineQuotes(t *testing.T) {
	args := []string{"-scenario", "attack", "-out", "bench results/", "-floodgate-options", "protect {\n    backend_max_inflight 8\n}", "-rules", "shipped,/etc/it's.yaml", "-seed", "7"}
	line := shellWords(args)
	got, err := exec.Command("sh", "-c", `eval "set -- $1"; for a in "$@"; do printf '%s\0' "$a"; done`, "sh", line).Output()
	if err != nil {
		t.Fatal(err)
	}
	if back := strings.Split(strings.TrimSuffix(string(got), "\x00"), "\x00"); strings.Join(back, "|") != strings.Join(args, "|") {
		t.Errorf("shellWords(%q) = %s, read back by sh as %q", args, line, back)
	}
	if shellWords([]string{"-seed", "7", "-out", "a/b"}) != "-seed 7 -out a/b" {
		t.Errorf("plain words quoted: %s", shellWords([]string{"-seed", "7", "-out", "a/b"}))
	}
}
