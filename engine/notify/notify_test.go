package notify_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/patchbay/patchbay/engine/notify"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

// mailbox is a real SMTP server (go-smtp) on 127.0.0.1 keeping what it
// receives.
type mailbox struct {
	mu   sync.Mutex
	msgs []string
	rcpt [][]string
}

type session struct {
	mb   *mailbox
	rcpt []string
}

func (mb *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{mb: mb}, nil }
func (s *session) Reset()                                       { s.rcpt = nil }
func (s *session) Logout() error                                { return nil }
func (s *session) Mail(string, *smtp.MailOptions) error         { return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpt = append(s.rcpt, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, string(b))
	s.mb.rcpt = append(s.mb.rcpt, s.rcpt)
	s.mb.mu.Unlock()
	return nil
}

func startSMTP(t *testing.T) (*mailbox, string) {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(mb)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return mb, ln.Addr().String()
}

var now = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func events() []notify.Event {
	p := &plan.Plan{Findings: []plan.Finding{
		{Baseline: "2026-11", Stream: "debian-12", Rule: plan.Rule{Kind: "source", Name: "openssl", Severity: "critical", KEV: true}, State: plan.Missing,
			Hosts: 3, SampleHosts: []string{"a", "b", "c"}, Deadline: now.Add(-24 * time.Hour), Overdue: true},
		{Baseline: "2026-11", Stream: "debian-12", Rule: plan.Rule{Kind: "package", Name: "curl", Severity: "high"}, State: plan.Missing,
			Hosts: 1, Deadline: now.Add(48 * time.Hour)},
		{Baseline: "2026-11", Stream: "debian-12", Rule: plan.Rule{Kind: "package", Name: "zlib", Severity: "low"}, State: plan.Missing,
			Hosts: 1, Deadline: now.Add(40 * 24 * time.Hour)},
	}, Hosts: plan.HostsOf([]plan.Host{{ID: "old-host", Ring: "prod", Status: plan.Stale, ReportedAt: now.Add(-96 * time.Hour)}})}
	return notify.Detect(notify.DetectInput{Plan: p, Now: now, BreachLead: 72 * time.Hour, Events: []store.RolloutEvent{
		{ID: 7, RolloutID: "r1", Kind: "rollout.finished", Payload: []byte(`{"outcome":"halted"}`), Actor: "controller", At: now},
		{ID: 8, RolloutID: "r1", Kind: "rollout.wave", Payload: []byte(`{}`), At: now},
		{ID: 9, RolloutID: "r2", Kind: "ring.verified", Payload: []byte(`{}`), At: now},
	}})
}

func TestDetect(t *testing.T) {
	got := map[string]int{}
	for _, e := range events() {
		got[e.Kind]++
	}
	want := map[string]int{notify.SLABreach: 1, notify.SLABreachSoon: 1, notify.HostStale: 1, notify.RolloutHalted: 1, notify.RingVerified: 1}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d events, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("kinds = %v", got)
	}
}

// TestDeliverOnce: each event reaches the webhook receiver and the SMTP
// server once — also when Notify runs again — and a receiver that fails
// twice gets the event on the third attempt; the log says so.
func TestDeliverOnce(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t, store.Options{})
	secret := []byte("s3cret")
	var mu sync.Mutex
	calls := map[string]int{}
	fails := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Patchbay-Signature-256") != notify.Sign(secret, body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			t.Error("webhook: bad signature")
			return
		}
		id := r.Header.Get("X-Patchbay-Delivery")
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("X-Patchbay-Event") == notify.SLABreach && fails[id] < 2 {
			fails[id]++
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		calls[id]++
	}))
	defer hook.Close()
	mb, addr := startSMTP(t)
	n, err := notify.New(notify.Config{Store: st, Backoff: time.Millisecond, Attempts: 4, Channels: []notify.Channel{
		&notify.Webhook{ID: "ops", URL: hook.URL, Secret: secret, Client: hook.Client()},
		&notify.Email{ID: "security", Addr: addr, From: "patchbay@example.org", To: []string{"security@example.org"}, AllowPlaintext: true,
			Events: []string{notify.SLABreach, notify.SLABreachSoon}, Now: func() time.Time { return now }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	evs := events()
	for range 2 {
		if err := n.Notify(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if len(calls) != len(evs) {
		t.Errorf("webhook got %d distinct events, want %d: %v", len(calls), len(evs), calls)
	}
	for id, c := range calls {
		if c != 1 {
			t.Errorf("webhook got %s %d times", id, c)
		}
	}
	mu.Unlock()
	mb.mu.Lock()
	if len(mb.msgs) != 2 {
		t.Errorf("mail: %d messages, want 2 (breach and breach coming)", len(mb.msgs))
	}
	for _, m := range mb.msgs {
		if !strings.Contains(m, "Subject: [patchbay] SLA") || !strings.Contains(m, "source/openssl") && !strings.Contains(m, "package/curl") {
			t.Errorf("mail:\n%s", m)
		}
	}
	mb.mu.Unlock()
	log, err := st.NotifyLog(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	retried := false
	for _, d := range log {
		if d.Status != store.NotifyDelivered {
			t.Errorf("log: %+v", d)
		}
		if d.Channel == "webhook:ops" && d.Kind == notify.SLABreach && d.Attempts == 3 {
			retried = true
		}
	}
	if !retried || len(log) != len(evs)+2 {
		t.Errorf("log (%d rows) lacks the breach delivered on attempt 3: %+v", len(log), log)
	}
}

// TestGiveUp: a receiver that never answers 2xx is tried Attempts times,
// logged failed, and not tried again.
func TestGiveUp(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t, store.Options{})
	var mu sync.Mutex
	hits := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer hook.Close()
	n, _ := notify.New(notify.Config{Store: st, Backoff: time.Millisecond, Attempts: 3, Channels: []notify.Channel{
		&notify.Webhook{ID: "x", URL: hook.URL, Secret: []byte("k"), Events: []string{notify.RingVerified}}}})
	ev := []notify.Event{{Key: "ring.verified/r/1", Kind: notify.RingVerified}}
	if err := n.Notify(ctx, ev); err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("err = %v", err)
	}
	if err := n.Notify(ctx, ev); err != nil {
		t.Errorf("second run: %v", err)
	}
	if hits != 3 {
		t.Errorf("hits = %d, want 3", hits)
	}
	// Without STARTTLS and without allowPlaintext, mail is refused.
	_, addr := startSMTP(t)
	e := &notify.Email{ID: "m", Addr: addr, From: "a@b", To: []string{"c@d"}}
	if err := e.Send(ctx, notify.Event{Key: "k"}); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("plaintext mail: %v", err)
	}
}
