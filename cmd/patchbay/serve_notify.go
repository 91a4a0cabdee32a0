package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/notify"
	"github.com/patchbay/patchbay/engine/store"
)

// notifier builds the notification channels from config.notify, reading
// the secrets from the files it names (relative paths are relative to the
// server's working directory). nil when nothing is configured.
func notifier(c *baseline.Notify, st *store.Store, log *slog.Logger) (*notify.Notifier, error) {
	if c == nil || len(c.Webhooks) == 0 && c.Email == nil {
		return nil, nil
	}
	read := func(what, path string) (string, error) {
		if path == "" {
			return "", nil
		}
		b, err := os.ReadFile(filepath.Clean(path))
		if err != nil {
			return "", fmt.Errorf("config.notify: %s: %w", what, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	var chs []notify.Channel
	names := make([]string, 0, len(c.Webhooks))
	for n := range c.Webhooks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w := c.Webhooks[n]
		sec, err := read("webhooks."+n+".secretFile", w.SecretFile)
		if err != nil {
			return nil, err
		}
		if sec == "" {
			return nil, fmt.Errorf("config.notify: webhooks.%s.secretFile %s is empty: webhooks are always signed", n, w.SecretFile)
		}
		chs = append(chs, &notify.Webhook{ID: n, URL: w.URL, Secret: []byte(sec), Events: w.Events})
	}
	if e := c.Email; e != nil {
		user, err := read("email.usernameFile", e.UsernameFile)
		if err != nil {
			return nil, err
		}
		pass, err := read("email.passwordFile", e.PasswordFile)
		if err != nil {
			return nil, err
		}
		routes := make([]string, 0, len(e.To))
		for n := range e.To {
			routes = append(routes, n)
		}
		sort.Strings(routes)
		for _, n := range routes {
			r := e.To[n]
			chs = append(chs, &notify.Email{ID: n, Addr: e.SMTP, From: e.From, To: r.Addresses, Username: user, Password: pass,
				Events: r.Events, AllowPlaintext: e.AllowPlaintext})
		}
	}
	return notify.New(notify.Config{Store: st, Channels: chs, Log: log})
}
