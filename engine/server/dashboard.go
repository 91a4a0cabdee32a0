package server

import (
	"context"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// dashboardCookie holds the token of a signed-in browser.
const dashboardCookie = "patchbay_admin"

// IdentifyFunc says who is signed in to the dashboard, and with which role;
// ok is false when nobody is.
type IdentifyFunc func(r *http.Request) (v Viewer, ok bool)

// EnableDashboard serves the dashboard for people at /: overview, hosts,
// host, ring, rollout, exceptions and audit-trail pages, each table also
// as CSV. It is read-only: admin and viewer tokens both sign in (POST
// /login), and what the browser holds is checked by one function,
// SetIdentify's (by default the token cookie below). Pages are not API
// routes and are not in openapi.yaml. rc may be nil (no rollouts).
func (s *Server) EnableDashboard(rc RolloutControl) {
	s.rc = rc
	if s.identify == nil {
		s.identify = s.cookieIdentity
	}
	static, _ := fs.Sub(webFS, "web")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	pages := map[string]func(http.ResponseWriter, *http.Request, Viewer){
		"GET /{$}":             s.overviewPage,
		"GET /hosts":           s.hostsPage,
		"GET /hosts/{id}":      s.hostPage,
		"GET /rings/{name}":    s.ringPage,
		"GET /rollouts":        s.rolloutsPage,
		"GET /rollouts/{id}":   s.rolloutPage,
		"GET /exceptions":      s.exceptionsPage,
		"GET /audit":           s.auditPage,
		"GET /dashboard/login": func(w http.ResponseWriter, r *http.Request, _ Viewer) { http.Redirect(w, r, "/", http.StatusSeeOther) },
	}
	for pattern, h := range pages {
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			v, ok := s.identify(r)
			if !ok {
				status := http.StatusOK
				if r.URL.Path != "/" {
					status = http.StatusUnauthorized
				}
				s.loginForm(w, status, "")
				return
			}
			h(w, r, v)
		})
	}
	s.mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		tok := strings.TrimSpace(r.PostForm.Get("token"))
		if _, _, err := s.st.VerifyRoleToken(r.Context(), tok); err != nil {
			s.loginForm(w, http.StatusUnauthorized, "that is not an admin or viewer token (create one with: patchbay token create --viewer --name NAME)")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: dashboardCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
			Secure: r.TLS != nil, MaxAge: int((12 * time.Hour).Seconds())})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	s.mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: dashboardCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
}

// SetIdentify replaces how the dashboard learns who is signed in (for
// example with server-side sessions). Call it before EnableDashboard.
func (s *Server) SetIdentify(fn IdentifyFunc) { s.identify = fn }

// cookieIdentity is the default IdentifyFunc: the cookie holds an admin
// or viewer token, checked against the store on every request.
func (s *Server) cookieIdentity(r *http.Request) (Viewer, bool) {
	c, err := r.Cookie(dashboardCookie)
	if err != nil {
		return Viewer{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	name, role, err := s.st.VerifyRoleToken(ctx, c.Value)
	if err != nil {
		return Viewer{}, false
	}
	return Viewer{Name: name, Role: role}, true
}

var loginPage = template.Must(template.ParseFS(webFS, "web/login.html"))

func (s *Server) loginForm(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	var data any
	if msg != "" {
		data = map[string]string{"Error": msg}
	}
	if err := loginPage.Execute(w, data); err != nil {
		s.log.Error("dashboard render", "err", err)
	}
}
