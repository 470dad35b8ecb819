package replay

import (
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxBars bounds the bars of a time chart: longer logs are drawn in buckets of several
// minutes, each showing its average requests per minute.
const maxBars = 360

// palette colours series in order; refusals get the warm colours by action name below.
var palette = []string{"#4e79a7", "#59a14f", "#9c755f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#bab0ac", "#e15759"}

var actionColour = map[string]string{
	"pass": "#59a14f", "allow": "#8cd17d", "log": "#76b7b2", "delay": "#edc948",
	"challenge": "#f28e2b", "throttle": "#e15759", "block": "#79202a",
}

// chart is one stacked time chart, drawn as inline SVG.
type chart struct {
	Title  string
	SVG    template.HTML
	Legend []legendItem
}

type legendItem struct{ Name, Colour string }

// bars is one horizontal bar list (top refused).
type bars struct {
	Title string
	Rows  []barRow
}

type barRow struct {
	Name  string
	Count int
	Width float64 // percent of the largest
}

// WriteHTML writes a self-contained report: no scripts, no external assets, charts as inline
// SVG, so it opens in any browser with no network.
func WriteHTML(w io.Writer, res *Result, top int) error {
	s := res.Summary
	var text strings.Builder
	if err := s.WriteText(&text, top); err != nil {
		return err
	}
	var cmpText string
	if res.Compare != nil {
		var b strings.Builder
		if err := res.Compare.WriteText(&b, s, top); err != nil {
			return err
		}
		cmpText = b.String()
	}
	classes := Top(s.ByClass, 0)
	classColour := map[string]string{}
	var classNames []string
	for i, c := range classes {
		classNames = append(classNames, c.Name)
		classColour[c.Name] = palette[i%len(palette)]
	}
	var actions []string
	for _, a := range actionOrder {
		if s.ByAction[a] > 0 {
			actions = append(actions, a)
		}
	}
	data := struct {
		Title      string
		Generated  string
		Span       string
		Requests   int
		Charts     []chart
		Bars       []bars
		Events     []Event
		Summary    string
		Comparison string
		Formats    map[string]Format
	}{
		Title:      "floodgate replay",
		Generated:  time.Now().UTC().Format(time.RFC3339),
		Span:       fmt.Sprintf("%s – %s", s.First.UTC().Format("2006-01-02 15:04"), s.Last.UTC().Format("2006-01-02 15:04 MST")),
		Requests:   s.Requests,
		Events:     s.Events,
		Summary:    text.String(),
		Comparison: cmpText,
		Formats:    res.Formats,
	}
	data.Charts = append(data.Charts,
		stackedChart(s, "Requests per minute by class", classNames, classColour, func(m *Minute) map[string]int { return m.ByClass }),
		stackedChart(s, "Requests per minute by action", actions, actionColour, func(m *Minute) map[string]int { return m.ByAction }),
	)
	for _, sec := range []struct {
		title string
		m     map[string]int
	}{{"Top refused bots", s.RefusedBots}, {"Top refused networks", s.RefusedNetworks}, {"Top refused clients", s.RefusedClients}} {
		b := bars{Title: sec.title}
		list := Top(sec.m, top)
		for _, c := range list {
			b.Rows = append(b.Rows, barRow{Name: c.Name, Count: c.Count, Width: 100 * float64(c.Count) / float64(list[0].Count)})
		}
		data.Bars = append(data.Bars, b)
	}
	return reportTemplate.Execute(w, data)
}

// stackedChart draws one bar per minute (or bucket of minutes) from the first request to the
// last, each split by series in order.
func stackedChart(s *Summary, title string, series []string, colour map[string]string, of func(*Minute) map[string]int) chart {
	first, last := s.First.Unix()/60*60, s.Last.Unix()/60*60
	minutes := int((last-first)/60) + 1
	per := (minutes + maxBars - 1) / maxBars // minutes per bar
	n := (minutes + per - 1) / per
	vals := make([][]float64, n)
	peak := 0.0
	for i := range vals {
		vals[i] = make([]float64, len(series))
		for k := 0; k < per; k++ {
			m := s.Minutes[first+int64(i*per+k)*60]
			if m == nil {
				continue
			}
			counts := of(m)
			for j, name := range series {
				vals[i][j] += float64(counts[name]) / float64(per)
			}
		}
		total := 0.0
		for _, v := range vals[i] {
			total += v
		}
		peak = max(peak, total)
	}
	if per > 1 {
		title += fmt.Sprintf(" (bars of %d minutes, average per minute)", per)
	}
	const width, height, left, bottom, top = 900.0, 240.0, 56.0, 28.0, 10.0
	plotW, plotH := width-left-10, height-bottom-top
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="%s">`, width, height, width, height, template.HTMLEscapeString(title))
	scale := niceMax(peak)
	for i := 0; i <= 4; i++ {
		y := top + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/><text x="%g" y="%.1f" font-size="11" text-anchor="end" fill="#555">%s</text>`,
			left, y, width-10, y, left-4, y+4, formatCount(scale*float64(i)/4))
	}
	bw := plotW / float64(n)
	for i, v := range vals {
		y := top + plotH
		for j, x := range v {
			if x <= 0 {
				continue
			}
			h := plotH * x / scale
			y -= h
			fmt.Fprintf(&b, `<rect class="bar" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>%s %s: %.1f/min</title></rect>`,
				left+float64(i)*bw, y, max(bw-0.3, 0.3), h, colour[series[j]],
				time.Unix(first+int64(i*per)*60, 0).UTC().Format("2006-01-02 15:04"), template.HTMLEscapeString(series[j]), x)
		}
	}
	// Time labels: the first, middle and last bar.
	for k, i := range []int{0, n / 2, n - 1} {
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" text-anchor="%s" fill="#555">%s</text>`,
			left+float64(i)*bw+bw/2, height-8, []string{"start", "middle", "end"}[k], time.Unix(first+int64(i*per)*60, 0).UTC().Format("01-02 15:04"))
	}
	b.WriteString(`</svg>`)
	c := chart{Title: title, SVG: template.HTML(b.String())}
	for _, name := range series {
		c.Legend = append(c.Legend, legendItem{name, colour[name]})
	}
	return c
}

// niceMax rounds a chart's peak up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for p > v {
		p /= 10
	}
	for _, f := range []float64{1, 2, 5, 10} {
		if f*p >= v {
			return f * p
		}
	}
	return 10 * p
}

func formatCount(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprint(int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"files": func(m map[string]Format) []string { return slices.Sorted(maps.Keys(m)) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{{.Title}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:960px;color:#222;padding:0 12px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eee}
.barlist td.n{text-align:right;font-variant-numeric:tabular-nums}.barlist div{background:#e15759;height:10px}
pre{background:#f6f6f6;padding:10px;overflow-x:auto;font-size:12px}
</style></head><body>
<h1>{{.Title}}: {{.Requests}} requests, {{.Span}}</h1>
<p>What floodgate would have done with these requests. Logs: {{range $f := files .Formats}}<code>{{$f}}</code> ({{index $.Formats $f}}) {{end}}— report made {{.Generated}}.</p>
{{range .Charts}}<section class="timechart"><h2>{{.Title}}</h2>{{.SVG}}
<p class="legend">{{range .Legend}}<span><i style="background:{{.Colour}}"></i>{{.Name}}</span>{{end}}</p></section>
{{end}}
<h2>Sites under attack or quarantined</h2>
{{if .Events}}<table class="events"><tr><th>when (UTC)</th><th>site</th><th>what</th><th>why</th></tr>
{{range .Events}}<tr><td>{{time .At}}</td><td>{{.Site}}</td><td>{{.Kind}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
{{range .Bars}}<section class="top"><h2>{{.Title}}</h2>{{if .Rows}}<table class="barlist">
{{range .Rows}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td><td style="width:300px"><div style="width:{{printf "%.1f" .Width}}%"></div></td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}</section>
{{end}}
{{if .Comparison}}<h2>Compared with the second rule set</h2><pre>{{.Comparison}}</pre>{{end}}
<h2>Summary</h2><pre>{{.Summary}}</pre>
</body></html>
`))
