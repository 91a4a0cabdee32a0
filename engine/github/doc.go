// Package github connects patchbay to GitHub: it verifies and routes
// webhook deliveries (HMAC-SHA256 first, then parse), evaluates pull
// requests with engine/change, and reports the result back as one pull
// request comment edited in place, a check run (or commit status)
// patchbay/gate, and a signed gate.decision audit record on the head
// commit. Merged pull requests and pushes to the main branch become hints
// for the rollout controller.
//
// # Webhook
//
// [Webhook] is an http.Handler for POST /webhooks/github. It refuses to be
// built without a secret. For each delivery it bounds the body (1 MiB by
// default, up to GitHub's 25 MB), requires X-Hub-Signature-256 and compares
// it in constant time before anything is parsed, then reads X-GitHub-Event
// and X-GitHub-Delivery, parses the payload with go-github, and records the
// delivery id (a delivery seen before is acknowledged with 200 and
// ignored). Handled events answer 200, every other event 202. A panic in
// processing is recovered and answered 500.
//
// The payload is only a hint: [Service] re-reads the pull request and its
// reviews through the API and the commits from Git; it never trusts the
// payload's copy of them.
//
// # Auth
//
// [AppTokenSource] mints a GitHub App JWT (RS256, crypto/rsa) and exchanges
// it for an installation token, refreshed before it expires;
// [StaticToken] is a personal or Actions token. [NewClient] builds a
// go-github client for github.com or a GitHub Enterprise Server API URL.
//
// It imports change, gate, audit, baseline, gitrepo, render and inventory, and
// go-github; it must not import server, store, rollout or cmd (the store
// and the rollout controller are reached through the small interfaces
// [DeliveryLog] and [RolloutHinter]).
package github
