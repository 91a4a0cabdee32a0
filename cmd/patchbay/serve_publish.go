package main

import (
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/gitrepo"
)

// gitCredFlags are the credentials of patchbay serve --repo: the clone is
// fetched with them and the audit records are pushed with them. Secrets
// come from files only (a flag or an environment variable names the
// file), so they never appear in a process listing or a log.
type gitCredFlags struct {
	tokenFile, username, sshKey, knownHosts string
	publish                                 bool
}

func addGitCredFlags(cmd *cobra.Command) *gitCredFlags {
	f := &gitCredFlags{}
	fl := cmd.Flags()
	fl.StringVar(&f.tokenFile, "git-token-file", "", "file holding an HTTPS access token for --repo (or $"+envGitTokenFile+"); GitHub: a token with Contents: write")
	fl.StringVar(&f.username, "git-username", "", "user name sent with the token (default x-access-token)")
	fl.StringVar(&f.sshKey, "git-ssh-key", "", "SSH private key file for an ssh:// or git@ --repo (or $"+envGitSSHKey+")")
	fl.StringVar(&f.knownHosts, "git-known-hosts", "", "known_hosts file checking the SSH server's key (default: the user's)")
	fl.BoolVar(&f.publish, "publish", true, "with --repo and --signing-key, push the audit records to the repository's refs/notes/patchbay")
	return f
}

// auth resolves the credentials: flags, then environment (names of files).
func (f *gitCredFlags) auth(a *app) (gitrepo.Auth, error) {
	au := gitrepo.Auth{Username: f.username, KnownHostsPath: f.knownHosts, SSHKeyPath: f.sshKey}
	if au.SSHKeyPath == "" {
		au.SSHKeyPath = a.getenv(envGitSSHKey)
	}
	tf := f.tokenFile
	if tf == "" {
		tf = a.getenv(envGitTokenFile)
	}
	if tf != "" {
		b, err := os.ReadFile(tf)
		if err != nil {
			return gitrepo.Auth{}, usageError("--git-token-file: %v", err)
		}
		au.Token = strings.TrimSpace(string(b))
		if au.Token == "" {
			return gitrepo.Auth{}, usageError("--git-token-file %s is empty", tf)
		}
	}
	return au, nil
}

// redactURL drops the user info (a token pasted into the URL) from a
// repository URL before it is printed or logged.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = url.User("***")
	return u.String()
}
