package main

import "os"

// Environment variables read by patchbay. This is the only place they are
// declared; flags override them, and they override files.
const (
	// envKeyPassword holds the password of an encrypted signing key.
	//lint:ignore U1000 read by the keys and audit commands
	envKeyPassword = "PATCHBAY_KEY_PASSWORD"

	// envGitHubToken is the GitHub API token (GitHub Actions sets it from
	// secrets.GITHUB_TOKEN when the workflow passes it).
	envGitHubToken = "GITHUB_TOKEN"
	// envGitHubRepository is owner/name, set by GitHub Actions.
	envGitHubRepository = "GITHUB_REPOSITORY"
	// envGitHubAPIURL is the REST API URL, set by GitHub Actions (GitHub
	// Enterprise Server: https://HOST/api/v3).
	envGitHubAPIURL = "GITHUB_API_URL"
	// envGitHubWebhookSecret is the webhook secret of patchbay serve's
	// POST /webhooks/github (or --github-webhook-secret-file).
	envGitHubWebhookSecret = "PATCHBAY_GITHUB_WEBHOOK_SECRET"
	// envGitHubServeToken is the API token patchbay serve uses when it
	// runs without a GitHub App (or --github-token-file).
	envGitHubServeToken = "PATCHBAY_GITHUB_TOKEN"
	// envServer is the patchbay server URL of the rollout commands.
	envServer = "PATCHBAY_SERVER"
	// envToken is the admin token of the rollout commands.
	envToken = "PATCHBAY_TOKEN"
	// envGitTokenFile names a file holding the HTTPS token patchbay serve
	// --repo fetches and pushes with (or --git-token-file).
	envGitTokenFile = "PATCHBAY_GIT_TOKEN_FILE"
	// envGitSSHKey names the SSH private key file of patchbay serve --repo
	// (or --git-ssh-key).
	envGitSSHKey = "PATCHBAY_GIT_SSH_KEY"
)

func osGetenv(k string) string { return os.Getenv(k) }
