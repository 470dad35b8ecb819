package harness

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

// syntheticArm builds samples where humans succeed calmly at 20 ms, and in the flood succeed
// okFlood of the time at floodMs on quiet sites and always fail on attacked ones.
func syntheticArm(sc Scenario, name string, okFlood int, floodMs float32) ArmReport {
	var ss []Sample
	for i := 0; i < 100; i++ {
		ss = append(ss, Sample{Class: Humans, Phase: Calm, At: float32(i%10) / 2, Latency: 20, Outcome: OK, Site: int16(sc.AttackedSites + i%5)})
	}
	for i := 0; i < 100; i++ {
		o := OK
		if i >= okFlood {
			o = Unavailable
		}
		ss = append(ss, Sample{Class: Humans, Phase: Flood, At: float32(sc.Calm.Seconds()) + 1, Latency: floodMs, Outcome: o, Site: int16(sc.AttackedSites + i%5)})
	}
	for i := 0; i < 20; i++ {
		ss = append(ss, Sample{Class: Humans, Phase: Flood, At: float32(sc.Calm.Seconds()) + 1, Latency: 3, Outcome: Throttled, Site: 0})
	}
	for i := 0; i < 50; i++ {
		ss = append(ss, Sample{Class: AICrawlers, Phase: Flood, At: float32(sc.Calm.Seconds()) + 2, Latency: 1, Outcome: Throttled, Site: 1})
	}
	ss = append(ss, Sample{Class: StealthScrapers, Phase: Flood, Outcome: Dropped})
	backend := map[string]map[string]BackendStats{
		"human":      {"calm": {Arrived: 100, Served: 100, WorkerSeconds: 2}, "flood": {Arrived: 100, Served: 60, WorkerSeconds: 4}},
		"ai-crawler": {"flood": {Arrived: 10, Served: 10, WorkerSeconds: sc.Flood.Seconds() * float64(sc.Pool.Workers) / 4}},
	}
	return BuildArmReport(name, sc, &Results{Samples: ss, Elapsed: 3 * time.Second}, backend, 2*time.Second)
}

func TestBuildArmReport(t *testing.T) {
	sc := DefaultScenario()
	a := syntheticArm(sc, "plain", 60, 400)
	if a.HumansCalm.Requests != 100 || a.HumansCalm.SuccessRate != 1 || a.HumansCalm.Latency.P95 != 20 {
		t.Errorf("calm humans = %+v, want 100 requests, all ok, p95 20", a.HumansCalm)
	}
	if a.HumansFlood.Requests != 120 || a.HumansFlood.SuccessRate != 0.5 {
		t.Errorf("flood humans: %d requests %.4f ok, want 120 and 0.5", a.HumansFlood.Requests, a.HumansFlood.SuccessRate)
	}
	if a.HumansFlood.Latency.Count != 60 || a.HumansFlood.Latency.P95 != 400 {
		t.Errorf("flood latency %+v: want only the 60 successes, p95 400", a.HumansFlood.Latency)
	}
	if a.QuietSitesFlood.SuccessRate != 0.6 || a.AttackedSitesFlood.SuccessRate != 0 || a.AttackedSitesFlood.Outcomes[Throttled] != 20 {
		t.Errorf("quiet %.2f attacked %.2f (%v), want 0.6 and 0 with 20 throttled", a.QuietSitesFlood.SuccessRate, a.AttackedSitesFlood.SuccessRate, a.AttackedSitesFlood.Outcomes)
	}
	if a.P95Ratio != 20 {
		t.Errorf("p95 ratio %v, want 400/20 = 20", a.P95Ratio)
	}
	var ai, stealth ClassReport
	for _, c := range a.Classes {
		switch c.Class {
		case AICrawlers:
			ai = c
		case StealthScrapers:
			stealth = c
		}
	}
	if ai.Sent != 50 || ai.Outcomes[Throttled] != 50 || ai.WorkerShare != 0.25 || ai.Backend.Arrived != 10 {
		t.Errorf("AI crawlers = %+v, want 50 sent and throttled, 10 at the backend, 25%% of worker time", ai)
	}
	if stealth.Sent != 1 || stealth.Outcomes[Dropped] != 1 || stealth.Latency.Count != 0 {
		t.Errorf("stealth = %+v, want one dropped request and no latency sample", stealth)
	}
	if len(a.Timeline) != int(sc.Duration()/(2*time.Second)) {
		t.Errorf("timeline has %d buckets, want %d", len(a.Timeline), sc.Duration()/(2*time.Second))
	}
	if a.Timeline[0].Requests != 40 || a.Timeline[0].SuccessRate != 1 {
		t.Errorf("first bucket %+v, want 40 calm requests all ok", a.Timeline[0])
	}
}

func TestCheckTargetsAndRender(t *testing.T) {
	sc := DefaultScenario()
	r := &AttackReport{Scenario: "attack", Config: sc, Machine: Machine{CPUs: 2, CPUModel: "test <cpu>"}, CapacityRPS: 160, FloodRPS: 1600, Command: "go run ./cmd/floodgate-bench"}
	r.CheckTargets()
	if r.Targets != nil {
		t.Fatal("targets checked with no arms")
	}
	r.Arms = []ArmReport{syntheticArm(sc, "plain", 60, 400), syntheticArm(sc, "floodgate", 100, 30)}
	r.CheckTargets()
	tg := r.Targets
	if tg == nil || !tg.PlainShowsOutage || tg.FloodgateHumansOK || !tg.FloodgateP95OK {
		// floodgate's arm still has the 20 throttled humans on the attacked site: 100/120 ok.
		t.Fatalf("targets = %+v, want outage on plain, floodgate's success missed and p95 met", tg)
	}
	md := r.Markdown()
	for _, want := range []string{"| plain | calm |", "| floodgate | flood, sites not attacked |", "| floodgate | ai-crawler |", "**missed**", "humans in the flood 83.33% ok"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	svg := r.SVG()
	wellFormed(t, svg)
	for _, want := range []string{">plain<", ">floodgate<", "target 99%", "test &lt;cpu&gt;"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back AttackReport
	if err := json.Unmarshal(b, &back); err != nil || len(back.Arms) != 2 || back.Arms[1].HumansFlood.Outcomes[OK] != 100 {
		t.Errorf("JSON round trip: %v, %d arms", err, len(back.Arms))
	}
}

// wellFormed fails the test unless s parses as XML to the end.
func wellFormed(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for i := 0; i < 1e6; i++ {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
	t.Fatal("SVG too long")
}

func TestParseMetricLines(t *testing.T) {
	lines := []string{
		`floodgate_requests_total{action="throttle",class="ai-crawler",rule="GPTBot"} 3067`,
		`floodgate_requests_total{action="pass",class="browser",rule="browser"} 5.377e+03`,
		`floodgate_admission_limit 12`,
		`# HELP floodgate_admission_limit the learned limit`,
		`floodgate_requests_total{action="pass"} not-a-number`,
		`floodgate_admission_limit`,
	}
	got := ParseMetricLines(lines)
	if len(got) != 3 {
		t.Fatalf("parsed %d lines, want 3: %+v", len(got), got)
	}
	if got[2].Name != "floodgate_admission_limit" || got[2].Value != 12 || len(got[2].Labels) != 0 {
		t.Errorf("unlabelled gauge = %+v, want floodgate_admission_limit 12", got[2])
	}
	if got[0].Name != "floodgate_requests_total" || got[0].Labels["class"] != "ai-crawler" || got[0].Labels["action"] != "throttle" || got[0].Value != 3067 {
		t.Errorf("first line = %+v", got[0])
	}
	if got[1].Value != 5377 {
		t.Errorf("second value = %v, want 5377", got[1].Value)
	}
}

// Returning visitors (sessions begun in calm) and new ones (begun in the flood) are reported
// apart, and the sites not attacked get their own calm baseline.
func TestBuildArmReportReturningAndNew(t *testing.T) {
	sc := DefaultScenario()
	quiet := int16(sc.AttackedSites)
	ss := []Sample{
		{Class: Humans, Phase: Calm, Latency: 30, Outcome: OK, Site: quiet, Returning: true},
		{Class: Humans, Phase: Calm, Latency: 90, Outcome: OK, Site: 0, Returning: true},
		{Class: Humans, Phase: Flood, Latency: 40, Outcome: OK, Site: quiet, Returning: true},
		{Class: Humans, Phase: Flood, Latency: 40, Outcome: OK, Site: 0, Returning: true},
		{Class: Humans, Phase: Flood, Latency: 50, Outcome: OK, Site: 0},
		{Class: Humans, Phase: Flood, Latency: 5, Outcome: Unavailable, Site: 0},
	}
	a := BuildArmReport("floodgate", sc, &Results{Samples: ss}, nil, time.Second)
	if a.ReturningFlood.Requests != 2 || a.ReturningFlood.SuccessRate != 1 {
		t.Errorf("returning in the flood = %+v, want 2 requests, all ok", a.ReturningFlood)
	}
	if a.NewFlood.Requests != 2 || a.NewFlood.SuccessRate != 0.5 {
		t.Errorf("new in the flood = %+v, want 2 requests, half ok", a.NewFlood)
	}
	if a.QuietSitesCalm.Requests != 1 || a.QuietSitesCalm.Latency.P95 != 30 {
		t.Errorf("quiet sites in calm = %+v, want the one request at 30 ms", a.QuietSitesCalm)
	}
}
