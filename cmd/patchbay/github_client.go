package main

import (
	"fmt"
	"os"
	"strings"

	gh "github.com/google/go-github/v60/github"
	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/github"
)

// githubFlags are the flags that reach a GitHub repository through the
// REST API: --repo, --token or a GitHub App, --api-url.
type githubFlags struct {
	repo, token, apiURL, appKey string
	appID, installationID       int64
}

func (g *githubFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&g.repo, "repo", "", "GitHub repository owner/name (default $"+envGitHubRepository+")")
	cmd.Flags().StringVar(&g.token, "token", "", "GitHub API token (default $"+envGitHubToken+")")
	cmd.Flags().StringVar(&g.apiURL, "api-url", "", "REST API URL for GitHub Enterprise Server (default $"+envGitHubAPIURL+", else api.github.com)")
	cmd.Flags().Int64Var(&g.appID, "app-id", 0, "GitHub App id (instead of a token)")
	cmd.Flags().Int64Var(&g.installationID, "installation-id", 0, "GitHub App installation id")
	cmd.Flags().StringVar(&g.appKey, "app-key", "", "GitHub App private key (PEM file)")
}

// client resolves the flags (then the environment) into the repository
// and an API client.
func (g *githubFlags) client(a *app) (owner, name string, c *gh.Client, err error) {
	repo := g.repo
	if repo == "" {
		repo = a.getenv(envGitHubRepository)
	}
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", nil, usageError("--repo %q: want owner/name (or set $%s)", repo, envGitHubRepository)
	}
	apiURL := g.apiURL
	if apiURL == "" {
		apiURL = a.getenv(envGitHubAPIURL)
	}
	var tokens github.TokenSource
	switch {
	case g.appID != 0 || g.installationID != 0 || g.appKey != "":
		if g.appID == 0 || g.installationID == 0 || g.appKey == "" {
			return "", "", nil, usageError("a GitHub App needs --app-id, --installation-id and --app-key")
		}
		b, err := os.ReadFile(g.appKey)
		if err != nil {
			return "", "", nil, fmt.Errorf("--app-key: %w", err)
		}
		key, err := github.ParsePrivateKey(b)
		if err != nil {
			return "", "", nil, err
		}
		tokens = &github.AppTokenSource{AppID: g.appID, InstallationID: g.installationID, Key: key, APIURL: apiURL}
	default:
		token := g.token
		if token == "" {
			token = a.getenv(envGitHubToken)
		}
		if token == "" {
			return "", "", nil, usageError("no GitHub token: pass --token or set $%s (or use a GitHub App)", envGitHubToken)
		}
		tokens = github.StaticToken(token)
	}
	c, err = github.NewClient(github.ClientConfig{APIURL: apiURL, Tokens: tokens})
	return owner, name, c, err
}
