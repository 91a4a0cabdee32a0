package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/engine/agent"
)

func TestExitCodes(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"code":"unauthorized","message":"invalid token"}`))
	}))
	defer refusing.Close()
	enrolled := t.TempDir()
	if err := agent.SaveCredentials(enrolled, agent.Credentials{Server: refusing.URL, HostID: "h", Token: "revoked"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(enrolled, agent.CredentialsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v, want 0600 (%v)", fi.Mode().Perm(), err)
	}
	tests := []struct {
		name   string
		args   []string
		want   int
		stderr string
	}{
		{"no command", nil, exitUsage, ""},
		{"help", []string{"--help"}, exitOK, ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"bad flag", []string{"run", "--bogus"}, exitUsage, "flag provided but not defined"},
		{"remote health probe", []string{"run", "--health-check", "http:http://example.org/", "--state-dir", enrolled}, exitUsage, "must stay on this host"},
		{"bad health check", []string{"run", "--health-check", "ping:x", "--state-dir", enrolled}, exitUsage, `unknown kind "ping"`},
		{"bad executor", []string{"run", "--executor", "yum", "--state-dir", enrolled}, exitUsage, `--executor "yum"`},
		{"enroll without token", []string{"enroll", "--server", "http://x"}, exitUsage, "--server and --token are required"},
		{"not enrolled", []string{"run", "--once", "--state-dir", t.TempDir()}, exitAuth, "not enrolled"},
		{"token refused", []string{"run", "--once", "--state-dir", enrolled}, exitAuth, "401 unauthorized"},
		{"enrollment refused", []string{"enroll", "--server", refusing.URL, "--token", "x", "--state-dir", t.TempDir()}, exitAuth, "401 unauthorized"},
	}
	var help strings.Builder
	if got := run(t.Context(), []string{"run", "--help"}, nil, &help, &help); got != exitOK {
		t.Errorf("run --help: exit %d", got)
	}
	for _, want := range []string{"-reboot-command", "systemctl reboot", "-pre-reboot-hook", "-post-boot-hook", "-health-check", "systemd:UNIT", "boot id", "tested set", "one transaction"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("run --help lacks %q", want)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			if got := run(t.Context(), tt.args, nil, &out, &errb); got != tt.want {
				t.Errorf("exit %d, want %d\nstderr: %s", got, tt.want, errb.String())
			}
			if !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.stderr)
			}
		})
	}
}
