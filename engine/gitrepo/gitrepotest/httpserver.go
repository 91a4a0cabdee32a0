package gitrepotest

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Server serves bare repositories over Git's smart HTTP protocol with the
// real `git http-backend` (through net/http/cgi) on 127.0.0.1, behind
// basic auth, the way GitHub or Gitea serve them: clone, fetch and push go
// through the same protocol. It is the Git counterpart of httptest.Server.
type Server struct {
	// URL is the server's base URL; a repository named NAME is at URL + "/" + NAME + ".git".
	URL string
	// Root holds the bare repositories (NAME.git).
	Root string
	// User and Password are the basic-auth credentials every request needs.
	User, Password string

	srv *httptest.Server
	// Pushes counts receive-pack requests that were served (pushes).
	pushes atomic.Int64
	down   atomic.Bool
}

// HTTPBackend returns the path of git-http-backend, or skips the test when
// git or its http-backend is not installed.
func HTTPBackend(tb testing.TB) string {
	tb.Helper()
	RequireGit(tb)
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		tb.Skipf("git --exec-path: %v; cannot find git-http-backend", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("git http-backend not installed (%s missing); the smart-HTTP Git server tests need it", p)
	}
	return p
}

// NewServer starts a Git HTTP server for the test; it is closed when the
// test ends. It skips the test when git http-backend is missing.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	backend := HTTPBackend(tb)
	s := &Server{Root: tb.TempDir(), User: "patchbay-ci", Password: "s3cret-" + filepath.Base(tb.TempDir())}
	h := &cgi.Handler{
		Path: backend,
		Root: "/",
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"REMOTE_USER=" + s.User,
		},
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			http.Error(w, "remote unavailable", http.StatusServiceUnavailable)
			return
		}
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(s.User)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(s.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="patchbay test git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			s.pushes.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("git http server: %v", err)
	}
	s.srv.Listener = ln
	s.srv.Start()
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// Create makes an empty bare repository NAME.git that accepts pushes and
// returns its URL (without credentials).
func (s *Server) Create(tb testing.TB, name string) string {
	tb.Helper()
	dir := filepath.Join(s.Root, name+".git")
	if _, err := RunGit(s.Root, 0, nil, "init", "-q", "--bare", "-b", "main", dir); err != nil {
		tb.Fatal(err)
	}
	if _, err := RunGit(dir, 0, nil, "config", "http.receivepack", "true"); err != nil {
		tb.Fatal(err)
	}
	return s.URL + "/" + name + ".git"
}

// Publish creates NAME.git and pushes every branch of the work tree r to
// it; it returns the repository's URL.
func (s *Server) Publish(tb testing.TB, name string, r *Repo) string {
	tb.Helper()
	url := s.Create(tb, name)
	if _, err := RunGit(r.Dir, r.tick, nil, "push", "-q", s.AuthURL(url), "refs/heads/*:refs/heads/*"); err != nil {
		tb.Fatal(err)
	}
	return url
}

// AuthURL returns url with the server's credentials embedded, for the git
// command line.
func (s *Server) AuthURL(url string) string {
	return strings.Replace(url, "http://", "http://"+s.User+":"+s.Password+"@", 1)
}

// Dir returns the directory of the bare repository NAME.git.
func (s *Server) Dir(name string) string { return filepath.Join(s.Root, name+".git") }

// Pushes returns how many pushes the server has served.
func (s *Server) Pushes() int64 { return s.pushes.Load() }

// SetDown makes every request fail with 503 (true) or be served again
// (false), to test what a client does while the remote is unavailable.
func (s *Server) SetDown(down bool) { s.down.Store(down) }
