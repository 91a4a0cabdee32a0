package server

import (
	"embed"
	"encoding/csv"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The dashboard is server-rendered: every page is a title, optional
// blocks (figures, an inline SVG chart) and tables. A table is data (a
// header and rows of cells), so the same value renders as HTML and as CSV
// (?csv=TABLE), and numbers and dates are formatted in one place (num,
// pct, dateTime below).
//
// Charts are inline SVG drawn here, not a JavaScript library: no build
// step, nothing to load, a strict Content-Security-Policy (no script
// needed for a chart), and they print as crisply as the text.

//go:embed web
var webFS embed.FS

// Viewer is who is signed in to the dashboard, and with which role
// (store.RoleAdmin or store.RoleViewer).
type Viewer struct {
	Name string
	Role string
}

// cell is one table cell: text, an optional link and CSS class.
type cell struct {
	Text  string
	Href  string
	Class string
	// Num right-aligns the cell.
	Num bool
	// ID is an anchor on the row (set on the first cell).
	ID string
}

// table is a downloadable table.
type table struct {
	// Name is the CSV name (?csv=Name); Title its heading.
	Name, Title string
	Header      []string
	// NumCols marks right-aligned columns by index.
	NumCols map[int]bool
	Rows    [][]cell
	// Empty is shown when there are no rows.
	Empty string
	// Note is shown under the table.
	Note string
}

// figure is a headline number.
type figure struct {
	Label, Value, Class, Href string
}

// page is what the layout renders.
type page struct {
	Title   string
	Nav     string
	Viewer  Viewer
	Now     string
	Figures []figure
	Charts  []template.HTML
	Intro   template.HTML
	// Detail is shown after the tables (a record's content).
	Detail  template.HTML
	Tables  []table
	Form    *filterForm
	Query   string
	Refresh bool
}

// filterForm is the hosts page's search form.
type filterForm struct {
	Q, Ring, Stream, Status, Label string
	Overdue                        bool
	Rings, Streams, Statuses       []string
}

var layout = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("layout.html").Funcs(template.FuncMap{
		"csvHref": func(query, name string) string {
			v, _ := url.ParseQuery(query)
			v.Set("csv", name)
			return "?" + v.Encode()
		},
	}).ParseFS(webFS, "web/layout.html"))
})

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, p page) {
	if name := r.URL.Query().Get("csv"); name != "" {
		for _, t := range p.Tables {
			if t.Name == name {
				writeCSV(w, t)
				return
			}
		}
		http.Error(w, "no table "+name+" on this page", http.StatusNotFound)
		return
	}
	p.Query = r.URL.RawQuery
	p.Now = dateTime(s.now())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; form-action 'self'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := layout().Execute(w, p); err != nil {
		s.log.Error("dashboard render", "err", err)
	}
}

func writeCSV(w http.ResponseWriter, t table) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "patchbay-"+t.Name+".csv"))
	cw := csv.NewWriter(w)
	_ = cw.Write(t.Header)
	for _, row := range t.Rows {
		rec := make([]string, len(row))
		for i, c := range row {
			rec[i] = c.Text
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
}

// num formats a count with thousands separators: 12,345.
func num(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// pct formats a percentage with one decimal and a % sign: "97.5 %", or
// "—" when there is no value (ok false).
func pct(f float64, ok bool) string {
	if !ok || math.IsNaN(f) {
		return "—"
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " %"
}

// dateTime formats a time in UTC, minutes precision; "—" when zero.
func dateTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}

// date formats a date in UTC; "—" when zero.
func date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02")
}

func text(s string) cell           { return cell{Text: s} }
func link(s, href string) cell     { return cell{Text: s, Href: href} }
func count(n int) cell             { return cell{Text: num(n), Num: true} }
func countBad(n int) cell          { c := count(n); c.Class = map[bool]string{true: "bad"}[n > 0]; return c }
func hostHref(id string) string    { return "/hosts/" + url.PathEscape(id) }
func ringHref(name string) string  { return "/rings/" + url.PathEscape(name) }
func rolloutHref(id string) string { return "/rollouts/" + url.PathEscape(id) }
func eventHref(id int64) string    { return "/audit#ev-" + strconv.FormatInt(id, 10) }
func shortDigest(s string) string  { return s[:min(len(s), 19)] }
func plural(n int, w string) string {
	return num(n) + " " + w + map[bool]string{true: "", false: "s"}[n == 1]
}
