package github

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/change"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/sandbox"
)

// ServerConfig is what `patchbay serve` resolves from flags, environment
// and files to mount the webhook; NewServerWebhook wires it.
type ServerConfig struct {
	// Secret is the webhook secret (required).
	Secret []byte
	// MaxBodyBytes bounds a delivery; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MainBranch is the branch whose pushes hint the rollout controller;
	// empty means the repository's default branch.
	MainBranch string
	// APIURL is empty for github.com, or a GitHub Enterprise Server URL.
	APIURL string
	// Either AppID, InstallationID and AppKeyPEM (a GitHub App: check
	// runs), or Token (commit statuses).
	AppID          int64
	InstallationID int64
	AppKeyPEM      []byte
	Token          string
	// InconclusiveNeutral reports inconclusive as a neutral check run
	// instead of a failing one (see Service.InconclusiveNeutral)
	// instead of a neutral one (which branch protection lets through).
	InconclusiveNeutral bool
	// Git gives the pull requests' commits (MirrorGit for a server).
	Git GitSource
	// TrustedKeys, Signer, PushRemote, Outbox, Reports and Rollout are as in
	// Service.
	TrustedKeys [][]byte
	Signer      *audit.Signer
	PushRemote  string
	Outbox      RecordSink
	Reports     func(ctx context.Context) ([]*inventory.Report, error)
	Rollout     RolloutHinter
	Deliveries  DeliveryLog
	// Sandbox, when set, evaluates pull requests in child processes with
	// its limits (see change.Evaluator.Sandbox). A server must set it.
	Sandbox *sandbox.Runner
	Logger  *slog.Logger
	Now     func() time.Time
}

// NewServerWebhook builds the API client, the Service and the Webhook. It
// refuses a configuration without a secret (ErrNoSecret) or without
// credentials (ErrAuth).
func NewServerWebhook(cfg ServerConfig) (*Webhook, *Service, error) {
	if len(cfg.Secret) == 0 {
		return nil, nil, ErrNoSecret
	}
	if cfg.Git == nil || cfg.Deliveries == nil {
		return nil, nil, fmt.Errorf("github: Git and Deliveries are required")
	}
	var tokens TokenSource
	checks := false
	switch {
	case cfg.AppID != 0 || len(cfg.AppKeyPEM) > 0 || cfg.InstallationID != 0:
		key, err := ParsePrivateKey(cfg.AppKeyPEM)
		if err != nil {
			return nil, nil, err
		}
		if cfg.AppID == 0 || cfg.InstallationID == 0 {
			return nil, nil, fmt.Errorf("%w: a GitHub App needs app id, installation id and private key", ErrAuth)
		}
		tokens = &AppTokenSource{AppID: cfg.AppID, InstallationID: cfg.InstallationID, Key: key, APIURL: cfg.APIURL, Now: cfg.Now}
		checks = true
	case cfg.Token != "":
		tokens = StaticToken(cfg.Token)
	default:
		return nil, nil, fmt.Errorf("%w: configure a GitHub App or a token", ErrAuth)
	}
	client, err := NewClient(ClientConfig{APIURL: cfg.APIURL, Tokens: tokens})
	if err != nil {
		return nil, nil, err
	}
	svc := &Service{Client: client, Checks: checks, InconclusiveNeutral: cfg.InconclusiveNeutral, Git: cfg.Git, Evaluator: newEvaluator(cfg.Sandbox), TrustedKeys: cfg.TrustedKeys,
		Reports: cfg.Reports, Signer: cfg.Signer, PushRemote: cfg.PushRemote, Outbox: cfg.Outbox, Rollout: cfg.Rollout, MainBranch: cfg.MainBranch, Now: cfg.Now, Logger: cfg.Logger}
	hook, err := NewWebhook(WebhookConfig{Secret: cfg.Secret, MaxBodyBytes: cfg.MaxBodyBytes, MainBranch: cfg.MainBranch,
		Deliveries: cfg.Deliveries, Processor: svc, Logger: cfg.Logger})
	if err != nil {
		return nil, nil, err
	}
	return hook, svc, nil
}

func newEvaluator(r *sandbox.Runner) *change.Evaluator {
	ev := change.NewEvaluator()
	ev.Sandbox = r
	return ev
}
