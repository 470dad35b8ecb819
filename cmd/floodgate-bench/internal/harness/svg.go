package harness

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// armColors are the arms' line colors; classColors the populations' bar colors.
var (
	armColors   = map[string]string{"plain": "#d62728", "floodgate": "#1f77b4", "floodgate-memory": "#1f77b4", "floodgate-redis": "#17becf"}
	classColors = map[Class]string{Humans: "#2ca02c", AICrawlers: "#ff7f0e", StealthScrapers: "#9467bd", PostBurst: "#8c564b", SearchEngine: "#17becf"}
)

func armColor(name string) string {
	if c, ok := armColors[name]; ok {
		return c
	}
	return "#555555"
}

// svgDoc is a small SVG writer.
type svgDoc struct{ b strings.Builder }

func (d *svgDoc) f(format string, a ...any) { fmt.Fprintf(&d.b, format, a...) }

func (d *svgDoc) text(x, y float64, size int, anchor, fill, s string) {
	d.f(`<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" fill="%s">%s</text>`+"\n", x, y, size, anchor, fill, html.EscapeString(s))
}

func (d *svgDoc) line(x1, y1, x2, y2 float64, stroke string, width float64, dash string) {
	extra := ""
	if dash != "" {
		extra = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	d.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n", x1, y1, x2, y2, stroke, width, extra)
}

func (d *svgDoc) rect(x, y, w, h float64, fill string) {
	d.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y, math.Max(w, 0), math.Max(h, 0), fill)
}

func (d *svgDoc) polyline(pts [][2]float64, stroke string) {
	if len(pts) == 0 {
		return
	}
	var s strings.Builder
	for _, p := range pts {
		fmt.Fprintf(&s, "%.1f,%.1f ", p[0], p[1])
	}
	d.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2.5" stroke-linejoin="round"/>`+"\n", strings.TrimSpace(s.String()), stroke)
}

// SVG renders the attack report as one chart: humans' success rate and p95 latency over time
// per arm (flood shaded, targets dashed), and the backend's worker time in the flood by
// population per arm.
func (r *AttackReport) SVG() string {
	const W, H = 1010.0, 700.0
	const x0, x1 = 80.0, 700.0
	d := &svgDoc{}
	d.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="DejaVu Sans, Arial, sans-serif">`+"\n", W, H, W, H)
	d.rect(0, 0, W, H, "#ffffff")
	d.text(x0, 28, 20, "start", "#000", "Shared host under attack: what humans get, plain Caddy vs floodgate")
	d.text(x0, 47, 12, "start", "#444", fmt.Sprintf("calm %v (humans, Googlebot), then a flood of %.0f× the backend's capacity (AI crawlers %.0f%%, stealth scrapers %.0f%%, POST burst %.0f%%)",
		r.Config.Calm, r.Config.FloodFactor, 100*r.Config.Mix.AI, 100*r.Config.Mix.Stealth, 100*r.Config.Mix.Post))

	total := r.Config.Duration().Seconds()
	xOf := func(t float64) float64 { return x0 + (x1-x0)*t/total }
	calmEnd := r.Config.Calm.Seconds()

	// Panel A: success rate.
	const aTop, aBot = 85.0, 255.0
	d.text(x0, aTop-10, 14, "start", "#000", "Humans: share of requests answered (per 2 s, by send time)")
	d.rect(xOf(calmEnd), aTop, x1-xOf(calmEnd), aBot-aTop, "#fdecea")
	d.text((xOf(calmEnd)+x1)/2, aBot-8, 12, "middle", "#a33", "flood")
	d.text((x0+xOf(calmEnd))/2, aBot-8, 12, "middle", "#555", "calm")
	yA := func(v float64) float64 { return aBot - (aBot-aTop)*v }
	for _, v := range []float64{0, 0.25, 0.5, 0.75, 1} {
		d.line(x0, yA(v), x1, yA(v), "#dddddd", 1, "")
		d.text(x0-6, yA(v)+4, 11, "end", "#333", fmt.Sprintf("%.0f%%", 100*v))
	}
	d.line(x0, yA(0.99), x1, yA(0.99), "#2ca02c", 1.5, "6,4")
	d.text(x1+4, yA(0.99)+4, 11, "start", "#2ca02c", "target 99%")
	for _, a := range r.Arms {
		var pts [][2]float64
		for _, bk := range a.Timeline {
			if bk.Requests == 0 {
				continue
			}
			pts = append(pts, [2]float64{xOf(bk.Start + 1), yA(bk.SuccessRate)})
		}
		d.polyline(pts, armColor(a.Name))
	}
	d.line(x0, aBot, x1, aBot, "#000", 1, "")

	// Panel B: p95 latency, log scale.
	const bTop, bBot = 300.0, 480.0
	d.text(x0, bTop-10, 14, "start", "#000", "Humans: p95 latency (per 2 s, log scale); dashed = 2× the arm's calm p95")
	d.rect(xOf(calmEnd), bTop, x1-xOf(calmEnd), bBot-bTop, "#fdecea")
	lo, hi := 1.0, 10000.0
	for _, a := range r.Arms {
		for _, bk := range a.Timeline {
			hi = math.Max(hi, bk.P95)
		}
	}
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	yB := func(v float64) float64 {
		v = math.Min(math.Max(v, lo), hi)
		return bBot - (bBot-bTop)*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
	}
	for v := lo; v <= hi; v *= 10 {
		d.line(x0, yB(v), x1, yB(v), "#dddddd", 1, "")
		label := fmt.Sprintf("%.0f ms", v)
		if v >= 1000 {
			label = fmt.Sprintf("%.0f s", v/1000)
		}
		d.text(x0-6, yB(v)+4, 11, "end", "#333", label)
	}
	for _, a := range r.Arms {
		var pts [][2]float64
		for _, bk := range a.Timeline {
			if bk.Requests == 0 || bk.P95 <= 0 {
				continue
			}
			pts = append(pts, [2]float64{xOf(bk.Start + 1), yB(bk.P95)})
		}
		d.polyline(pts, armColor(a.Name))
		if base := a.HumansCalm.Latency.P95; base > 0 {
			d.line(xOf(calmEnd), yB(2*base), x1, yB(2*base), armColor(a.Name), 1.2, "6,4")
		}
	}
	d.line(x0, bBot, x1, bBot, "#000", 1, "")
	for t := 0.0; t <= total+1e-9; t += niceStep(total) {
		d.line(xOf(t), bBot, xOf(t), bBot+4, "#000", 1, "")
		d.text(xOf(t), bBot+17, 11, "middle", "#333", fmt.Sprintf("%.0f s", t))
	}

	// Legend and summary, right column.
	ly := 95.0
	for _, a := range r.Arms {
		d.line(x1+70, ly-4, x1+100, ly-4, armColor(a.Name), 3, "")
		d.text(x1+106, ly, 13, "start", "#000", a.Name)
		d.text(x1+70, ly+18, 11, "start", "#333", fmt.Sprintf("calm: %s ok, p95 %s ms", pct(a.HumansCalm.SuccessRate), ms(a.HumansCalm.Latency.P95)))
		d.text(x1+70, ly+33, 11, "start", "#333", fmt.Sprintf("flood: %s ok, p95 %s ms", pct(a.HumansFlood.SuccessRate), ms(a.HumansFlood.Latency.P95)))
		d.text(x1+70, ly+48, 11, "start", "#333", fmt.Sprintf("quiet sites: %s ok, p95 %s ms", pct(a.QuietSitesFlood.SuccessRate), ms(a.QuietSitesFlood.Latency.P95)))
		ly += 75
	}
	if t := r.Targets; t != nil {
		d.text(x1+70, ly, 12, "start", "#000", "Targets through floodgate:")
		d.text(x1+70, ly+16, 11, "start", okColor(t.FloodgateHumansOK), "humans ≥ 99% ok: "+passFail(t.FloodgateHumansOK))
		d.text(x1+70, ly+31, 11, "start", okColor(t.FloodgateP95OK), "p95 ≤ 2× calm: "+passFail(t.FloodgateP95OK))
		d.text(x1+70, ly+46, 11, "start", "#333", "plain shows outage: "+yesNo(t.PlainShowsOutage))
	}

	// Panel C: worker time by population in the flood.
	const cTop = 545.0
	d.text(x0, cTop-15, 14, "start", "#000", "Backend worker time during the flood, by population (100% = all workers busy)")
	barH := 32.0
	for i, a := range r.Arms {
		y := cTop + float64(i)*(barH+14)
		d.text(x0-6, y+barH/2+4, 12, "end", "#000", a.Name)
		x := x0
		d.rect(x0, y, x1-x0, barH, "#eeeeee")
		for _, cr := range a.Classes {
			// Requests still queued when the flood ends are served after it, so the shares
			// may add up to a little over 100%: clip at the track's end.
			w := math.Min((x1-x0)*cr.WorkerShare, x1-x)
			d.rect(x, y, w, barH, classColors[cr.Class])
			if w > 34 {
				d.text(x+w/2, y+barH/2+4, 11, "middle", "#fff", pct(cr.WorkerShare))
			}
			x += w
		}
	}
	d.text(x1+6, cTop+12, 11, "start", "#333", "100%")
	ly = cTop + float64(len(r.Arms))*(barH+14) + 12
	lx := x0
	for _, c := range Classes {
		d.rect(lx, ly-10, 12, 12, classColors[c])
		d.text(lx+16, ly, 12, "start", "#000", string(c))
		lx += 30 + 8*float64(len(c))
	}
	d.rect(lx, ly-10, 12, 12, "#eeeeee")
	d.text(lx+16, ly, 12, "start", "#000", "idle")
	d.text(x0, H-14, 11, "start", "#666", fmt.Sprintf("floodgate-bench · %d workers × %v/page = %.0f pages/s · %d sites (%d attacked) · seed %d · %d CPUs (%s)",
		r.Config.Pool.Workers, r.Config.Pool.DynamicCost, r.CapacityRPS, r.Config.Sites, r.Config.AttackedSites, r.Config.Seed, r.Machine.CPUs, r.Machine.CPUModel))
	d.f("</svg>\n")
	return d.b.String()
}

func okColor(ok bool) string {
	if ok {
		return "#2ca02c"
	}
	return "#d62728"
}

// niceStep returns a tick step for an axis of length total seconds.
func niceStep(total float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600} {
		if total/s <= 12 {
			return s
		}
	}
	return 1200
}
