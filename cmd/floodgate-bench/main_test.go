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

// TestSmoke runs the whole harness at a tiny scale: it builds floodgate from this tree (or
// takes FLOODGATE_BENCH_BIN), runs both arms of the attack scenario for a few seconds and
// one short overhead round, and checks that the reports hold both arms with sane numbers.
// It asserts no speed: only that the traffic went through and was accounted.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the smoke test starts proxies")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
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
}

func TestRunRejectsBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-scenario", "nope", "-floodgate-bin", "/bin/true", "-out", t.TempDir()}, "expected attack or overhead"},
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
