package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/rollout"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
)

// githubServeFlags are patchbay serve's GitHub flags: the webhook endpoint
// is mounted only with a secret.
type githubServeFlags struct {
	secretFile, appKey, tokenFile, apiURL, signKey string
	appID, installationID                          int64
	maxBody                                        int64
	inconclusiveNeutral                            bool
	trust                                          []string
	sandbox                                        *sandboxFlags
	// gitAuth is serve's --repo credentials (set by serve).
	gitAuth gitrepo.Auth
}

func addGitHubServeFlags(cmd *cobra.Command) *githubServeFlags {
	f := &githubServeFlags{}
	fl := cmd.Flags()
	fl.StringVar(&f.secretFile, "github-webhook-secret-file", "", "file holding the GitHub webhook secret (or $"+envGitHubWebhookSecret+"); mounts POST /webhooks/github")
	fl.Int64Var(&f.appID, "github-app-id", 0, "GitHub App id")
	fl.Int64Var(&f.installationID, "github-installation-id", 0, "GitHub App installation id")
	fl.StringVar(&f.appKey, "github-app-key", "", "GitHub App private key (PEM file)")
	fl.StringVar(&f.tokenFile, "github-token-file", "", "file holding an API token, instead of an App (or $"+envGitHubServeToken+"); reports commit statuses")
	fl.StringVar(&f.apiURL, "github-api-url", "", "GitHub Enterprise Server API URL (https://HOST/api/v3)")
	fl.Int64Var(&f.maxBody, "github-max-body", github.DefaultMaxBodyBytes, "largest webhook body accepted, in bytes (at most 25 MB)")
	fl.StringVar(&f.signKey, "github-sign-key", "", "signing key (file or KMS URI) for gate.decision records")
	fl.StringArrayVar(&f.trust, "github-trust", nil, "public key (PEM file) trusted for evidence records, besides config.trustedKeys")
	fl.BoolVar(&f.inconclusiveNeutral, "github-inconclusive-neutral", false, "report an inconclusive gate as a neutral check run (GitHub counts neutral as passing!) instead of a failing one")
	f.sandbox = addSandboxFlags(cmd)
	return f
}

// used reports whether any GitHub setting was given.
func (f *githubServeFlags) used(cmd *cobra.Command, a *app) bool {
	for _, name := range []string{"github-webhook-secret-file", "github-app-id", "github-installation-id", "github-app-key", "github-token-file",
		"github-api-url", "github-max-body", "github-sign-key", "github-trust", "github-inconclusive-neutral"} {
		if cmd.Flags().Changed(name) {
			return true
		}
	}
	return a.getenv(envGitHubWebhookSecret) != "" || a.getenv(envGitHubServeToken) != ""
}

func readSecret(file, env string, a *app) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	return a.getenv(env), nil
}

// mountService builds the GitHub service and mounts the webhook on srv,
// and returns the service for the proposal cycles. Without any GitHub
// setting it does nothing (nil); GitHub settings without a secret are a
// usage error: the endpoint never runs unsigned.
func (f *githubServeFlags) mountService(cmd *cobra.Command, a *app, srv *server.Server, sr *servedRollouts, st *store.Store, log *slog.Logger, dir, repoURL, branch, cacheDir string) (*github.Service, error) {
	if !f.used(cmd, a) {
		return nil, nil
	}
	secret, err := readSecret(f.secretFile, envGitHubWebhookSecret, a)
	if err != nil {
		return nil, fmt.Errorf("--github-webhook-secret-file: %w", err)
	}
	if secret == "" {
		return nil, usageError("the GitHub webhook needs a secret: --github-webhook-secret-file or $%s", envGitHubWebhookSecret)
	}
	ev, err := f.sandbox.evaluator()
	if err != nil {
		return nil, err
	}
	if f.maxBody <= 0 || f.maxBody > github.MaxBodyBytesLimit {
		return nil, usageError("--github-max-body must be between 1 and %d", github.MaxBodyBytesLimit)
	}
	cfg := github.ServerConfig{Secret: []byte(secret), MaxBodyBytes: f.maxBody, APIURL: f.apiURL, AppID: f.appID, InstallationID: f.installationID,
		InconclusiveNeutral: f.inconclusiveNeutral, MainBranch: branch, Deliveries: st, Logger: log, Now: a.now,
		Reports: srv.Reports, Sandbox: ev.Sandbox}
	if sr != nil {
		cfg.Rollout = rolloutHinter{sr.Controller}
		if sr.publish {
			// Gate decisions join the controller's outbox: one writer,
			// one chain on the remote.
			cfg.Outbox = sr.Controller
		}
	}
	if f.appKey != "" {
		if cfg.AppKeyPEM, err = os.ReadFile(f.appKey); err != nil {
			return nil, fmt.Errorf("--github-app-key: %w", err)
		}
	}
	if cfg.Token, err = readSecret(f.tokenFile, envGitHubServeToken, a); err != nil {
		return nil, fmt.Errorf("--github-token-file: %w", err)
	}
	if repoURL != "" {
		// A mirror of its own: the reloader fetches its clone concurrently.
		cfg.Git = github.MirrorGit{Remote: gitrepo.Remote{URL: repoURL, CacheDir: filepath.Join(cacheDir, "github"), Auth: f.gitAuth}}
	} else {
		cfg.Git = github.LocalGit{Dir: dir}
	}
	for _, p := range f.trust {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--github-trust: %w", err)
		}
		cfg.TrustedKeys = append(cfg.TrustedKeys, b)
	}
	if f.signKey != "" {
		if cfg.Signer, err = a.loadSigner(cmd.Context(), f.signKey); err != nil {
			return nil, err
		}
	}
	hook, svc, err := github.NewServerWebhook(cfg)
	if err != nil {
		return nil, usageError("github: %v", err)
	}
	srv.MountGitHubWebhook(hook)
	log.Info("github webhook mounted", "path", server.WebhookPath, "app", f.appID != 0)
	return svc, nil
}

// rolloutHinter passes the webhook's hints to the rollout controller.
type rolloutHinter struct{ c *rollout.Controller }

func (h rolloutHinter) Hint(ctx context.Context, x github.Hint) error {
	return h.c.Hint(ctx, rollout.Hint(x))
}
