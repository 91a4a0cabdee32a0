package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/notify"
	"github.com/patchbay/patchbay/engine/server"
)

// receiver is an httptest webhook receiver that checks each delivery's
// signature against the secret it expects.
type receiver struct {
	mu     sync.Mutex
	secret []byte
	got    int
	bad    int
	srv    *httptest.Server
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{secret: []byte(secret)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.Header.Get("X-Patchbay-Signature-256") != notify.Sign(r.secret, b) {
			r.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		r.got++
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) count() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got, r.bad
}

// smtpBox is a real in-process SMTP server (go-smtp) counting messages.
type smtpBox struct {
	mu   sync.Mutex
	msgs []string
}

type smtpSession struct{ b *smtpBox }

func (b *smtpBox) NewSession(*smtp.Conn) (smtp.Session, error) { return smtpSession{b}, nil }
func (smtpSession) Reset()                                     {}
func (smtpSession) Logout() error                              { return nil }
func (smtpSession) Mail(string, *smtp.MailOptions) error       { return nil }
func (smtpSession) Rcpt(string, *smtp.RcptOptions) error       { return nil }
func (s smtpSession) Data(r io.Reader) error {
	m, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, string(m))
	s.b.mu.Unlock()
	return err
}

func startSMTP(t *testing.T) (*smtpBox, string) {
	b := &smtpBox{}
	srv := smtp.NewServer(b)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return b, ln.Addr().String()
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNotifyFollowsConfig: config.notify lives in the patch repository; a
// commit that replaces a webhook receiver and adds an e-mail route is
// applied at the next sync, without a restart: the next events go to the
// new webhook (signed with the secret read from its file now) and to the
// SMTP server, none to the removed webhook, and the log says what
// changed. A later commit naming a missing secret file keeps the
// receivers in force and says so.
func TestNotifyFollowsConfig(t *testing.T) {
	ctx := context.Background()
	g := gitrepotest.New(t)
	if err := os.CopyFS(g.Dir, os.DirFS(fixture.Path(t, "examples/quickstart"))); err != nil {
		t.Fatal(err)
	}
	secrets := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(secrets, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldHook, newHook := newReceiver(t, "old-secret"), newReceiver(t, "new-secret")
	box, smtpAddr := startSMTP(t)
	base, err := os.ReadFile(filepath.Join(g.Dir, "patchbay.cue"))
	if err != nil {
		t.Fatal(err)
	}
	commit := func(msg, notifyCUE string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(g.Dir, "patchbay.cue"), append(append([]byte{}, base...), notifyCUE...), 0o644); err != nil {
			t.Fatal(err)
		}
		g.Git("add", "-A")
		g.Commit(msg, nil)
	}
	commit("notify ops", `
config: notify: webhooks: old: {url: "`+oldHook.srv.URL+`", secretFile: "`+write("old.secret", "old-secret\n")+`", events: ["sla.breach", "sla.breach.soon"]}
`)
	repo, err := gitrepo.Open(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	logs := &syncBuffer{}
	rl := server.NewReloader(server.GitSource{Repo: repo, Branch: "main", Name: "patches"}, nil, clock)
	if err := rl.Check(ctx); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *server.Config) {
		c.Models = rl
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	_, raw := quickstart(t)
	for id, body := range raw {
		tok := e.enroll(id, nil)
		if code, b := e.do("PUT", "/api/v1/hosts/"+id+"/report", tok, api.MediaReport, body); code != 200 {
			t.Fatalf("report %s: %d %s", id, code, b)
		}
	}
	builds := 0
	e.srv.EnableNotify(func(c *baseline.Notify) (*notify.Notifier, error) {
		builds++
		return notify.FromConfig(c, notify.Config{Store: e.st, Backoff: time.Millisecond, Attempts: 2}, os.ReadFile)
	})
	if err := e.srv.NotifyNow(ctx); err != nil {
		t.Fatal(err)
	}
	before, bad := oldHook.count()
	if before == 0 || bad != 0 {
		t.Fatalf("the configured webhook got %d events (%d badly signed)", before, bad)
	}
	// Unchanged revision: nothing is built again.
	if err := e.srv.NotifyNow(ctx); err != nil || builds != 1 {
		t.Fatalf("same revision: %d builds, %v", builds, err)
	}

	// The commit that replaces the receiver, then the next sync.
	commit("notify: new hook and mail", `
config: notify: {
	webhooks: new: {url: "`+newHook.srv.URL+`", secretFile: "`+write("new.secret", "new-secret\n")+`", events: ["sla.breach", "sla.breach.soon"]}
	email: {smtp: "`+smtpAddr+`", from: "patchbay@example.org", allowPlaintext: true, to: security: {addresses: ["security@example.org"], events: ["sla.breach"]}}
}
`)
	if err := rl.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.NotifyNow(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _ := oldHook.count(); after != before {
		t.Errorf("the removed webhook got %d more events", after-before)
	}
	if got, bad := newHook.count(); got == 0 || bad != 0 {
		t.Errorf("the new webhook got %d events, %d signed with another secret", got, bad)
	}
	box.mu.Lock()
	mails := len(box.msgs)
	box.mu.Unlock()
	if mails == 0 {
		t.Error("the new e-mail route got no message")
	}
	l := logs.String()
	if !strings.Contains(l, `"msg":"notification config changed"`) || !strings.Contains(l, `"added":["email:security","webhook:new"]`) ||
		!strings.Contains(l, `"removed":["webhook:old"]`) {
		t.Errorf("the log does not say what changed:\n%s", l)
	}

	// A config whose secret file is missing is not applied.
	commit("notify: broken", `
config: notify: webhooks: broken: {url: "`+newHook.srv.URL+`", secretFile: "`+filepath.Join(secrets, "missing")+`"}
`)
	if err := rl.Check(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := e.srv.SyncNotify()
	if err != nil || n == nil {
		t.Fatalf("a broken config: %v, %v (want the previous notifier kept)", n, err)
	}
	if l := logs.String(); !strings.Contains(l, "notification config not applied; the previous receivers stay") || !strings.Contains(l, "webhooks.broken.secretFile") {
		t.Errorf("the log does not say the config was refused:\n%s", l)
	}
}
