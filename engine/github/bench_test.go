package github_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/github/githubtest"
)

// nopDeliveries accepts every delivery as new.
type nopDeliveries struct{}

func (nopDeliveries) MarkDelivery(context.Context, string) (bool, error) { return true, nil }

func (nopDeliveries) DeliverySeen(context.Context, string) (bool, error) { return false, nil }

// BenchmarkWebhookVerifyAndRoute measures what a delivery costs before any
// work: bounding, HMAC-SHA256 verification and parsing of a real
// pull_request payload.
func BenchmarkWebhookVerifyAndRoute(b *testing.B) {
	body := payload(b, "octokit/pull_request.opened.payload.json")
	h, err := github.NewWebhook(github.WebhookConfig{Secret: secret, Deliveries: nopDeliveries{}, Processor: &recorder{}})
	if err != nil {
		b.Fatal(err)
	}
	sig := github.Sign(secret, body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/github", bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", sig)
		req.Header.Set("X-GitHub-Event", "pull_request")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Delivery", "d")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkGatePR measures one pull request evaluation end to end on the
// quickstart: API reads, both sides loaded from Git, effect with the plan
// delta over the example's reports, the gate (prepared once), the comment
// and the status, against the test server on loopback.
func BenchmarkGatePR(b *testing.B) {
	r, _, head := promotion(b)
	gs := githubtest.New(b, "o", "r")
	gs.Token = "tok"
	gs.SetPR(githubtest.PR{Number: 1, Author: "sre-platform", HeadSHA: head, BaseRef: "main"})
	client, err := github.NewClient(github.ClientConfig{APIURL: gs.APIURL(), Tokens: github.StaticToken("tok")})
	if err != nil {
		b.Fatal(err)
	}
	svc := &github.Service{Client: client, Git: github.LocalGit{Dir: r.dir}, Evaluator: change.NewEvaluator(), Reports: readReports(b),
		Now: func() time.Time { return now }}
	ctx := context.Background()
	if _, err := svc.GatePR(ctx, github.PRRef{Owner: "o", Repo: "r", Number: 1}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.GatePR(ctx, github.PRRef{Owner: "o", Repo: "r", Number: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
