package main

import (
	"log/slog"
	"os"
	"path/filepath"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/notify"
	"github.com/patchbay/patchbay/engine/store"
)

// notifier builds the notification channels from config.notify, reading
// the secrets from the files it names (relative paths are relative to the
// server's working directory). nil when nothing is configured. The server
// calls it again whenever a new revision of the patch repository changes
// config.notify, so the files are read again then.
func notifier(c *baseline.Notify, st *store.Store, log *slog.Logger) (*notify.Notifier, error) {
	return notify.FromConfig(c, notify.Config{Store: st, Log: log}, func(p string) ([]byte, error) { return os.ReadFile(filepath.Clean(p)) })
}
