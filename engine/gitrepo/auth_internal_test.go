package gitrepo

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

func TestAuthMethod(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url string
		auth      Auth
		check     func(t *testing.T, m any)
	}{
		{"https token", "https://github.com/acme/patches.git", Auth{Token: "tok"}, func(t *testing.T, m any) {
			b, ok := m.(*http.BasicAuth)
			if !ok || b.Username != "x-access-token" || b.Password != "tok" {
				t.Errorf("got %#v", m)
			}
		}},
		{"https token with user", "https://git.example.com/p.git", Auth{Token: "tok", Username: "bot"}, func(t *testing.T, m any) {
			if b, ok := m.(*http.BasicAuth); !ok || b.Username != "bot" {
				t.Errorf("got %#v", m)
			}
		}},
		{"https anonymous", "https://github.com/acme/patches.git", Auth{}, func(t *testing.T, m any) {
			if m != nil {
				t.Errorf("got %#v, want none", m)
			}
		}},
		{"scp-style ssh key", "git@github.com:acme/patches.git", Auth{SSHKeyPath: keyPath, KnownHostsPath: knownHosts}, func(t *testing.T, m any) {
			k, ok := m.(*gitssh.PublicKeys)
			if !ok || k.User != "git" || k.HostKeyCallback == nil {
				t.Errorf("got %#v", m)
			}
		}},
		{"local path", "/srv/git/patches.git", Auth{Token: "ignored"}, func(t *testing.T, m any) {
			if m != nil {
				t.Errorf("got %#v, want none", m)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := authMethod(tt.url, tt.auth)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if m != nil {
				v = m
			}
			tt.check(t, v)
		})
	}
	if _, err := authMethod("ssh://git@example.com/p.git", Auth{SSHKeyPath: filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing ssh key: no error")
	}
}
