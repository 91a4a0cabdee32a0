package server

import (
	"context"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"
)

// dashboardCookie holds a signed-in browser's session id (never a token:
// the store keeps the id's hash, the token's name and the expiry).
const dashboardCookie = "patchbay_session"

// sessionTTL is how long a dashboard sign-in lasts.
const sessionTTL = 12 * time.Hour

// IdentifyFunc says who is signed in to the dashboard, and with which role;
// ok is false when nobody is.
type IdentifyFunc func(r *http.Request) (v Viewer, ok bool)

// EnableDashboard serves the dashboard for people at /: overview, hosts,
// host, ring, rollout, exceptions and audit-trail pages, each table also
// as CSV. It is read-only: admin and viewer tokens both sign in (POST
// /login), and what the browser holds is checked by one function,
// SetIdentify's (by default the server-side session below). Pages are not API
// routes and are not in openapi.yaml. rc may be nil (no rollouts).
func (s *Server) EnableDashboard(rc RolloutControl) {
	s.rc = rc
	if s.identify == nil {
		s.identify = s.cookieIdentity
	}
	static, _ := fs.Sub(webFS, "web")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	pages := map[string]func(http.ResponseWriter, *http.Request, Viewer){
		"GET /{$}":                           s.overviewPage,
		"GET /hosts":                         s.hostsPage,
		"GET /hosts/{id}":                    s.hostPage,
		"GET /rings/{name}":                  s.ringPage,
		"GET /rollouts":                      s.rolloutsPage,
		"GET /rollouts/{id}":                 s.rolloutPage,
		"GET /exceptions":                    s.exceptionsPage,
		"GET /audit":                         s.auditPage,
		"GET /audit/records/{commit}/{line}": s.recordPage,
		"GET /dashboard/login":               func(w http.ResponseWriter, r *http.Request, _ Viewer) { http.Redirect(w, r, "/", http.StatusSeeOther) },
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
		admin, _, err := s.st.VerifyRoleToken(r.Context(), tok)
		if err != nil {
			s.loginForm(w, http.StatusUnauthorized, "that is not an admin or viewer token (create one with: patchbay token create --viewer --name NAME --reason ...)")
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

// SetIdentify replaces how the dashboard learns who is signed in (for
// example with server-side sessions). Call it before EnableDashboard.
func (s *Server) SetIdentify(fn IdentifyFunc) { s.identify = fn }

// cookieIdentity is the default IdentifyFunc: the cookie holds a session
// id, checked against the store on every request (a session ends at its
// expiry, at sign-out, and when its token is deleted).
func (s *Server) cookieIdentity(r *http.Request) (Viewer, bool) {
	c, err := r.Cookie(dashboardCookie)
	if err != nil {
		return Viewer{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	name, role, err := s.st.SessionViewer(ctx, c.Value)
	if err != nil {
		return Viewer{}, false
	}
	return Viewer{Name: name, Role: role}, true
}

// secure reports whether the browser reached the server over TLS: directly,
// or through a proxy trusted (Config.TrustForwardedProto) to say so.
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || (s.cfg.TrustForwardedProto && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"))
}

// loginPage and layout are parsed on first use, not at start-up of every
// patchbay command; a broken template still panics there and fails
// TestLazyTemplatesParse.
var loginPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.ParseFS(webFS, "web/login.html"))
})

func (s *Server) loginForm(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	var data any
	if msg != "" {
		data = map[string]string{"Error": msg}
	}
	if err := loginPage().Execute(w, data); err != nil {
		s.log.Error("dashboard render", "err", err)
	}
}
