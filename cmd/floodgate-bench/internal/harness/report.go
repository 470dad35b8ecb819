package harness

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Machine says where the figures come from.
type Machine struct {
	// CPUs is runtime.NumCPU().
	CPUs int `json:"cpus"`
	// CPUModel is the first "model name" of /proc/cpuinfo.
	CPUModel string `json:"cpu_model"`
	// GoVersion is the Go toolchain of the harness.
	GoVersion string `json:"go_version"`
	// Load1 is the one-minute load average when the run started (other users of the machine).
	Load1 float64 `json:"load1_at_start"`
}

// ThisMachine describes the current machine.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.Load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	return m
}

// HumanStats is what humans got in one slice of the run.
type HumanStats struct {
	// Requests counts the requests (pages and assets), dropped ones included.
	Requests int `json:"requests"`
	// SuccessRate is the share answered 2xx/3xx.
	SuccessRate float64 `json:"success_rate"`
	// Latency is over the successful requests (a fast 503 must not make an outage look
	// fast; failures count in SuccessRate).
	Latency LatencySummary `json:"latency"`
	// PageLatency is over the successful pages only (the dynamic requests).
	PageLatency LatencySummary `json:"page_latency"`
	// Outcomes counts each outcome.
	Outcomes map[Outcome]int `json:"outcomes"`
	// Refreshed counts the pages that answered with a meta refresh (a cookie challenge, say)
	// which the browser followed; their outcome and latency are the whole visit's.
	Refreshed int `json:"refreshed_pages"`
}

// ClassReport is what one population sent and what it cost the backend in the flood phase.
type ClassReport struct {
	// Class is the population.
	Class Class `json:"class"`
	// Sent counts the requests scheduled in the flood phase (dropped ones included).
	Sent int `json:"sent"`
	// Outcomes counts what the client saw.
	Outcomes map[Outcome]int `json:"outcomes"`
	// SuccessRate is the share answered 2xx/3xx.
	SuccessRate float64 `json:"success_rate"`
	// Latency is over answered requests.
	Latency LatencySummary `json:"latency"`
	// Backend is what the backend counted for this class in the flood phase.
	Backend BackendStats `json:"backend"`
	// WorkerShare is Backend.WorkerSeconds over the backend's worker time in the flood phase.
	WorkerShare float64 `json:"worker_share"`
}

// Bucket is one time slice of the humans' experience.
type Bucket struct {
	// Start is the slice's start, seconds from the run's start.
	Start float64 `json:"start_s"`
	// Requests is how many human requests were sent in it.
	Requests int `json:"requests"`
	// SuccessRate is their share answered 2xx/3xx.
	SuccessRate float64 `json:"success_rate"`
	// P95 is the 95th percentile latency of the successful ones, in ms.
	P95 float64 `json:"p95_ms"`
}

// ArmReport is the result of one arm of the attack scenario.
type ArmReport struct {
	// Name is "plain" or "floodgate".
	Name string `json:"name"`
	// HumansCalm is humans in the calm phase: the baseline.
	HumansCalm HumanStats `json:"humans_calm"`
	// HumansFlood is humans in the flood phase, every site.
	HumansFlood HumanStats `json:"humans_flood"`
	// QuietSitesFlood is humans in the flood phase on the sites the flood does not target.
	QuietSitesFlood HumanStats `json:"quiet_sites_flood"`
	// AttackedSitesFlood is humans in the flood phase on the targeted sites.
	AttackedSitesFlood HumanStats `json:"attacked_sites_flood"`
	// QuietSitesCalm is humans in the calm phase on the sites the flood does not target:
	// the baseline of QuietSitesFlood.
	QuietSitesCalm HumanStats `json:"quiet_sites_calm"`
	// ReturningFlood is the regulars in the flood phase (returning visitors: their cookie
	// jar holds what the proxy set in calm times).
	ReturningFlood HumanStats `json:"returning_flood"`
	// NewFlood is the other humans in the flood phase (new visitors, whose jar began empty).
	NewFlood HumanStats `json:"new_flood"`
	// P95Ratio is humans' flood p95 over their calm p95.
	P95Ratio float64 `json:"p95_ratio"`
	// Classes reports every population in the flood phase.
	Classes []ClassReport `json:"classes"`
	// BackendBusy is the share of the backend's worker time used in the flood phase.
	BackendBusy float64 `json:"backend_busy"`
	// Timeline is humans over time.
	Timeline []Bucket `json:"timeline"`
	// Floodgate holds floodgate_requests_total from the proxy's metrics (empty for plain).
	Floodgate []MetricLine `json:"floodgate_requests,omitempty"`
	// Admission holds the floodgate_admission_* metrics at the end of the run, every proxy
	// of the arm (the learned limit, results by tier); empty for plain Caddy.
	Admission []MetricLine `json:"floodgate_admission,omitempty"`
	// AdmissionTimeline is floodgate's adaptive admission (limit, baseline, in flight,
	// waiting) polled every half second; Limit summarises it. Empty for plain Caddy.
	AdmissionTimeline []AdmissionPoint `json:"admission_timeline,omitempty"`
	// Limit summarises AdmissionTimeline: the learned limit in calm and in the flood.
	Limit *LimitSummary `json:"limit,omitempty"`
	// UnderAttack counts the proxies' "site under attack" log lines (switches on).
	UnderAttack int64 `json:"under_attack_switches,omitempty"`
	// FirstSwitch is when the first site went under attack, in seconds from the start of
	// the flood (negative: during calm); nil when none did.
	FirstSwitch *float64 `json:"first_switch_s,omitempty"`
	// Elapsed is the arm's wall time in seconds.
	Elapsed float64 `json:"elapsed_s"`
	// TimeCalm and TimeFlood split people's latency into the backend's part and the rest
	// (the proxy and the client), in calm and in the flood.
	TimeCalm  TimeSplit `json:"time_calm"`
	TimeFlood TimeSplit `json:"time_flood"`
	// CPU is what the processes used during the flood (nil when not measured).
	CPU *CPUSplit `json:"cpu_flood,omitempty"`
}

// MetricLine is one labelled counter value.
type MetricLine struct {
	// Name is the metric's name.
	Name string `json:"name,omitempty"`
	// Labels are the metric's labels.
	Labels map[string]string `json:"labels"`
	// Value is the counter.
	Value float64 `json:"value"`
}

// ParseMetricLines parses Prometheus text lines `name{a="x",b="y"} value` or `name value`;
// lines that do not parse (comments) are skipped.
func ParseMetricLines(lines []string) []MetricLine {
	var out []MetricLine
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		m := MetricLine{Labels: map[string]string{}}
		rest := l
		if open := strings.IndexByte(l, '{'); open >= 0 {
			close := strings.LastIndexByte(l, '}')
			if close < open {
				continue
			}
			m.Name = l[:open]
			for _, kv := range strings.Split(l[open+1:close], ",") {
				if k, val, ok := strings.Cut(kv, "="); ok {
					m.Labels[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(val), `"`)
				}
			}
			rest = l[close+1:]
		} else {
			name, v, ok := strings.Cut(l, " ")
			if !ok {
				continue
			}
			m.Name, rest = name, v
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			continue
		}
		m.Value = v
		out = append(out, m)
	}
	return out
}

// humanStats summarises the samples that keep says to.
func humanStats(samples []Sample, keep func(*Sample) bool) HumanStats {
	hs := HumanStats{Outcomes: map[Outcome]int{}}
	var lat, page []float64
	ok := 0
	for i := range samples {
		s := &samples[i]
		if s.Class != Humans || !keep(s) {
			continue
		}
		hs.Requests++
		hs.Outcomes[s.Outcome]++
		if s.Refreshed {
			hs.Refreshed++
		}
		if s.Outcome == OK {
			ok++
		}
		if s.Outcome == OK {
			lat = append(lat, float64(s.Latency))
			if !s.Static {
				page = append(page, float64(s.Latency))
			}
		}
	}
	hs.SuccessRate = round4(ratio(float64(ok), float64(hs.Requests)))
	hs.Latency = Summarize(lat)
	hs.PageLatency = Summarize(page)
	return hs
}

// BuildArmReport turns one arm's samples and backend counts into its report. bucket is the
// timeline's slice length.
func BuildArmReport(name string, sc Scenario, res *Results, backend map[string]map[string]BackendStats, bucket time.Duration) ArmReport {
	ar := ArmReport{Name: name, Elapsed: round2(res.Elapsed.Seconds())}
	ar.HumansCalm = humanStats(res.Samples, func(s *Sample) bool { return s.Phase == Calm })
	ar.HumansFlood = humanStats(res.Samples, func(s *Sample) bool { return s.Phase == Flood })
	ar.QuietSitesFlood = humanStats(res.Samples, func(s *Sample) bool { return s.Phase == Flood && !sc.SiteAttacked(int(s.Site)) })
	ar.AttackedSitesFlood = humanStats(res.Samples, func(s *Sample) bool { return s.Phase == Flood && sc.SiteAttacked(int(s.Site)) })
	ar.QuietSitesCalm = humanStats(res.Samples, func(s *Sample) bool { return s.Phase == Calm && !sc.SiteAttacked(int(s.Site)) })
	ar.ReturningFlood = humanStats(res.Samples, func(s *Sample) bool { return s.Phase == Flood && s.Returning })
	ar.NewFlood = humanStats(res.Samples, func(s *Sample) bool { return s.Phase == Flood && !s.Returning })
	ar.P95Ratio = round2(ratio(ar.HumansFlood.Latency.P95, ar.HumansCalm.Latency.P95))
	ar.TimeCalm = timeSplit(res.Samples, func(s *Sample) bool { return s.Phase == Calm })
	ar.TimeFlood = timeSplit(res.Samples, func(s *Sample) bool { return s.Phase == Flood })

	capacity := float64(sc.Pool.Workers) * sc.Flood.Seconds()
	var busy float64
	for _, c := range Classes {
		cr := ClassReport{Class: c, Outcomes: map[Outcome]int{}}
		var lat []float64
		ok := 0
		for i := range res.Samples {
			s := &res.Samples[i]
			if s.Class != c || s.Phase != Flood {
				continue
			}
			cr.Sent++
			cr.Outcomes[s.Outcome]++
			if s.Outcome == OK {
				ok++
			}
			if s.Outcome != Dropped {
				lat = append(lat, float64(s.Latency))
			}
		}
		cr.SuccessRate = round4(ratio(float64(ok), float64(cr.Sent)))
		cr.Latency = Summarize(lat)
		cr.Backend = backend[string(c)][string(Flood)]
		cr.Backend.WorkerSeconds = round2(cr.Backend.WorkerSeconds)
		cr.WorkerShare = round4(ratio(cr.Backend.WorkerSeconds, capacity))
		busy += cr.Backend.WorkerSeconds
		ar.Classes = append(ar.Classes, cr)
	}
	ar.BackendBusy = round4(ratio(busy, capacity))
	ar.Timeline = timeline(res.Samples, sc.Duration(), bucket)
	return ar
}

// timeline slices humans' samples by send time.
func timeline(samples []Sample, total, bucket time.Duration) []Bucket {
	if bucket <= 0 {
		bucket = 2 * time.Second
	}
	n := int(math.Ceil(total.Seconds() / bucket.Seconds()))
	if n < 1 || n > 10000 {
		return nil
	}
	lats := make([][]float64, n)
	reqs, oks := make([]int, n), make([]int, n)
	for i := range samples {
		s := &samples[i]
		if s.Class != Humans {
			continue
		}
		k := int(float64(s.At) / bucket.Seconds())
		if k < 0 || k >= n {
			continue
		}
		reqs[k]++
		if s.Outcome == OK {
			oks[k]++
			lats[k] = append(lats[k], float64(s.Latency))
		}
	}
	out := make([]Bucket, n)
	for k := range out {
		out[k] = Bucket{Start: round2(float64(k) * bucket.Seconds()), Requests: reqs[k], SuccessRate: round4(ratio(float64(oks[k]), float64(reqs[k]))), P95: Summarize(lats[k]).P95}
	}
	return out
}

// Targets are issue 6's targets, checked against the measured figures.
type Targets struct {
	// FloodgateHumansOK: humans ≥ 99% success through floodgate in the flood.
	FloodgateHumansOK bool `json:"floodgate_humans_success_ge_99pct"`
	// FloodgateP95OK: humans' flood p95 ≤ 2× their calm p95 through floodgate.
	FloodgateP95OK bool `json:"floodgate_humans_p95_le_2x_calm"`
	// PlainShowsOutage: plain Caddy misses one of the two (the flood is an outage there).
	PlainShowsOutage bool `json:"plain_shows_outage"`
	// Notes say by how much.
	Notes []string `json:"notes"`
}

// AttackReport is the result of the attack scenario.
type AttackReport struct {
	// Scenario is "attack".
	Scenario string `json:"scenario"`
	// Started is when the run started.
	Started time.Time `json:"started"`
	// Machine is where it ran.
	Machine Machine `json:"machine"`
	// Config is the scenario.
	Config Scenario `json:"config"`
	// CapacityRPS is the backend's capacity in dynamic requests per second.
	CapacityRPS float64 `json:"capacity_rps"`
	// FloodRPS is the flood's offered request rate.
	FloodRPS float64 `json:"flood_rps"`
	// Arms holds one report per arm.
	Arms []ArmReport `json:"arms"`
	// Targets are checked when both arms ran.
	Targets *Targets `json:"targets,omitempty"`
	// Command reproduces the run.
	Command string `json:"command"`
	// Tree is the floodgate source the binary was built from (git commit, "-dirty" with
	// uncommitted changes), or the binary given with -floodgate-bin.
	Tree string `json:"tree"`
}

// Arm returns the arm named name, or nil.
func (r *AttackReport) Arm(name string) *ArmReport {
	for i := range r.Arms {
		if r.Arms[i].Name == name {
			return &r.Arms[i]
		}
	}
	return nil
}

// CheckTargets fills r.Targets from the "plain" and "floodgate" arms, when both ran.
func (r *AttackReport) CheckTargets() {
	p, f := r.Arm("plain"), r.Arm("floodgate")
	if p == nil || f == nil {
		return
	}
	t := &Targets{
		FloodgateHumansOK: f.HumansFlood.SuccessRate >= 0.99,
		FloodgateP95OK:    f.HumansFlood.Latency.P95 <= 2*f.HumansCalm.Latency.P95,
		PlainShowsOutage:  p.HumansFlood.SuccessRate < 0.99 || p.HumansFlood.Latency.P95 > 2*p.HumansCalm.Latency.P95,
	}
	for _, a := range []*ArmReport{f, p} {
		t.Notes = append(t.Notes, fmt.Sprintf("%s: humans in the flood %.2f%% ok (target ≥ 99%%), p95 %.0f ms = %.2f× calm %.0f ms (target ≤ 2×)",
			a.Name, 100*a.HumansFlood.SuccessRate, a.HumansFlood.Latency.P95, a.P95Ratio, a.HumansCalm.Latency.P95))
	}
	r.Targets = t
}

// WriteJSON writes v, indented, to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// pct formats a share as a percentage.
func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }

// ms formats milliseconds.
func ms(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// Markdown renders r as markdown tables.
func (r *AttackReport) Markdown() string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "# floodgate-bench: shared host under attack\n\n")
	fmt.Fprintf(&b, "Run %s on %d CPUs (%s), load average %.2f at start; floodgate %s. Reproduce: `%s`\n\n", r.Started.UTC().Format(time.RFC3339), r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Load1, r.Tree, r.Command)
	fmt.Fprintf(&b, "Backend: %d workers, queue %d, %v per page, %v per static file, %v longest wait → capacity %.0f pages/s. "+
		"%d sites, the flood targets %d. Calm %v (humans + Googlebot), then flood %v at %.0f× capacity (%.0f req/s: AI crawlers %.0f%%, stealth scrapers %.0f%%, POST burst %.0f%%). Seed %d.\n\n",
		c.Pool.Workers, c.Pool.Queue, c.Pool.DynamicCost, c.Pool.StaticCost, c.Pool.QueueTimeout, r.CapacityRPS,
		c.Sites, c.AttackedSites, c.Calm, c.Flood, c.FloodFactor, r.FloodRPS, 100*c.Mix.AI, 100*c.Mix.Stealth, 100*c.Mix.Post, c.Seed)

	b.WriteString("## Humans\n\nLatency is over successful requests (failures count in the success rate); a page that answered with a meta refresh (cookie challenge) counts once, with the whole visit's time. Humans here follow meta refreshes and keep cookies but run no JavaScript: a script or proof-of-work challenge counts as a failure (403).\n\n| arm | phase | requests | success | p50 ms | p95 ms | p99 ms | page p95 ms | 403 | 429 | 503/504 | refreshed pages |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range r.Arms {
		for _, row := range []struct {
			label string
			h     HumanStats
		}{{"calm", a.HumansCalm}, {"flood, all sites", a.HumansFlood}, {"flood, sites not attacked", a.QuietSitesFlood}, {"flood, attacked sites", a.AttackedSitesFlood}} {
			o := row.h.Outcomes
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %d | %d | %d | %d |\n", a.Name, row.label, row.h.Requests, pct(row.h.SuccessRate),
				ms(row.h.Latency.P50), ms(row.h.Latency.P95), ms(row.h.Latency.P99), ms(row.h.PageLatency.P95), o[Blocked], o[Throttled], o[Unavailable]+o[GatewayTimeout], row.h.Refreshed)
		}
	}
	b.WriteString("\n## Flood phase, per population\n\n| arm | population | sent | ok | 429 | 403 | 503 | 504 | errors | dropped | reached backend | served | backend worker time | share of capacity |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range r.Arms {
		for _, cr := range a.Classes {
			o := cr.Outcomes
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.1f s | %s |\n", a.Name, cr.Class, cr.Sent, o[OK], o[Throttled], o[Blocked], o[Unavailable], o[GatewayTimeout], o[Failed]+o[OtherStatus], o[Dropped],
				cr.Backend.Arrived, cr.Backend.Served, cr.Backend.WorkerSeconds, pct(cr.WorkerShare))
		}
		fmt.Fprintf(&b, "| %s | **backend busy** | | | | | | | | | | | | %s |\n", a.Name, pct(a.BackendBusy))
	}
	for _, a := range r.Arms {
		if len(a.Floodgate) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## What floodgate did (%s arm, whole run, floodgate_requests_total by class and action)\n\n| class | action | requests |\n|---|---|---:|\n", a.Name)
		agg := map[[2]string]float64{}
		for _, m := range a.Floodgate {
			agg[[2]string{m.Labels["class"], m.Labels["action"]}] += m.Value
		}
		keys := make([][2]string, 0, len(agg))
		for k := range agg {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
		for _, k := range keys {
			fmt.Fprintf(&b, "| %s | %s | %.0f |\n", k[0], k[1], agg[k])
		}
	}
	if t := r.Targets; t != nil {
		b.WriteString("\n## Targets (issue 6)\n\n")
		fmt.Fprintf(&b, "- floodgate: humans ≥ 99%% success in the flood: **%s**\n", passFail(t.FloodgateHumansOK))
		fmt.Fprintf(&b, "- floodgate: humans' p95 ≤ 2× calm: **%s**\n", passFail(t.FloodgateP95OK))
		fmt.Fprintf(&b, "- plain Caddy shows the outage: **%s**\n", yesNo(t.PlainShowsOutage))
		for _, n := range t.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

func passFail(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// TimeSplit is where people's time went in one phase: of their successful requests that the
// backend served, the backend's part (waiting for a worker and working, as it said) and the
// rest — the proxy (admission's queue, its CPU) and the client's own process.
type TimeSplit struct {
	// Requests counts the samples.
	Requests int `json:"requests"`
	// Total, Backend and Rest summarise the latency, the backend's part and the rest.
	Total   LatencySummary `json:"total"`
	Backend LatencySummary `json:"backend"`
	Rest    LatencySummary `json:"rest"`
}

// timeSplit summarises where the time of the people's requests that keep says to went.
func timeSplit(samples []Sample, keep func(*Sample) bool) TimeSplit {
	var tot, be, rest []float64
	for i := range samples {
		s := &samples[i]
		if s.Class != Humans || s.Outcome != OK || s.Backend < 0 || !keep(s) {
			continue
		}
		tot = append(tot, float64(s.Latency))
		be = append(be, float64(s.Backend))
		rest = append(rest, math.Max(0, float64(s.Latency-s.Backend)))
	}
	return TimeSplit{Requests: len(tot), Total: Summarize(tot), Backend: Summarize(be), Rest: Summarize(rest)}
}

// CPUSplit is the CPU time the processes of an arm used during the flood phase, in cores
// (CPU seconds per second of flood; the machine has Machine.CPUs).
type CPUSplit struct {
	// Proxy is every proxy process of the arm.
	Proxy float64 `json:"proxy_cores"`
	// Harness is the harness process: the backend, the people's clients, Googlebot, and the
	// flood's clients unless they run in a process of their own.
	Harness float64 `json:"harness_cores"`
	// Flood is the flood generator's process when it has one (-flood-process), else 0.
	Flood float64 `json:"flood_cores,omitempty"`
}
