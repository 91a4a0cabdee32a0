package notify

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/patchbay/patchbay/engine/baseline"
)

// FromConfig builds the channels of a repository's config.notify and
// returns a Notifier over them (base gives the store, log and retry
// settings; its Channels are ignored). The secrets are read through
// readFile from the files config.notify names (cmd passes os.ReadFile; this
// package opens no file itself). It returns nil and no error when nothing
// is configured. A webhook without a secret is refused: webhooks are
// always signed.
func FromConfig(c *baseline.Notify, base Config, readFile func(path string) ([]byte, error)) (*Notifier, error) {
	if c == nil || len(c.Webhooks) == 0 && c.Email == nil {
		return nil, nil
	}
	read := func(what, path string) (string, error) {
		if path == "" {
			return "", nil
		}
		b, err := readFile(path)
		if err != nil {
			return "", fmt.Errorf("config.notify: %s: %w", what, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	var chs []Channel
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
		chs = append(chs, &Webhook{ID: n, URL: w.URL, Secret: []byte(sec), Events: w.Events})
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
			chs = append(chs, &Email{ID: n, Addr: e.SMTP, From: e.From, To: r.Addresses, Username: user, Password: pass,
				Events: r.Events, AllowPlaintext: e.AllowPlaintext})
		}
	}
	base.Channels = chs
	return New(base)
}

// Receivers describes each receiver of a config.notify by its channel name
// ("webhook:ops", "email:security"): where it goes, what it gets and which
// secret files it reads (never the secrets). Comparing two descriptions
// says which receivers a change added, removed or changed.
func Receivers(c *baseline.Notify) map[string]string {
	out := map[string]string{}
	if c == nil {
		return out
	}
	events := func(ev []string) string {
		if len(ev) == 0 {
			return "*"
		}
		return strings.Join(ev, ",")
	}
	for n, w := range c.Webhooks {
		out["webhook:"+n] = fmt.Sprintf("url=%s events=%s secretFile=%s", w.URL, events(w.Events), w.SecretFile)
	}
	if e := c.Email; e != nil {
		for n, r := range e.To {
			out["email:"+n] = fmt.Sprintf("to=%s events=%s smtp=%s from=%s usernameFile=%s passwordFile=%s plaintext=%v",
				strings.Join(r.Addresses, ","), events(r.Events), e.SMTP, e.From, e.UsernameFile, e.PasswordFile, e.AllowPlaintext)
		}
	}
	return out
}

// ReceiverChanges compares two descriptions made by Receivers and returns
// the receivers added, removed and changed, each sorted.
func ReceiverChanges(old, new map[string]string) (added, removed, changed []string) {
	for k, v := range new {
		ov, ok := old[k]
		switch {
		case !ok:
			added = append(added, k)
		case ov != v:
			changed = append(changed, k)
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			removed = append(removed, k)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	slices.Sort(changed)
	return added, removed, changed
}
