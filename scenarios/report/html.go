package report

import (
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/scenarios"
	"github.com/hsmsim/hsmsim/scenarios/history"
)

// HTML writes one self-contained page for the runs: per run a verdict, the checks, an SVG
// timeline, the workloads, the fault schedule and the event log.
func HTML(w io.Writer, rs []*scenarios.Result) error {
	type page struct {
		Title string
		Pass  bool
		Runs  []runView
	}
	p := page{Title: "hsmsim scenarios", Pass: true}
	for _, r := range rs {
		p.Pass = p.Pass && r.Pass
		p.Runs = append(p.Runs, runView{Result: r, SVG: template.HTML(Timeline(r))})
	}
	if len(rs) == 1 {
		p.Title = "hsmsim scenario " + rs[0].Scenario
	}
	return pageTmpl.Execute(w, p)
}

type runView struct {
	*scenarios.Result
	SVG template.HTML
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"ms": ms,
	"pct": func(a, b int) string {
		if a+b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f%%", 100*float64(b)/float64(a+b))
	},
	"codes": func(m map[string]int) string {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
		}
		return strings.Join(parts, " ")
	},
	"at": func(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:36px;border-top:1px solid #ddd;padding-top:16px}
.pass{color:#fff;background:#2e7d32;padding:2px 8px;border-radius:4px}
.fail{color:#fff;background:#c62828;padding:2px 8px;border-radius:4px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right}tr.bad td{background:#ffebee}
.models{color:#555;font-style:italic}details{margin:8px 0}code{font-size:12px}
svg text{font:11px system-ui,sans-serif}
</style></head><body>
<h1>{{.Title}} {{if .Pass}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}</h1>
{{range .Runs}}
<h2 id="{{.Scenario}}">{{.Scenario}} {{if .Pass}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}</h2>
<p class="models">Models: {{.Models}}</p>
<p>File <code>{{.File}}</code>, seed {{.Seed}}, {{if .Short}}short{{else}}full{{end}} profile, load {{ms .Load}}, wall {{ms .Wall}}.</p>
{{if .Error}}<p class="fail">The run failed: {{.Error}}</p>{{end}}
<h3>Checks</h3>
<table><tr><th>check</th><th>result</th><th>summary</th></tr>
{{range .Checks}}<tr{{if not .Pass}} class="bad"{{end}}><td>{{.Name}}</td><td>{{if .Pass}}ok{{else}}FAIL{{end}}</td><td>{{.Summary}}{{if and (not .Pass) .Details}}<ul>{{range .Details}}<li>{{.}}</li>{{end}}</ul>{{end}}</td></tr>
{{end}}</table>
<h3>Timeline</h3>
{{.SVG}}
<h3>Workloads</h3>
<table><tr><th>workload</th><th>face</th><th>op</th><th>ok</th><th>failed</th><th>error rate</th><th>ops/s</th><th>p50</th><th>p99</th><th>max</th><th title="longest window without a completed operation">idle</th><th>errors</th><th>served by</th></tr>
{{range .Stats}}<tr><td>{{.Name}}</td><td>{{.Face}}</td><td>{{.Op}}</td><td class="num">{{.OK}}</td><td class="num">{{.Failed}}</td><td class="num">{{pct .OK .Failed}}</td><td class="num">{{printf "%.1f" .Rate}}</td><td class="num">{{ms .P50}}</td><td class="num">{{ms .P99}}</td><td class="num">{{ms .Max}}</td><td class="num">{{ms .Idle}}</td><td>{{codes .Codes}}</td><td>{{codes .Nodes}}</td></tr>
{{end}}</table>
<h3>Fault schedule (from seed {{.Seed}})</h3>
<table><tr><th>#</th><th>fault</th><th>when and what</th></tr>
{{range .Schedule}}<tr><td>{{.Seq}}</td><td>{{.Key}}</td><td>{{.Describe}}</td></tr>{{end}}</table>
<h3>Nodes at the end</h3>
<table><tr><th>node</th><th>cluster</th><th>id</th><th>up</th><th>state</th><th>applied</th><th>digest</th></tr>
{{range .Final.Nodes}}<tr><td>{{.Label}}</td><td>{{if .Cluster}}{{.Cluster}}{{else}}scenario{{end}}</td><td>{{.ID}}</td><td>{{.Up}}</td><td>{{.State}}</td><td class="num">{{.Applied}}</td><td><code>{{.Digest}}</code></td></tr>{{end}}</table>
<details><summary>Setup</summary><ul>{{range .Setup}}<li>{{.}}</li>{{end}}</ul></details>
<details><summary>Event log ({{len .Events}} events)</summary><table><tr><th>at</th><th>kind</th><th>name</th><th>detail</th></tr>
{{range .Events}}<tr><td class="num">{{at .At}}</td><td>{{.Kind}}</td><td>{{.Name}}</td><td>{{.Detail}}</td></tr>{{end}}</table></details>
{{end}}
</body></html>
`))

// svg geometry
const (
	svgW    = 1150
	left    = 120
	right   = 20
	panelH  = 90
	laneH   = 14
	laneGap = 4
)

type svgb struct {
	b    strings.Builder
	end  time.Duration
	plot float64
}

func (s *svgb) x(t time.Duration) float64 {
	if s.end <= 0 {
		return left
	}
	return left + s.plot*float64(t)/float64(s.end)
}

func (s *svgb) printf(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

func esc(v string) string { return template.HTMLEscapeString(v) }

var stateColor = map[string]string{
	"ACTIVE": "#66bb6a", "DEGRADED": "#ffa726", "DOWN": "#9e9e9e", "CREATE_IN_PROGRESS": "#42a5f5", "DELETED": "#eeeeee",
	"CONNECTED": "#66bb6a", "CONNECTING": "#42a5f5", "FAILED": "#ef5350", "DISCONNECTED": "#bdbdbd", "DISCONNECTING": "#90caf9",
}

// Timeline draws the run as an SVG: one throughput panel per face, node state lanes, the
// leader lane, key store lanes, faults as shaded bands and actions as dashed lines.
func Timeline(r *scenarios.Result) string {
	s := &svgb{plot: svgW - left - right}
	for _, e := range r.Events {
		s.end = max(s.end, e.At)
	}
	for _, o := range r.Ops {
		s.end = max(s.end, o.End)
	}
	if s.end == 0 {
		return "<p>(no timeline)</p>"
	}
	faces := map[string]bool{}
	for _, o := range r.Ops {
		faces[o.Face] = true
	}
	var nodes, stores []string
	seenN, seenS := map[string]bool{}, map[string]bool{}
	clusterOf := map[string]string{} // node label → restored cluster name
	for _, e := range r.Events {
		if e.Kind == history.EvNode && !seenN[e.Name] {
			seenN[e.Name] = true
			nodes = append(nodes, e.Name)
			clusterOf[e.Name] = e.Fields["cluster"]
		}
		if e.Kind == history.EvKeyStore && !seenS[e.Name] {
			seenS[e.Name] = true
			stores = append(stores, e.Name)
		}
	}
	faceList := slices.Sorted(maps.Keys(faces))
	top := 24.0
	panelsTop := top
	h := top + float64(len(faceList))*(panelH+16) + float64(len(nodes)+1+len(stores))*(laneH+laneGap) + 40
	s.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" role="img">`, svgW, h, svgW, h)
	s.printf(`<rect x="0" y="0" width="%d" height="%.0f" fill="#fff"/>`, svgW, h)
	bottom := h - 28

	// fault bands and action lines (under everything)
	spans := history.Spans(r.Events, r.Load)
	for i, sp := range spans {
		x0, x1 := s.x(sp.From), s.x(sp.To)
		s.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#e53935" fill-opacity="0.12"><title>%s: %s – %s</title></rect>`,
			x0, panelsTop-12, math.Max(1, x1-x0), bottom-panelsTop+12, esc(sp.Label), ms(sp.From), ms(sp.To))
		s.printf(`<text x="%.1f" y="%.1f" fill="#b71c1c">%s</text>`, x0+2, panelsTop-2-float64(i%2)*10+10, esc(sp.Label))
	}
	for _, e := range r.Events {
		if e.Kind != history.EvAction && e.Kind != history.EvSkipped {
			continue
		}
		x := s.x(e.At)
		color := "#6a1b9a"
		if e.Fields["pass"] == "false" || e.Kind == history.EvSkipped {
			color = "#c62828"
		}
		s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="4 3"><title>%s at %s: %s</title></line>`,
			x, panelsTop-12, x, bottom, color, esc(e.Name), ms(e.At), esc(e.Detail))
		s.printf(`<text x="%.1f" y="%.1f" fill="%s">%s</text>`, x+2, bottom-4, color, esc(e.Name))
	}
	for _, e := range r.Events {
		if e.Kind == history.EvPhase && e.Name == "stop" {
			x := s.x(e.At)
			s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000" stroke-width="1"><title>load stopped at %s</title></line>`, x, panelsTop-12, x, bottom, ms(e.At))
		}
	}

	// throughput and errors per face
	bin := binSize(s.end)
	y := top
	for _, face := range faceList {
		nb := int(s.end/bin) + 1
		ok, bad := make([]float64, nb), make([]float64, nb)
		for _, o := range r.Ops {
			if o.Face != face {
				continue
			}
			i := int(o.End / bin)
			if o.Failed() {
				bad[i]++
			} else {
				ok[i]++
			}
		}
		per := float64(time.Second) / float64(bin)
		peak := 1.0
		for i := range ok {
			ok[i] *= per
			bad[i] *= per
			peak = math.Max(peak, math.Max(ok[i], bad[i]))
		}
		peak = niceCeil(peak)
		s.printf(`<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="none" stroke="#ccc"/>`, left, y, s.plot, panelH)
		s.printf(`<text x="4" y="%.1f" font-weight="bold">%s</text><text x="4" y="%.1f">ops/s (ok, errors)</text>`, y+14, esc(face), y+28)
		s.printf(`<text x="%d" y="%.1f" text-anchor="end">%.0f</text><text x="%d" y="%.1f" text-anchor="end">0</text>`, left-4, y+10, peak, left-4, y+panelH)
		var pts []string
		for i := range ok {
			t := time.Duration(i)*bin + bin/2
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", s.x(t), y+panelH-panelH*ok[i]/peak))
			if bad[i] > 0 {
				bh := panelH * bad[i] / peak
				s.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#e53935"><title>%s: %.0f errors/s at %s</title></rect>`,
					s.x(time.Duration(i)*bin), y+panelH-bh, math.Max(1, s.x(bin)-left-1), bh, esc(face), bad[i], ms(time.Duration(i)*bin))
			}
		}
		s.printf(`<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="%s"/>`, strings.Join(pts, " "))
		y += panelH + 16
	}

	// lanes: nodes, leader, key stores
	lane := func(label string) float64 {
		s.printf(`<text x="4" y="%.1f">%s</text>`, y+laneH-3, esc(label))
		ly := y
		y += laneH + laneGap
		return ly
	}
	segments := func(ly float64, kind, name string) {
		var cur string
		var since time.Duration
		flush := func(to time.Duration) {
			if cur == "" {
				return
			}
			state, _, _ := strings.Cut(cur, "/")
			c := stateColor[state]
			if c == "" {
				c = "#ccc"
			}
			x0, x1 := s.x(since), s.x(to)
			s.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s %s from %s to %s</title></rect>`, x0, ly, math.Max(1, x1-x0), laneH, c, esc(name), esc(cur), ms(since), ms(to))
			if x1-x0 > 60 {
				s.printf(`<text x="%.1f" y="%.1f" fill="#000">%s</text>`, x0+3, ly+laneH-3, esc(cur))
			}
		}
		for _, e := range r.Events {
			if e.Kind == kind && e.Name == name {
				flush(e.At)
				cur, since = e.Detail, e.At
			}
		}
		flush(s.end)
	}
	for _, n := range nodes {
		name := "node " + n
		if c := clusterOf[n]; c != "" {
			name += " (" + c + ")"
		}
		segments(lane(name), history.EvNode, n)
	}
	ly := lane("leader")
	s.printf(`<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, left, ly+laneH/2, left+s.plot, ly+laneH/2)
	for _, e := range r.Events {
		if e.Kind == history.EvLeader {
			x := s.x(e.At)
			fill := "#1565c0"
			if e.Detail == "none" {
				fill = "#c62828"
			}
			s.printf(`<path d="M%.1f %.1f l-5 -9 h10 z" fill="%s"><title>leader %s at %s</title></path>`, x, ly+laneH, fill, esc(e.Detail), ms(e.At))
			s.printf(`<text x="%.1f" y="%.1f" fill="%s">%s</text>`, x+5, ly+laneH-3, fill, esc(e.Detail))
		}
	}
	for _, st := range stores {
		ly := lane("store " + st)
		segments(ly, history.EvKeyStore, st)
		for _, e := range r.Events {
			if e.Kind == history.EvKeyStore && e.Name == st {
				s.printf(`<path d="M%.1f %.1f l4 4 l-4 4 l-4 -4 z" fill="#000"><title>%s %s at %s</title></path>`, s.x(e.At), ly+laneH/2-4, esc(st), esc(e.Detail), ms(e.At))
			}
		}
	}

	// time axis
	step := niceStep(s.end)
	for t := time.Duration(0); t <= s.end; t += step {
		x := s.x(t)
		s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999"/><text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, h-24, x, h-20, x, h-8, t)
	}
	s.printf(`</svg>`)
	return s.b.String()
}

func binSize(end time.Duration) time.Duration {
	for _, b := range []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second} {
		if end/b <= 120 {
			return b
		}
	}
	return 10 * time.Second
}

func niceStep(end time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second} {
		if end/s <= 20 {
			return s
		}
	}
	return time.Minute
}

func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
