package github_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

var secret = []byte("It's a Secret to Everybody")

// recorder is a Processor that records the events it is given.
type recorder struct {
	mu     sync.Mutex
	events []github.Event
	panic  bool
	err    error
}

func (r *recorder) Process(_ context.Context, ev github.Event) error {
	if r.panic {
		panic("processor exploded")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return r.err
}

func (r *recorder) got() []github.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]github.Event(nil), r.events...)
}

func payload(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixture.Shared(t, "github-webhooks/"+rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type delivery struct {
	event, id string
	body      []byte
	sig       string // "" signs with secret; "-" sends none
	header    http.Header
	chunked   bool
}

func send(t *testing.T, h http.Handler, d delivery) (int, github.Response) {
	t.Helper()
	var body io.Reader = bytes.NewReader(d.body)
	if d.chunked {
		body = io.MultiReader(bytes.NewReader(d.body)) // unknown length: no Content-Length
	}
	req := httptest.NewRequest(http.MethodPost, "/webhooks/github", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/044aadd")
	if d.event != "" {
		req.Header.Set("X-GitHub-Event", d.event)
	}
	if d.id != "" {
		req.Header.Set("X-GitHub-Delivery", d.id)
	}
	switch d.sig {
	case "":
		req.Header.Set("X-Hub-Signature-256", github.Sign(secret, d.body))
	case "-":
	default:
		req.Header.Set("X-Hub-Signature-256", d.sig)
	}
	for k, v := range d.header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var resp github.Response
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("response body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, resp
}

func newHook(t *testing.T, p github.Processor, st *store.Store, max int64) *github.Webhook {
	t.Helper()
	h, err := github.NewWebhook(github.WebhookConfig{Secret: secret, Deliveries: st, Processor: p, MaxBodyBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSignatureMatchesGitHubDocsVector(t *testing.T) {
	// The test vector from GitHub's "Validating webhook deliveries".
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got := github.Sign(secret, []byte("Hello, World!")); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !github.ValidSignature(secret, []byte("Hello, World!"), want) {
		t.Fatal("the docs' vector does not validate")
	}
}

// TestRealPayloadsAreRouted sends every real payload, signed, and checks
// the status and what reaches the processor.
func TestRealPayloadsAreRouted(t *testing.T) {
	commentOnPR := payload(t, "drone-go-scm/issue_comment.created.on-pull-request.json")
	command := bytes.Replace(commentOnPR, []byte(`"body": "trigger abc"`), []byte(`"body": "/patchbay gate\r\n"`), 1)
	if bytes.Equal(command, commentOnPR) {
		t.Fatal("could not turn the real comment into a command")
	}
	tests := []struct {
		name, event, file string
		body              []byte
		code              int
		want              *github.Event // nil: nothing reaches the processor
	}{
		{name: "pr opened", event: "pull_request", file: "octokit/pull_request.opened.payload.json", code: 200,
			want: &github.Event{Kind: github.KindGate, Name: "pull_request", Action: "opened", Owner: "Codertocat", Repo: "Hello-World", PR: 2, Sender: "Codertocat", InstallationID: 1}},
		{name: "pr reopened", event: "pull_request", file: "octokit/pull_request.reopened.payload.json", code: 200,
			want: &github.Event{Kind: github.KindGate, Name: "pull_request", Action: "reopened", Owner: "Codertocat", Repo: "Hello-World", PR: 2, Sender: "Codertocat", InstallationID: 1}},
		{name: "pr synchronize", event: "pull_request", file: "octokit/pull_request.synchronize.payload.json", code: 200,
			want: &github.Event{Kind: github.KindGate, Name: "pull_request", Action: "synchronize", Owner: "Codertocat", Repo: "Hello-World", PR: 2, Sender: "Codertocat", InstallationID: 1}},
		{name: "pr merged", event: "pull_request", file: "woodpecker/pull_request.closed.merged.json", code: 200,
			want: &github.Event{Kind: github.KindMerged, Name: "pull_request", Action: "closed", Owner: "anbraten", Repo: "test-ready-release-go", PR: 62, Sender: "anbraten"}},
		{name: "pr closed unmerged", event: "pull_request", file: "woodpecker/pull_request.closed.not-merged.json", code: 202},
		{name: "pr closed unmerged (octokit)", event: "pull_request", file: "octokit/pull_request.closed.payload.json", code: 202},
		{name: "review submitted", event: "pull_request_review", file: "octokit/pull_request_review.submitted.payload.json", code: 200,
			want: &github.Event{Kind: github.KindGate, Name: "pull_request_review", Action: "submitted", Owner: "Codertocat", Repo: "Hello-World", PR: 2, Sender: "Codertocat", InstallationID: 1}},
		{name: "review approved (trimmed)", event: "pull_request_review", file: "atlantis/pull_request_review.submitted.approved.TRIMMED.json", code: 200,
			want: &github.Event{Kind: github.KindGate, Name: "pull_request_review", Action: "submitted", Owner: "runatlantis", Repo: "atlantis-tests", PR: 2, Sender: "runatlantis", InstallationID: 1}},
		{name: "review dismissed", event: "pull_request_review", file: "octokit/pull_request_review.dismissed.payload.json", code: 200,
			want: &github.Event{Kind: github.KindGate, Name: "pull_request_review", Action: "dismissed", Owner: "Codertocat", Repo: "Hello-World", PR: 2, Sender: "Codertocat", InstallationID: 1}},
		{name: "comment on pr, no command", event: "issue_comment", body: commentOnPR, code: 202},
		{name: "comment command on pr", event: "issue_comment", body: command, code: 200,
			want: &github.Event{Kind: github.KindCommand, Name: "issue_comment", Action: "created", Owner: "abc", Repo: "def-ci-webhook-test", PR: 2, Sender: "lts-def", Command: "gate"}},
		{name: "comment on issue", event: "issue_comment", file: "octokit/issue_comment.created.payload.json", code: 202},
		{name: "comment on issue 2", event: "issue_comment", file: "octokit/issue_comment.created.1.payload.json", code: 202},
		{name: "comment on issue (app)", event: "issue_comment", file: "octokit/issue_comment.created.with-installation.payload.json", code: 202},
		{name: "push to default branch", event: "push", file: "octokit/push.with-new-branch.payload.json", code: 200,
			want: &github.Event{Kind: github.KindPush, Name: "push", Owner: "Codertocat", Repo: "Hello-World", Sender: "Codertocat", Ref: "refs/heads/master", After: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", InstallationID: 1}},
		{name: "push to main", event: "push", file: "woodpecker/push.json", code: 200,
			want: &github.Event{Kind: github.KindPush, Name: "push", Owner: "woodpecker-ci", Repo: "woodpecker", Sender: "6543", Ref: "refs/heads/main", After: "366701fde727cb7a9e7f21eb88264f59f6f9b89c"}},
		{name: "push of a tag", event: "push", file: "octokit/push.payload.json", code: 202},
		{name: "ping", event: "ping", file: "octokit/ping.payload.json", code: 200},
		{name: "ping app", event: "ping", file: "octokit/ping.with-app_id.payload.json", code: 200},
		{name: "ping org", event: "ping", file: "octokit/ping.with-organization.payload.json", code: 200},
		{name: "check_run", event: "check_run", file: "octokit/check_run.created.payload.json", code: 202},
		{name: "check_suite", event: "check_suite", file: "octokit/check_suite.requested.payload.json", code: 202},
		{name: "installation", event: "installation", file: "octokit/installation.created.payload.json", code: 202},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if body == nil {
				body = payload(t, tt.file)
			}
			rec := &recorder{}
			h := newHook(t, rec, storetest.New(t, store.Options{}), 0)
			id := "72d3162e-cc78-11e3-81ab-" + strings.Repeat("0", 10) + string(rune('a'+i%26))
			code, resp := send(t, h, delivery{event: tt.event, id: id, body: body})
			if code != tt.code {
				t.Fatalf("status %d (%+v), want %d", code, resp, tt.code)
			}
			var want []github.Event
			if tt.want != nil {
				w := *tt.want
				w.Delivery = id
				want = []github.Event{w}
			}
			if diff := cmp.Diff(want, rec.got()); diff != "" {
				t.Errorf("processed events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRefusals: each refused delivery gets its status and has no side
// effect: nothing is processed and its delivery id is not consumed.
func TestRefusals(t *testing.T) {
	body := payload(t, "octokit/pull_request.opened.payload.json")
	tests := []struct {
		name string
		d    delivery
		max  int64
		code int
	}{
		{name: "missing signature", d: delivery{event: "pull_request", body: body, sig: "-"}, code: 401},
		{name: "wrong signature", d: delivery{event: "pull_request", body: body, sig: github.Sign([]byte("another secret"), body)}, code: 401},
		{name: "signature of another body", d: delivery{event: "pull_request", body: body, sig: github.Sign(secret, append([]byte(" "), body...))}, code: 401},
		{name: "sha1 signature only", d: delivery{event: "pull_request", body: body, sig: "-",
			header: http.Header{"X-Hub-Signature": {"sha1=7d38cdd689735b008b3c702edd92eea23791c5f6"}}}, code: 401},
		{name: "sha1 signature in the sha256 header", d: delivery{event: "pull_request", body: body, sig: "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6"}, code: 401},
		{name: "oversized body", d: delivery{event: "pull_request", body: body}, max: int64(len(body) - 1), code: 413},
		{name: "oversized body without length", d: delivery{event: "pull_request", body: body, chunked: true}, max: int64(len(body) - 1), code: 413},
		{name: "malformed body", d: delivery{event: "pull_request", body: []byte(`{"action": "opened", "number": `)}, code: 400},
		{name: "body of the wrong shape", d: delivery{event: "pull_request", body: []byte(`{"action": "opened", "number": "two"}`)}, code: 400},
		{name: "pull request without repository", d: delivery{event: "pull_request", body: []byte(`{"action": "opened", "number": 2}`)}, code: 400},
		{name: "missing event header", d: delivery{body: body}, code: 400},
		{name: "form-encoded hook", d: delivery{event: "pull_request", body: body, header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}, code: 415},
		{name: "look-alike content type", d: delivery{event: "pull_request", body: body, header: http.Header{"Content-Type": {"application/jsonfoo"}}}, code: 415},
		{name: "no content type", d: delivery{event: "pull_request", body: body, header: http.Header{"Content-Type": nil}}, code: 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			st := storetest.New(t, store.Options{})
			tt.d.id = "refused-delivery"
			code, _ := send(t, newHook(t, rec, st, tt.max), tt.d)
			if code != tt.code {
				t.Fatalf("status %d, want %d", code, tt.code)
			}
			if got := rec.got(); len(got) != 0 {
				t.Errorf("processed %+v", got)
			}
			first, err := st.MarkDelivery(context.Background(), "refused-delivery")
			if err != nil || !first {
				t.Errorf("the refused delivery id was consumed (first=%v, err=%v)", first, err)
			}
		})
	}
}

func TestReplayedDeliveryIsAcknowledgedAndIgnored(t *testing.T) {
	body := payload(t, "octokit/pull_request.synchronize.payload.json")
	rec := &recorder{}
	st := storetest.New(t, store.Options{})
	h := newHook(t, rec, st, 0)
	d := delivery{event: "pull_request", id: "9a3b5f1e-0001", body: body}
	if code, resp := send(t, h, d); code != 200 || resp.Status != "ok" {
		t.Fatalf("first delivery: %d %+v", code, resp)
	}
	// A second server instance on the same database sees the replay too.
	h2 := newHook(t, rec, st, 0)
	if code, resp := send(t, h2, d); code != 200 || resp.Status != "duplicate" {
		t.Fatalf("replay: %d %+v, want 200 duplicate", code, resp)
	}
	if n := len(rec.got()); n != 1 {
		t.Fatalf("processed %d times, want 1", n)
	}
	d.id = "9a3b5f1e-0002" // a new delivery of the same event is processed
	if code, _ := send(t, h, d); code != 200 || len(rec.got()) != 2 {
		t.Fatalf("new delivery: %d, processed %d", code, len(rec.got()))
	}
}

// TestRedeliveryAfterFailureIsProcessed: a delivery id counts as seen only
// once it was processed; GitHub's redelivery of a delivery that failed is
// processed, and only a redelivery of a success is a duplicate.
func TestRedeliveryAfterFailureIsProcessed(t *testing.T) {
	body := payload(t, "octokit/pull_request.synchronize.payload.json")
	rec := &recorder{err: errors.New("git fetch failed")}
	h := newHook(t, rec, storetest.New(t, store.Options{}), 0)
	d := delivery{event: "pull_request", id: "redeliver-1", body: body}
	if code, _ := send(t, h, d); code != 500 {
		t.Fatalf("failing delivery: %d, want 500", code)
	}
	rec.mu.Lock()
	rec.err = nil
	rec.mu.Unlock()
	if code, resp := send(t, h, d); code != 200 || resp.Status != "ok" {
		t.Fatalf("redelivery after the failure: %d %+v, want 200 ok (processed)", code, resp)
	}
	if code, resp := send(t, h, d); code != 200 || resp.Status != "duplicate" {
		t.Fatalf("redelivery after the success: %d %+v, want 200 duplicate", code, resp)
	}
	if n := len(rec.got()); n != 2 {
		t.Fatalf("processed %d times, want 2 (the failure and its redelivery)", n)
	}
}

// TestContentTypeParametersAccepted: application/json with a charset is
// JSON.
func TestContentTypeParametersAccepted(t *testing.T) {
	rec := &recorder{}
	h := newHook(t, rec, storetest.New(t, store.Options{}), 0)
	d := delivery{event: "pull_request", id: "ct-1", body: payload(t, "octokit/pull_request.opened.payload.json"),
		header: http.Header{"Content-Type": {"Application/JSON; charset=utf-8"}}}
	if code, resp := send(t, h, d); code != 200 {
		t.Fatalf("%d %+v, want 200", code, resp)
	}
}

func TestPanicIsRecoveredPerRequest(t *testing.T) {
	body := payload(t, "octokit/pull_request.opened.payload.json")
	rec := &recorder{panic: true}
	h := newHook(t, rec, storetest.New(t, store.Options{}), 0)
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(id string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "pull_request")
		req.Header.Set("X-GitHub-Delivery", id)
		req.Header.Set("X-Hub-Signature-256", github.Sign(secret, body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("p-1"); code != 500 {
		t.Fatalf("panicking request: %d, want 500", code)
	}
	rec.panic = false
	if code := post("p-2"); code != 200 {
		t.Fatalf("next request: %d, want 200", code)
	}
}

func TestProcessingErrorIs500(t *testing.T) {
	rec := &recorder{err: errors.New("git fetch failed")}
	h := newHook(t, rec, storetest.New(t, store.Options{}), 0)
	code, resp := send(t, h, delivery{event: "pull_request", id: "e-1", body: payload(t, "octokit/pull_request.opened.payload.json")})
	if code != 500 || strings.Contains(resp.Message, "git fetch") {
		t.Fatalf("%d %+v: want 500 without internal error text", code, resp)
	}
}

func TestNoSecretNoEndpoint(t *testing.T) {
	_, err := github.NewWebhook(github.WebhookConfig{Deliveries: storetest.New(t, store.Options{}), Processor: &recorder{}})
	if !errors.Is(err, github.ErrNoSecret) {
		t.Fatalf("err = %v, want ErrNoSecret", err)
	}
}

func TestBodyLimitIsClampedToGitHubs(t *testing.T) {
	body := payload(t, "octokit/ping.payload.json")
	h := newHook(t, &recorder{}, storetest.New(t, store.Options{}), 1<<40)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/github", bytes.NewReader(body))
	req.ContentLength = github.MaxBodyBytesLimit + 1
	req.Header.Set("X-Hub-Signature-256", github.Sign(secret, body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Fatalf("status %d, want 413 past GitHub's 25 MB", rec.Code)
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestMissingSignatureIsRefusedBeforeReading: without X-Hub-Signature-256
// not a byte of the body is read.
func TestMissingSignatureIsRefusedBeforeReading(t *testing.T) {
	body := &countingReader{r: bytes.NewReader(payload(t, "octokit/pull_request.opened.payload.json"))}
	rec := &recorder{}
	h := newHook(t, rec, storetest.New(t, store.Options{}), 0)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/github", body)
	req.Header.Set("X-GitHub-Event", "pull_request")
	req.Header.Set("X-GitHub-Delivery", "unsigned-1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 401 || body.n != 0 || len(rec.got()) != 0 {
		t.Fatalf("status %d, %d body bytes read, %d processed; want 401, 0, 0", w.Code, body.n, len(rec.got()))
	}
}
