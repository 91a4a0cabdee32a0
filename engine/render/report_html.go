package render

import (
	"bytes"
	"html/template"
	"io"
	"strings"
	"sync"

	"github.com/patchbay/patchbay/engine/history"
)

// reportHTML is parsed on first use, not at start-up: every patchbay
// command would pay for it. A broken template still panics (template.Must)
// and fails TestLazyTemplatesParse.
var reportHTML = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"pct": reportPct, "date": reportDate, "verify": VerificationLine, "join": strings.Join,
		"short": func(s string) string { return s[:min(12, len(s))] },
	}).Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Patch compliance report {{.Period}}</title>
<style>body{font:13px/1.45 system-ui,sans-serif;color:#1d2329;max-width:1000px;margin:24px auto;padding:0 16px}
h1{font-size:20px}h2{font-size:15px;margin-top:24px}table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:3px 6px;border-bottom:1px solid #dde2e6;text-align:left}th{border-bottom:2px solid #1d2329}.n{text-align:right}
.bad{color:#b3261e;font-weight:600}.ok{color:#1b6e34;font-weight:600}.muted{color:#69737d}
@media print{body{margin:0;max-width:none}section{break-inside:avoid}}</style></head><body>
<h1>Patch compliance report {{.Period}}</h1>
<p class="muted">Period {{date .From}} – {{date .To}} (exclusive, UTC); judged at {{.JudgedAt.Format "2006-01-02 15:04"}}; generated {{.GeneratedAt.Format "2006-01-02 15:04"}} UTC.</p>
<p><strong>Audit trail:</strong> <span class="{{if .Verification.Verified}}ok{{else}}bad{{end}}">{{verify .Verification}}</span></p>
<section><h2>SLA attainment</h2><table><tr><th>Group</th><th class="n">Attainment</th><th class="n">Met</th><th class="n">Missed</th><th class="n">Pending</th><th class="n">Previous period</th></tr>
{{$prev := .Previous}}{{range $i, $a := .Attainment}}<tr><td>{{$a.Group}}</td><td class="n">{{pct $a.Percent}}</td><td class="n">{{$a.Met}}</td><td class="n{{if $a.Missed}} bad{{end}}">{{$a.Missed}}</td><td class="n">{{$a.Pending}}</td><td class="n">{{with index $prev $i}}{{pct .Percent}}{{end}}</td></tr>{{end}}</table>
<p class="muted">Findings due in the period; met when remediated by the deadline; — means nothing was due.</p></section>
<section><h2>Time to remediate</h2>{{if .Remediation}}<table><tr><th>Group</th><th class="n">Remediated</th><th class="n">Median</th><th class="n">90th percentile</th><th class="n">Longest</th></tr>
{{range .Remediation}}<tr><td>{{.Group}}</td><td class="n">{{.Count}}</td><td class="n">{{printf "%.1f" .MedianDays}} d</td><td class="n">{{printf "%.1f" .P90Days}} d</td><td class="n">{{printf "%.1f" .MaxDays}} d</td></tr>{{end}}</table>{{else}}<p class="muted">No finding was remediated in the period.</p>{{end}}</section>
<section><h2>Top risks at the end of the period</h2>{{if .TopRisks}}<table><tr><th>Host</th><th>Rule</th><th>Stream</th><th>Severity</th><th>Open since</th><th>Deadline</th><th class="n">Days overdue</th></tr>
{{range .TopRisks}}<tr><td>{{.Host}}</td><td>{{.Rule}}</td><td>{{.Stream}}</td><td>{{.Severity}}{{if .KEV}} <span class="bad">KEV</span>{{end}}</td><td>{{date .OpenSince}}</td><td>{{date .Deadline}}</td><td class="n{{if .DaysOverdue}} bad{{end}}">{{.DaysOverdue}}</td></tr>{{end}}</table>{{else}}<p class="muted">No open finding.</p>{{end}}</section>
<section><h2>Exceptions</h2>{{if .Exceptions}}<table><tr><th>Exception</th><th>Rule</th><th>Owner</th><th>Granted</th><th>Expires</th><th class="n">Age</th><th>Status</th></tr>
{{range .Exceptions}}<tr><td>{{.ID}}</td><td>{{.Rule}}</td><td>{{.Owner}}</td><td>{{.Granted}}</td><td>{{.Expires}}</td><td class="n">{{.AgeDays}} d</td><td>{{.Status}}</td></tr>{{end}}</table>{{else}}<p class="muted">None.</p>{{end}}</section>
<section><h2>Regressions ({{len .Regressions}})</h2>{{if .Regressions}}<table><tr><th>Host</th><th>Rule</th><th>When</th><th>State</th></tr>
{{range .Regressions}}<tr><td>{{.Host}}</td><td>{{.Rule}}</td><td>{{date .At}}</td><td>{{.State}}</td></tr>{{end}}</table>{{else}}<p class="muted">None.</p>{{end}}</section>
<section><h2>Rollouts and their approvals</h2>{{if .Rollouts}}<table><tr><th>Rollout</th><th>Ring</th><th>Baseline</th><th>Change</th><th>Approved by</th><th>Gate</th><th>Outcome</th><th class="n">Hosts</th><th class="n">Failed</th></tr>
{{range .Rollouts}}<tr><td>{{.ID}}</td><td>{{.Ring}}</td><td>{{.Baseline}}</td><td>{{if .PR}}#{{.PR}} {{end}}<code>{{short .Commit}}</code></td><td>{{join .Approvers ", "}}</td><td>{{.Gate}}</td><td>{{.Outcome}}</td><td class="n">{{.Hosts}}</td><td class="n">{{.Failed}}</td></tr>{{end}}</table>{{else}}<p class="muted">No rollout started in the period.</p>{{end}}</section>
{{range .Notes}}<p class="muted">{{.}}</p>{{end}}
</body></html>
`))
})

// ReportHTML writes the report as one self-contained, printable page.
func ReportHTML(w io.Writer, r *history.Report) error {
	var b bytes.Buffer
	if err := reportHTML().Execute(&b, r); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
