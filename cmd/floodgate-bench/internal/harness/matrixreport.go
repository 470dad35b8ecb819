package harness

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// CellArm is one arm of one cell, with issue 11's targets checked on it.
type CellArm struct {
	ArmReport
	// Checks are the targets, checked on this arm.
	Checks []Check `json:"checks"`
	// Load1 is the machine's one-minute load average when the arm started (other users
	// of the machine make the figures noisy).
	Load1 float64 `json:"load1_at_start"`
}

// CellReport is the result of one cell.
type CellReport struct {
	// Cell is the scenario's definition.
	Cell Cell `json:"cell"`
	// Config is the traffic it made.
	Config Scenario `json:"config"`
	// CapacityRPS is the backend's capacity in pages per second.
	CapacityRPS float64 `json:"capacity_rps"`
	// Arms are plain Caddy, then floodgate.
	Arms []CellArm `json:"arms"`
}

// Arm returns the arm named name, or nil.
func (c *CellReport) Arm(name string) *CellArm {
	for i := range c.Arms {
		if c.Arms[i].Name == name {
			return &c.Arms[i]
		}
	}
	return nil
}

// MatrixSummary counts which targets the floodgate arm met.
type MatrixSummary struct {
	// Cells is how many cells ran; Met how many met every target through floodgate.
	Cells int `json:"cells"`
	// Met counts the cells whose floodgate arm met every target.
	Met int `json:"met"`
	// Missed lists, per missed target, "cell: got vs want".
	Missed []string `json:"missed"`
	// PlainMet counts the cells whose plain-Caddy arm met every target.
	PlainMet int `json:"plain_met"`
}

// MatrixReport is the result of the matrix.
type MatrixReport struct {
	// Scenario is "matrix".
	Scenario string `json:"scenario"`
	// Started is when the run started.
	Started time.Time `json:"started"`
	// Machine is where it ran.
	Machine Machine `json:"machine"`
	// Seed drove the traffic.
	Seed uint64 `json:"seed"`
	// Calm and Flood are every cell's phase lengths.
	Calm time.Duration `json:"calm_ns"`
	// Flood is the flood phase's length.
	Flood time.Duration `json:"flood_ns"`
	// Cells are the results, in run order.
	Cells []CellReport `json:"cells"`
	// Summary counts the targets met.
	Summary MatrixSummary `json:"summary"`
	// Command reproduces the run.
	Command string `json:"command"`
	// Tree is the floodgate source the binary was built from.
	Tree string `json:"tree"`
	// Note says anything the reader must know about this run (which main, say).
	Note string `json:"note,omitempty"`
	// History says whether the regulars' jars held their earlier days' visitor cookie.
	History bool `json:"history"`
	// FloodProcess is true when each arm's flood ran in a process of its own (floodproc.go).
	FloodProcess bool `json:"flood_process"`
}

// Summarize fills r.Summary from the cells' checks.
func (r *MatrixReport) Summarize() {
	s := MatrixSummary{Cells: len(r.Cells)}
	for _, c := range r.Cells {
		if p := c.Arm(ArmPlain); p != nil && allOK(p.Checks) {
			s.PlainMet++
		}
		f := c.Arm(ArmFloodgate)
		if f == nil {
			continue
		}
		if allOK(f.Checks) {
			s.Met++
		}
		for _, ch := range f.Checks {
			if !ch.OK {
				s.Missed = append(s.Missed, fmt.Sprintf("%s: %s %s (target %s)", c.Cell.Name, ch.Target, checkValue(ch, ch.Got), checkValue(ch, ch.Want)))
			}
		}
	}
	r.Summary = s
}

// checkValue formats a check's value: a share as a percentage, a ratio as N×.
func checkValue(c Check, v float64) string {
	if strings.Contains(c.Target, "/") {
		return fmt.Sprintf("%.2f×", v)
	}
	return pct2(v)
}

// pct2 formats a share with two decimals.
func pct2(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

// checksLine summarises checks in one line.
func checksLine(cs []Check) string {
	var parts []string
	for _, c := range cs {
		mark := "ok"
		if !c.OK {
			mark = "MISSED"
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", c.Target, checkValue(c, c.Got), mark))
	}
	return strings.Join(parts, "; ")
}

// armLabel names an arm in the tables.
func armLabel(name string) string {
	if name == ArmFloodgate {
		return "floodgate (shipped)"
	}
	return "plain Caddy"
}

// Markdown renders the matrix: one table of every cell and arm, the targets, then per
// population and what floodgate did.
func (r *MatrixReport) Markdown() string {
	var b strings.Builder
	b.WriteString("# floodgate-bench: the scenario matrix\n\n")
	fmt.Fprintf(&b, "Run %s on %d CPUs (%s), load average %.2f at start; floodgate %s; seed %d; each arm of each cell: %v calm, then %v flood. Reproduce: `%s`\n\n",
		r.Started.UTC().Format(time.RFC3339), r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Load1, r.Tree, r.Seed, r.Calm, r.Flood, r.Command)
	if r.Note != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Note)
	}
	if r.History {
		b.WriteString("Regulars' history: in the floodgate arm, each regular's jar starts with the visitor cookie of its visits on earlier days (3 visits, the last a day ago), signed with the pass key the arm is given (`FLOODGATE_PASS_KEY`) and bound as floodgate binds it (network, browser, site) — the benchmark cannot wait the days it takes to earn one. New visitors' jars start empty.\n\n")
	} else {
		b.WriteString("Regulars' history: none — every jar starts empty; in the flood a regular holds only what the proxy set during the calm phase.\n\n")
	}
	if r.FloodProcess {
		b.WriteString("The flood's clients ran in a process of their own (`-flood-process`, the default since session 4): an attacker's CPU is not the host's; both arms alike. The harness process holds the backend, the people's clients and Googlebot.\n\n")
	} else {
		b.WriteString("The flood's clients ran in the harness process, with the backend and the people's clients (`-flood-process=false`; before session 4, every run).\n\n")
	}
	b.WriteString("The floodgate arm runs `Caddyfile.example` as shipped (no caps, no settings): the harness fills in only the listen port, the upstream, " +
		"the trusted proxy (127.0.0.1), the admin port, the generated ASN database, and — two proxies only — the shared Redis and pass key; " +
		"and binds to loopback. The plain arm is the same file without its floodgate blocks (same access log, metrics, error pages). " +
		"Backends: PHP-like workers behind a queue where a request waits at most 500 ms (then 504); 40 sites, the flood targets the first 8 (a POST burst: site 0). " +
		"People are humans with cookie jars who follow meta refresh: regulars browsing from the start of calm to the end (in the flood: *returning*, their jar holds what the proxy set in calm; in a flash crowd, on the crowded site) " +
		"and new visitors (sessions of a few pages, jar empty when they begin); Googlebot 4 req/s throughout. " +
		"p95 is over people's successful requests (pages with refreshes counted as one visit, and assets), flood phase against calm phase.\n\n")

	b.WriteString("## All cells\n\n| cell | backend | load | mix | arm | people served | p95 calm → flood | returning served | new served | sites not attacked p95 | backend busy | targets | load avg |\n|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, c := range r.Cells {
		for _, a := range c.Arms {
			quiet := "—"
			if !c.Cell.Flash() || a.QuietSitesFlood.Requests > 0 {
				quiet = fmt.Sprintf("%s → %s ms (%.2f×)", ms(a.QuietSitesCalm.Latency.P95), ms(a.QuietSitesFlood.Latency.P95), ratio(a.QuietSitesFlood.Latency.P95, a.QuietSitesCalm.Latency.P95))
			}
			fmt.Fprintf(&b, "| %s | %d × %v | %s | %s | %s | %s | %s → %s ms (%.2f×) | %s | %s | %s | %s | %s | %.1f |\n",
				c.Cell.Name, c.Cell.Workers, c.Cell.Page, c.Cell.LoadLabel(), c.Cell.Mix, armLabel(a.Name),
				pct2(a.HumansFlood.SuccessRate), ms(a.HumansCalm.Latency.P95), ms(a.HumansFlood.Latency.P95), ratio(a.HumansFlood.Latency.P95, a.HumansCalm.Latency.P95),
				pct2(a.ReturningFlood.SuccessRate), pct2(a.NewFlood.SuccessRate), quiet, pct(a.BackendBusy), targetsCell(a.Checks), a.Load1)
		}
	}

	s := r.Summary
	fmt.Fprintf(&b, "\n## Targets (issue 11, shipped defaults)\n\nEvery flood: people ≥ 99.5%% served and p95 ≤ 1.5× calm; sites not attacked p95 ≤ 1.2× calm. Flash crowd: ≥ 95%% of the backend's capacity used, returning visitors ≥ 99.5%% served.\n\n")
	fmt.Fprintf(&b, "- floodgate as shipped met every target in **%d of %d** cells (plain Caddy: %d of %d).\n", s.Met, s.Cells, s.PlainMet, s.Cells)
	for _, m := range s.Missed {
		fmt.Fprintf(&b, "- missed: %s\n", m)
	}

	b.WriteString(calmSection(r))
	b.WriteString(timeSection(r))

	b.WriteString("\n## Flood phase, per population\n\nsent / served (2xx-3xx) / refused by the proxy (403, 429) / failed at the backend (503, 504, errors) / share of the backend's worker time.\n\n| cell | arm | population | sent | served | 403 | 429 | 503/504/err | worker share |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range r.Cells {
		for _, a := range c.Arms {
			for _, cr := range a.Classes {
				if cr.Sent == 0 {
					continue
				}
				o := cr.Outcomes
				fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d | %d | %d | %s |\n", c.Cell.Name, a.Name, cr.Class, cr.Sent, o[OK], o[Blocked], o[Throttled],
					o[Unavailable]+o[GatewayTimeout]+o[Failed]+o[OtherStatus]+o[Dropped], pct(cr.WorkerShare))
			}
		}
	}

	b.WriteString("\n## What floodgate did\n\nUnder-attack switches (log lines) and when the first came, from the start of the flood; the learned limit (first proxy, polled every 0.5 s: median over the second half of calm → median over the flood, and its least in the flood) against the backend's workers, the healthy latency it learned (median over the flood) against the page cost; requests by tier and result at the end of the run (every proxy).\n\n| cell | under-attack switches | first switch | workers | limit calm → flood (least) | baseline / page | admission results |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, c := range r.Cells {
		f := c.Arm(ArmFloodgate)
		if f == nil {
			continue
		}
		first := "—"
		if f.FirstSwitch != nil {
			first = fmt.Sprintf("%+.1f s", *f.FirstSwitch)
		}
		limit, base := admissionLimit(f.Admission), "—"
		if l := f.Limit; l != nil {
			limit = fmt.Sprintf("%g → %g (%d)", l.Calm, l.Flood, l.FloodMin)
			base = fmt.Sprintf("%s / %v ms", ms(l.BaselineMs), c.Cell.Page.Milliseconds())
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %s | %s | %s |\n", c.Cell.Name, f.UnderAttack, first, c.Cell.Workers, limit, base, admissionResults(f.Admission))
	}
	return b.String()
}

// targetsCell is the targets column: "met", or which were missed.
func targetsCell(cs []Check) string {
	if allOK(cs) {
		return "**met**"
	}
	var miss []string
	for _, c := range cs {
		if !c.OK {
			miss = append(miss, c.Target)
		}
	}
	return "missed: " + strings.Join(miss, ", ")
}

// admissionLimit lists floodgate_admission_limit of every proxy.
func admissionLimit(ms []MetricLine) string {
	var out []string
	for _, m := range ms {
		if m.Name == "floodgate_admission_limit" {
			out = append(out, fmt.Sprintf("%.0f", m.Value))
		}
	}
	if len(out) == 0 {
		return "—"
	}
	return strings.Join(out, ", ")
}

// admissionResults sums floodgate_admission_total by result (and tier).
func admissionResults(ms []MetricLine) string {
	sum := map[string]float64{}
	for _, m := range ms {
		if m.Name == "floodgate_admission_total" && m.Value > 0 {
			sum[m.Labels["tier"]+" "+m.Labels["result"]] += m.Value
		}
	}
	if len(sum) == 0 {
		return "—"
	}
	keys := make([]string, 0, len(sum))
	for k := range sum {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s %.0f", k, sum[k]))
	}
	return strings.Join(out, ", ")
}

// calmSection compares people's p95 in the calm phase of the floodgate arm with plain
// Caddy's of the same cell: on a calm day nobody should wait for floodgate (issue 11).
func calmSection(r *MatrixReport) string {
	var b strings.Builder
	b.WriteString("\n## Calm days\n\nPeople's p95 in the calm phase, floodgate as shipped against plain Caddy in the same cell: on a calm day nobody should wait for floodgate (about 1×).\n\n| cell | plain Caddy | floodgate | ratio |\n|---|---:|---:|---:|\n")
	for _, c := range r.Cells {
		p, f := c.Arm(ArmPlain), c.Arm(ArmFloodgate)
		if p == nil || f == nil {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s ms | %s ms | %.2f× |\n", c.Cell.Name, ms(p.HumansCalm.Latency.P95), ms(f.HumansCalm.Latency.P95),
			ratio(f.HumansCalm.Latency.P95, p.HumansCalm.Latency.P95))
	}
	return b.String()
}

// timeSection says where people's time went (the backend's part of their latency, as the
// backend said, and the rest: the proxy and the client) and what CPU the processes used in
// the flood.
func timeSection(r *MatrixReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Where people's time goes\n\nPeople's successful requests that reached the backend: their latency, the backend's part (waiting for a worker and working, as the backend measured it) and the rest (the proxy — admission's queue, its CPU — and the client's own process), median / p95, calm → flood. CPU during the flood, in cores of the machine's %d: every proxy process, the harness process (backend, people's clients, Googlebot, and the flood's clients unless they have a process of their own), the flood generator's own process.\n\n", r.Machine.CPUs)
	b.WriteString("| cell | arm | latency calm → flood | backend part | rest | waited in admission (whole run: requests × mean, by tier) | CPU proxy | CPU harness | CPU flood |\n|---|---|---:|---:|---:|---|---:|---:|---:|\n")
	split := func(c, f LatencySummary) string {
		return fmt.Sprintf("%s / %s → %s / %s", ms(c.P50), ms(c.P95), ms(f.P50), ms(f.P95))
	}
	for _, c := range r.Cells {
		for _, a := range c.Arms {
			cpu := [3]string{"—", "—", "—"}
			if a.CPU != nil {
				cpu = [3]string{fmt.Sprintf("%.2f", a.CPU.Proxy), fmt.Sprintf("%.2f", a.CPU.Harness), "—"}
				if a.CPU.Flood > 0 {
					cpu[2] = fmt.Sprintf("%.2f", a.CPU.Flood)
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.Cell.Name, a.Name,
				split(a.TimeCalm.Total, a.TimeFlood.Total), split(a.TimeCalm.Backend, a.TimeFlood.Backend), split(a.TimeCalm.Rest, a.TimeFlood.Rest),
				admissionWaits(a.Admission), cpu[0], cpu[1], cpu[2])
		}
	}
	return b.String()
}

// admissionWaits sums floodgate_admission_wait_seconds by tier (every proxy): how many
// requests waited in admission's queue, and their mean wait.
func admissionWaits(lines []MetricLine) string {
	sum, n := map[string]float64{}, map[string]float64{}
	for _, m := range lines {
		switch m.Name {
		case "floodgate_admission_wait_seconds_sum":
			sum[m.Labels["tier"]] += m.Value
		case "floodgate_admission_wait_seconds_count":
			n[m.Labels["tier"]] += m.Value
		}
	}
	var out []string
	for t := 1; t < len(tierNames); t++ {
		name := tierNames[t]
		if n[name] > 0 {
			out = append(out, fmt.Sprintf("%s %.0f × %s ms", name, n[name], ms(1000*sum[name]/n[name])))
		}
	}
	if len(out) == 0 {
		return "—"
	}
	return strings.Join(out, ", ")
}

// tierNames are floodgate's admission tiers, most trusted first (its metrics' labels).
var tierNames = []string{"", "trusted", "returning", "browser", "new", "automation", "untrusted"}
