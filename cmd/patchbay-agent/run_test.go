package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
		{"bad flag", []string{"run", "--bogus"}, exitUsage, "unknown flag: --bogus\nRun 'patchbay-agent run --help' for usage."},
		{"version flag", []string{"--version"}, exitOK, ""},
		{"single-dash long flag is refused", []string{"run", "-once"}, exitUsage, "unknown shorthand flag"},
		{"remote health probe", []string{"run", "--health-check", "http:http://example.org/", "--state-dir", enrolled}, exitUsage, "must stay on this host"},
		{"bad health check", []string{"run", "--health-check", "ping:x", "--state-dir", enrolled}, exitUsage, `unknown kind "ping"`},
		{"bad executor", []string{"run", "--executor", "yum", "--state-dir", enrolled}, exitUsage, `--executor "yum"`},
		{"heartbeat too rare", []string{"run", "--heartbeat", "10m", "--state-dir", enrolled}, exitUsage, "--heartbeat 10m0s: want between 1s and 5m"},
		{"enroll without token", []string{"enroll", "--server", "http://x"}, exitUsage, "--server and --token are required"},
		{"not enrolled", []string{"run", "--once", "--state-dir", t.TempDir()}, exitAuth, "not enrolled"},
		{"token refused", []string{"run", "--once", "--state-dir", enrolled}, exitAuth, "401 unauthorized"},
		{"enrollment refused", []string{"enroll", "--server", refusing.URL, "--token", "x", "--state-dir", t.TempDir()}, exitAuth, "401 unauthorized"},
	}
	var help strings.Builder
	if got := run(t.Context(), []string{"run", "--help"}, nil, &help, &help); got != exitOK {
		t.Errorf("run --help: exit %d", got)
	}
	for _, want := range []string{"-reboot-command", "systemctl reboot", "-pre-reboot-hook", "-post-boot-hook", "-health-check", "systemd:UNIT", "boot id", "tested set", "one transaction",
		"-heartbeat", "strategy.stepTimeout", "rebooting", "never takes a\nwave slot"} {
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

// TestHelp checks that the agent's help follows patchbay's conventions:
// cobra's command tree, flags as --name (booleans without [=true|false]),
// and a completion command.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"enroll", "--help"}, {"completion", "bash", "--help"}} {
		var out, errb strings.Builder
		if code := run(t.Context(), args, nil, &out, &errb); code != exitOK {
			t.Errorf("%v: exit %d: %s", args, code, errb.String())
		}
		if strings.Contains(out.String(), "[=true|false]") || strings.Contains(out.String(), "Usage of") {
			t.Errorf("%v: help in the old style:\n%s", args, out.String())
		}
	}
	var out, errb strings.Builder
	run(t.Context(), []string{"run", "--help"}, nil, &out, &errb)
	for _, want := range []string{"      --once ", "--interval duration", "--label key=value", "--executor string", "--state-dir string", "--root string", "Examples:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("run --help lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run(t.Context(), []string{"completion", "bash"}, nil, &out, &errb); code != exitOK || !strings.Contains(out.String(), "patchbay-agent") {
		t.Errorf("completion bash: exit %d", code)
	}
}

// TestRetryNote checks the line the agent prints while the server is
// unreachable.
func TestRetryNote(t *testing.T) {
	var b strings.Builder
	retryNote(&b, "http://patchbay:8080")(2, 8, 1234*time.Millisecond, errors.New("connection refused"))
	want := "patchbay-agent: http://patchbay:8080: attempt 2 of 8 failed (connection refused); retrying in 1.2s\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
