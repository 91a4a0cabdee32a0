package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

// TestNotifierFromConfig: config.notify in patchbay.cue validates against
// the schema, and the server builds its channels with secrets read from
// files; a missing secret file is an error naming the field.
func TestNotifierFromConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../examples/quickstart")); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "hook.secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := `
config: notify: {
	breachLead: "5d"
	webhooks: ops: {url: "https://hooks.example.org/patchbay", secretFile: "` + secret + `", events: ["sla.breach", "rollout.halted"]}
	email: {
		smtp: "mail.example.org:587"
		from: "patchbay@example.org"
		to: security: addresses: ["security@example.org"]
	}
}
`
	f, err := os.OpenFile(filepath.Join(dir, "patchbay.cue"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(cfg)
	f.Close()
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	repo, err := baseline.LoadDir(context.Background(), dir, baseline.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	n := repo.Config.Notify
	if n == nil || time.Duration(n.BreachLead) != 5*24*time.Hour || time.Duration(n.ExceptionLead) != 14*24*time.Hour ||
		n.Webhooks["ops"].Events[1] != "rollout.halted" || n.Email.To["security"].Events[0] != "*" {
		t.Fatalf("config.notify = %+v", n)
	}
	st := storetest.New(t, store.Options{})
	if nt, err := notifier(n, st, nil); err != nil || nt == nil {
		t.Fatalf("notifier: %v", err)
	}
	n.Webhooks["ops"] = baseline.NotifyWebhook{URL: "https://x", SecretFile: filepath.Join(dir, "missing")}
	if _, err := notifier(n, st, nil); err == nil || !strings.Contains(err.Error(), "webhooks.ops.secretFile") {
		t.Errorf("missing secret: %v", err)
	}
	// An unknown event kind is refused by the schema.
	os.WriteFile(filepath.Join(dir, "patchbay.cue"), []byte(strings.Replace(mustRead(t, filepath.Join(dir, "patchbay.cue")), `"rollout.halted"`, `"rollout.exploded"`, 1)), 0o644)
	if _, err := baseline.LoadDir(context.Background(), dir, baseline.Options{Now: now}); err == nil {
		t.Error("an unknown event kind was accepted")
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
