package harness

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMatrixCoversEveryDimension(t *testing.T) {
	cells := MatrixCells()
	cov := Coverage(cells)
	want := map[string][]string{
		"workers": {"4", "8", "32"},
		"load":    {OpenLoop, ClosedLoopLoad, NoFlood},
		"mix":     {MixAI, MixStealth, MixPost, MixAll, MixCrowd},
		"factor":  {"3", "10", "30"},
		"proxies": {"1", "2"},
	}
	for dim, vs := range want {
		for _, v := range vs {
			if !slices.Contains(cov[dim], v) {
				t.Errorf("no cell has %s = %s (cells cover %v)", dim, v, cov[dim])
			}
		}
	}
	var minPage, maxPage time.Duration = time.Hour, 0
	names := map[string]bool{}
	for _, c := range cells {
		minPage, maxPage = min(minPage, c.Page), max(maxPage, c.Page)
		if names[c.Name] {
			t.Errorf("two cells named %s", c.Name)
		}
		names[c.Name] = true
		sc := c.Scenario(1, 10*time.Second, 20*time.Second)
		if err := sc.Validate(); err != nil {
			t.Errorf("cell %s: %v", c.Name, err)
		}
		if c.Load == ClosedLoopLoad && (sc.Closed.Total() == 0 || sc.FloodFactor != 0) {
			t.Errorf("cell %s: closed loop without workers or with an open flood too", c.Name)
		}
		if c.Flash() && (sc.FlashCrowd == 0 || sc.FloodFactor != 0 || sc.Closed.Total() != 0) {
			t.Errorf("cell %s: a flash crowd with a flood, or without a crowd", c.Name)
		}
		if sc.People < 8 {
			t.Errorf("cell %s: %d regulars, want enough to measure returning visitors", c.Name, sc.People)
		}
	}
	if minPage > 20*time.Millisecond || maxPage < 200*time.Millisecond {
		t.Errorf("pages from %v to %v, want 20 to 200 ms covered", minPage, maxPage)
	}
	// Issue 11's table is a cell: 8 workers × 50 ms, 96 + 96 closed-loop workers, a POST
	// burst, 24 people.
	issue, err := SelectCells(cells, []string{"issue11"})
	if err != nil {
		t.Fatal(err)
	}
	if c := issue[0]; c.Workers != 8 || c.Page != 50*time.Millisecond || c.Closed.AI != 96 || c.Closed.Stealth != 96 || c.Closed.Post == 0 || c.People != 24 {
		t.Errorf("issue11 cell = %+v, want issue 11's scenario", c)
	}
	for _, q := range QuickCells {
		if !names[q] {
			t.Errorf("quick cell %s is not in the matrix", q)
		}
	}
}

func TestSelectCells(t *testing.T) {
	all := MatrixCells()
	got, err := SelectCells(all, nil)
	if err != nil || len(got) != len(all) {
		t.Fatalf("no names: %d cells, %v; want all", len(got), err)
	}
	got, err = SelectCells(all, []string{"flash-3x-8w50", "issue11"})
	if err != nil || len(got) != 2 || got[0].Name != "flash-3x-8w50" || got[1].Name != "issue11" {
		t.Fatalf("two names: %+v, %v; want them in order", got, err)
	}
	if _, err := SelectCells(all, []string{"issue11", "nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown cell: %v, want an error naming it", err)
	}
}

// A flash crowd comes only in the flood phase, on its site, to about FlashCrowd times the
// backend's capacity; regulars start in the calm phase and last the run.
func TestFlashCrowdAndRegulars(t *testing.T) {
	var flash Cell
	for _, c := range MatrixCells() {
		if c.Flash() {
			flash = c
			break
		}
	}
	sc := flash.Scenario(1, 10*time.Second, 20*time.Second)
	sched, err := sc.Build()
	if err != nil {
		t.Fatal(err)
	}
	regulars, crowd := 0, 0
	var crowdWork time.Duration
	for _, s := range sched.Sessions {
		if s.Regular {
			regulars++
			if s.At >= sc.Calm || len(s.Pages) < 20 || s.Site != sc.FlashSite {
				t.Errorf("regular %+v: want a long session from the calm phase on the crowded site", s.At)
			}
		}
		if s.At >= sc.Calm && s.Site == sc.FlashSite {
			crowd++
			for _, p := range s.Pages {
				crowdWork += sc.pageWorkerTime(len(p.Assets))
			}
		}
	}
	if regulars != sc.People {
		t.Errorf("%d long sessions starting in calm, want %d regulars", regulars, sc.People)
	}
	load := crowdWork.Seconds() / (float64(sc.Pool.Workers) * sc.Flood.Seconds())
	if crowd == 0 || load < 0.8*sc.FlashCrowd || load > 1.3*sc.FlashCrowd {
		t.Errorf("flash crowd: %d sessions, %.2f× capacity of work; want about %.1f×", crowd, load, sc.FlashCrowd)
	}
	for _, q := range sched.Requests {
		if q.Class != SearchEngine {
			t.Fatalf("flash crowd cell scheduled a %s request", q.Class)
		}
	}
}

func armWith(success, calmP95, floodP95, quietCalm, quietFlood, returning, busy float64) *ArmReport {
	hs := func(ok, p95 float64) HumanStats {
		return HumanStats{Requests: 1000, SuccessRate: ok, Latency: LatencySummary{Count: 1000, P95: p95}}
	}
	return &ArmReport{
		HumansCalm: hs(1, calmP95), HumansFlood: hs(success, floodP95),
		QuietSitesCalm: hs(1, quietCalm), QuietSitesFlood: hs(1, quietFlood),
		ReturningFlood: hs(returning, floodP95), BackendBusy: busy,
	}
}

func TestCheckArm(t *testing.T) {
	flood := Cell{Name: "f", Load: OpenLoop}
	flash := Cell{Name: "c", Load: NoFlood}
	tests := []struct {
		name   string
		cell   Cell
		arm    *ArmReport
		missed []string
	}{
		{"flood met", flood, armWith(0.996, 100, 150, 100, 120, 1, 0.3), nil},
		{"people refused", flood, armWith(0.994, 100, 100, 100, 100, 1, 0.3), []string{"people served"}},
		{"people slow", flood, armWith(1, 100, 151, 100, 100, 1, 0.3), []string{"people p95 / calm"}},
		{"quiet sites slow", flood, armWith(1, 100, 100, 100, 121, 1, 0.3), []string{"sites not attacked p95 / calm"}},
		{"no calm baseline", flood, armWith(1, 0, 100, 0, 100, 1, 0.3), []string{"people p95 / calm", "sites not attacked p95 / calm"}},
		{"flash met", flash, armWith(0.5, 100, 900, 100, 900, 0.995, 0.95), nil},
		{"flash backend idle", flash, armWith(1, 100, 100, 100, 100, 1, 0.94), []string{"backend capacity used"}},
		{"flash regulars refused", flash, armWith(1, 100, 100, 100, 100, 0.99, 0.99), []string{"returning visitors served"}},
	}
	for _, tt := range tests {
		var missed []string
		for _, c := range CheckArm(tt.cell, tt.arm) {
			if !c.OK {
				missed = append(missed, c.Target)
			}
		}
		if !slices.Equal(missed, tt.missed) {
			t.Errorf("%s: missed %v, want %v", tt.name, missed, tt.missed)
		}
	}
	// No requests at all is no success.
	empty := &ArmReport{}
	if allOK(CheckArm(flood, empty)) || allOK(CheckArm(flash, empty)) {
		t.Error("an arm with no requests met the targets")
	}
}

func TestMatrixSummaryAndMarkdown(t *testing.T) {
	cells := MatrixCells()[:2]
	r := &MatrixReport{Scenario: "matrix", Calm: 10 * time.Second, Flood: 20 * time.Second, Tree: "commit abc", Command: "go run ./cmd/floodgate-bench -scenario matrix"}
	good, bad := armWith(1, 100, 110, 100, 100, 1, 0.3), armWith(0.9, 100, 500, 100, 300, 0.9, 1)
	for i, c := range cells {
		f := *good
		if i == 1 {
			f = *bad
		}
		p := *bad
		p.Name, f.Name = ArmPlain, ArmFloodgate
		f.Admission = []MetricLine{{Name: "floodgate_admission_limit", Value: 7}, {Name: "floodgate_admission_total", Labels: map[string]string{"tier": "untrusted", "result": "shed"}, Value: 40}}
		r.Cells = append(r.Cells, CellReport{Cell: c, Arms: []CellArm{{ArmReport: p, Checks: CheckArm(c, &p)}, {ArmReport: f, Checks: CheckArm(c, &f)}}})
	}
	r.Summarize()
	if r.Summary.Cells != 2 || r.Summary.Met != 1 || r.Summary.PlainMet != 0 || len(r.Summary.Missed) != 3 {
		t.Fatalf("summary %+v, want 2 cells, 1 met through floodgate, 0 through plain, 3 misses", r.Summary)
	}
	if !strings.HasPrefix(r.Summary.Missed[0], cells[1].Name+": people served 90.00%") {
		t.Errorf("first miss %q, want the second cell's people served", r.Summary.Missed[0])
	}
	md := r.Markdown()
	for _, want := range []string{"| " + cells[0].Name + " |", "plain Caddy", "floodgate (shipped)", "**met**", "met every target in **1 of 2**", "| 7 |", "untrusted shed 40", "100 → 110 ms (1.10×)", "## Calm days", "| " + cells[0].Name + " | 100 ms | 100 ms | 1.00× |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if rows := strings.Count(md, "| "+cells[1].Name+" | "); rows < 2 {
		t.Errorf("cell %s has %d rows, want one per arm at least", cells[1].Name, rows)
	}
}

// A broken calm day fails its own check, though the flood checks pass against it: the
// matrix at the end of session 5 counted such a cell as met.
func TestCheckCalm(t *testing.T) {
	plain := armWith(1, 203, 700, 203, 700, 1, 1)
	for _, tt := range []struct {
		name    string
		fgCalm  float64
		wantOK  bool
		wantGot float64
	}{
		{"calm as plain", 205, true, 1.01},
		{"calm broken, flood below it", 1070, false, 5.27},
		{"no calm measured", 0, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fg := armWith(1, tt.fgCalm, 203, tt.fgCalm, 203, 1, 0.3)
			got := CheckCalm(plain, fg)
			if got.OK != tt.wantOK || got.Got != tt.wantGot {
				t.Errorf("CheckCalm = %+v, want ok %v, got %v", got, tt.wantOK, tt.wantGot)
			}
		})
	}
}
