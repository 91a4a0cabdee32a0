package server

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// series is one line of a chart: a name and its points (day → value);
// missing days are gaps.
type series struct {
	Name   string
	Points map[time.Time]float64
}

var chartColors = []string{"#1f5fa8", "#d97706", "#1b6e34", "#7c3aed", "#b3261e", "#0e7490"}

// trendChart draws percentages (0–100) per day from `from` for n days as
// an inline SVG line chart with a legend and a text alternative.
func trendChart(title string, from time.Time, n int, ss []series) template.HTML {
	const w, h, left, right, top, bottom = 900.0, 260.0, 44.0, 150.0, 24.0, 28.0
	pw, ph := w-left-right, h-top-bottom
	x := func(i int) float64 { return left + pw*float64(i)/float64(max(1, n-1)) }
	y := func(v float64) float64 { return top + ph*(1-v/100) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" role="img" aria-label="%s">`, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%g" y="14" font-size="13" font-weight="600" fill="#1d2329">%s</text>`, left, template.HTMLEscapeString(title))
	for _, v := range []float64{0, 25, 50, 75, 100} {
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#dde2e6"/><text x="%g" y="%.1f" font-size="10" text-anchor="end" fill="#69737d">%g %%</text>`,
			left, left+pw, y(v), y(v), left-4, y(v)+3, v)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		d := from.AddDate(0, 0, i)
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="10" text-anchor="middle" fill="#69737d">%s</text>`, x(i), h-8, d.Format("2006-01-02"))
	}
	has := false
	for k, s := range ss {
		color := chartColors[k%len(chartColors)]
		var path strings.Builder
		pen := false
		last := -1.0
		for i := 0; i < n; i++ {
			v, ok := s.Points[from.AddDate(0, 0, i)]
			if !ok {
				pen = false
				continue
			}
			has = true
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, x(i), y(v))
			pen, last = true, v
		}
		if path.Len() > 0 {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.TrimSpace(path.String()), color)
		}
		label := s.Name
		if last >= 0 {
			label += fmt.Sprintf(" %.1f %%", last)
		} else {
			label += " (no data)"
		}
		ly := top + 14 + float64(k)*16
		fmt.Fprintf(&b, `<rect x="%g" y="%.1f" width="12" height="3" fill="%s"/><text x="%g" y="%.1f" font-size="11" fill="#1d2329">%s</text>`,
			left+pw+12, ly-4, color, left+pw+28, ly, template.HTMLEscapeString(label))
	}
	if !has {
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" text-anchor="middle" fill="#69737d">no history yet: roll-ups are written while the server runs</text>`, left+pw/2, top+ph/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text in it is escaped above
}
