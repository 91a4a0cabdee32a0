package server

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/plan"
)

// dashboardCookie holds a signed-in browser's session id (never the admin
// token: the store keeps the id's hash, the admin's name and the expiry).
const dashboardCookie = "patchbay_session"

// sessionTTL is how long a dashboard sign-in lasts.
const sessionTTL = 12 * time.Hour

// EnableDashboard serves a read-only dashboard at / for people: fleet
// compliance by ring and by stream, overdue findings, hosts needing a
// reboot, and rollouts in progress (when rc is not nil). It needs an admin
// token, entered once in a form (POST /login); the browser then holds a
// server-side session's random id in an HttpOnly, SameSite=Strict cookie
// (Secure over TLS, or behind a trusted TLS proxy), which POST /logout
// ends on the server. The API itself still takes bearer tokens only.
// The pages are not API routes and are not in openapi.yaml.
func (s *Server) EnableDashboard(rc RolloutControl) {
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(dashboardCookie)
		if err != nil {
			s.page(w, http.StatusOK, loginPage, nil)
			return
		}
		if _, err := s.st.SessionAdmin(r.Context(), c.Value); err != nil {
			s.page(w, http.StatusUnauthorized, loginPage, map[string]string{"Error": "your session ended; sign in again"})
			return
		}
		p, err := s.FleetPlan(r.Context(), plan.Options{})
		if err != nil {
			s.log.Error("dashboard plan", "err", err)
			http.Error(w, "the plan is not available: see the server log", http.StatusServiceUnavailable)
			return
		}
		data := dashboardData{Plan: p, Now: s.now().UTC()}
		for _, f := range p.Findings {
			if f.Overdue {
				data.Overdue = append(data.Overdue, f)
			}
		}
		if rc != nil {
			if l, err := rc.List(r.Context()); err == nil {
				data.Rollouts = l.Rollouts
			}
		}
		s.page(w, http.StatusOK, dashboardPage, data)
	})
	s.mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		tok := strings.TrimSpace(r.PostForm.Get("token"))
		admin, err := s.st.VerifyAdminToken(r.Context(), tok)
		if err != nil {
			s.page(w, http.StatusUnauthorized, loginPage, map[string]string{"Error": "that is not an admin token (create one with: patchbay token create --admin --name NAME)"})
			return
		}
		id, err := s.st.CreateSession(r.Context(), admin, sessionTTL)
		if err != nil {
			s.log.Error("dashboard session", "err", err)
			http.Error(w, "sign-in failed: see the server log", http.StatusServiceUnavailable)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: dashboardCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
			Secure: s.secure(r), MaxAge: int(sessionTTL.Seconds())})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	s.mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(dashboardCookie); err == nil {
			if err := s.st.EndSession(r.Context(), c.Value); err != nil {
				s.log.Error("dashboard sign-out", "err", err)
				http.Error(w, "sign-out failed: see the server log", http.StatusServiceUnavailable)
				return
			}
		}
		http.SetCookie(w, &http.Cookie{Name: dashboardCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(r)})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
}

// secure reports whether the browser reached the server over TLS: directly,
// or through a proxy trusted (Config.TrustForwardedProto) to say so.
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || (s.cfg.TrustForwardedProto && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"))
}

type dashboardData struct {
	Plan     *plan.Plan
	Overdue  []plan.Finding
	Rollouts []api.Rollout
	Now      time.Time
}

func (s *Server) page(w http.ResponseWriter, status int, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if err := t.Execute(w, data); err != nil {
		s.log.Error("dashboard render", "err", err)
	}
}

const pageStyle = `<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:20px}h2{font-size:16px;margin-top:1.6em}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4}td.n{text-align:right}.bad{color:#b00020;font-weight:600}.ok{color:#1b5e20}
.bar{background:#eee;width:120px;height:10px;display:inline-block;vertical-align:middle}
.bar span{display:block;height:10px;background:#2e7d32}.muted{color:#777}
form.inline{display:inline}</style>`

var loginPage = template.Must(template.New("login").Parse(`<!doctype html><html><head><meta charset="utf-8"><title>patchbay</title>` + pageStyle + `</head><body>
<h1>patchbay</h1>
{{with .}}{{with .Error}}<p class="bad">{{.}}</p>{{end}}{{end}}
<form method="post" action="/login"><label>Admin token <input type="password" name="token" size="48" autofocus></label> <button>Sign in</button></form>
<p class="muted">Create one with <code>patchbay token create --admin --name NAME --db …</code>.</p>
</body></html>`))

var dashboardPage = template.Must(template.New("dashboard").Funcs(template.FuncMap{
	"pct":    formatPct,
	"status": func(r plan.RollUp, s string) int { return r.ByStatus[plan.HostStatus(s)] },
	"date":   func(t time.Time) string { return t.Format("2006-01-02") },
	"short":  func(s string) string { return s[:min(12, len(s))] },
}).Parse(`<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="30"><title>patchbay — fleet</title>` + pageStyle + `</head><body>
<h1>patchbay — fleet compliance <span class="muted">as of {{.Now.Format "2006-01-02 15:04"}} UTC</span>
<form class="inline" method="post" action="/logout"><button>Sign out</button></form></h1>
{{$p := .Plan}}
<h2>Rings</h2>
<table><tr><th>Ring</th><th>Baseline</th><th class="n">Hosts</th><th>Compliance</th><th class="n">Non-compliant</th><th class="n">Stale</th><th class="n">Overdue findings</th><th class="n">Reboot needed</th></tr>
{{range $p.Rings}}{{$r := .}}<tr><td>{{.Name}}</td><td>{{range $p.Baselines}}{{if eq .Ring $r.Name}}<code>{{.ID}}</code>{{end}}{{end}}</td><td class="n">{{.Hosts}}</td>
<td><span class="bar"><span style="width:{{pct .CompliancePercent}}%"></span></span> {{pct .CompliancePercent}}%</td>
<td class="n">{{status . "NON_COMPLIANT"}}</td><td class="n">{{status . "STALE"}}</td><td class="n{{if .Overdue}} bad{{end}}">{{.Overdue}}</td><td class="n">{{.RebootNeeded}}</td></tr>{{end}}
<tr><th>fleet</th><th></th><th class="n">{{$p.Fleet.Hosts}}</th><th>{{pct $p.Fleet.CompliancePercent}}%</th><th class="n">{{status $p.Fleet "NON_COMPLIANT"}}</th><th class="n">{{status $p.Fleet "STALE"}}</th><th class="n">{{$p.Fleet.Overdue}}</th><th class="n">{{$p.Fleet.RebootNeeded}}</th></tr>
</table>
<p class="muted">Outside the plan: {{status $p.Fleet "UNASSIGNED"}} unassigned, {{status $p.Fleet "AMBIGUOUS"}} ambiguous, {{status $p.Fleet "UNKNOWN_STREAM"}} unknown stream, {{status $p.Fleet "UNCOVERED"}} uncovered.</p>
<h2>Streams</h2>
<table><tr><th>Stream</th><th class="n">Hosts</th><th>Compliance</th><th class="n">Overdue findings</th></tr>
{{range $p.Streams}}<tr><td>{{.Name}}</td><td class="n">{{.Hosts}}</td><td>{{pct .CompliancePercent}}%</td><td class="n{{if .Overdue}} bad{{end}}">{{.Overdue}}</td></tr>{{end}}
</table>
<h2>SLA breaches ({{len .Overdue}})</h2>
{{if .Overdue}}<table><tr><th class="n">Risk</th><th>Severity</th><th>KEV</th><th>Stream</th><th>Rule</th><th>State</th><th class="n">Hosts</th><th>Deadline</th><th>Advisories</th></tr>
{{range .Overdue}}<tr><td class="n">{{.Risk}}</td><td>{{.Rule.Severity}}</td><td>{{if .Rule.KEV}}<span class="bad">KEV</span>{{end}}</td><td>{{.Stream}}</td><td><code>{{.Rule.Kind}}/{{.Rule.Name}}</code></td><td>{{.State}}</td><td class="n">{{.Hosts}}</td><td class="bad">{{date .Deadline}}</td><td>{{range .Rule.Advisories}}{{.}} {{end}}</td></tr>{{end}}
</table>{{else}}<p class="ok">No finding is past its deadline.</p>{{end}}
<h2>Rollouts</h2>
{{if .Rollouts}}<table><tr><th>Rollout</th><th>Ring</th><th>Baseline</th><th>State</th><th class="n">Wave</th><th class="n">Succeeded</th><th class="n">Failed</th><th class="n">Pending</th><th>Hold</th></tr>
{{range .Rollouts}}<tr><td><code>{{.ID}}</code></td><td>{{.Ring}}</td><td><code>{{.BaselineID}}</code></td><td{{if eq .State "unreviewed"}} class="bad"{{end}}>{{.State}}</td><td class="n">{{.Wave}}</td><td class="n">{{.Hosts.Succeeded}}</td><td class="n{{if .Hosts.Failed}} bad{{end}}">{{.Hosts.Failed}}</td><td class="n">{{.Hosts.Pending}}</td><td>{{.Hold}}</td></tr>{{end}}
</table>{{else}}<p class="muted">No rollouts (the controller runs when the patch repository is a Git repository).</p>{{end}}
<p class="muted">The audit trail lives in the patch repository: <code>patchbay audit log -C DIR</code>, <code>patchbay audit verify -C DIR</code>.</p>
</body></html>`))

// formatPct renders a percentage with at most one decimal: "97.5", "100".
func formatPct(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0")
}
