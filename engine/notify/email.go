package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"time"
)

// Email sends each event as a plain-text message over SMTP to To.
// STARTTLS is used when the server offers it (required unless
// AllowPlaintext); with Username it authenticates (PLAIN, which net/smtp
// sends only over TLS or to localhost).
type Email struct {
	ID             string
	Addr           string // host:port
	From           string
	To             []string
	Username       string
	Password       string
	Events         []string
	AllowPlaintext bool
	// TLSConfig overrides the STARTTLS configuration (tests).
	TLSConfig *tls.Config
	// Now dates the message; nil means time.Now.
	Now func() time.Time
}

// Name implements Channel.
func (e *Email) Name() string { return "email:" + e.ID }

// Wants implements Channel.
func (e *Email) Wants(kind string) bool { return subscribed(e.Events, kind) }

// Send implements Channel.
func (e *Email) Send(ctx context.Context, ev Event) error {
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return fmt.Errorf("email %s: smtp address %q: %w", e.ID, e.Addr, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return fmt.Errorf("email %s: %w", e.ID, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("email %s: %w", e.ID, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := e.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("email %s: starttls: %w", e.ID, err)
		}
	} else if !e.AllowPlaintext {
		return fmt.Errorf("email %s: the server does not offer STARTTLS (set allowPlaintext for a local relay)", e.ID)
	}
	if e.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, host)); err != nil {
			return fmt.Errorf("email %s: auth: %w", e.ID, err)
		}
	}
	if err := c.Mail(e.From); err != nil {
		return fmt.Errorf("email %s: %w", e.ID, err)
	}
	for _, to := range e.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("email %s: rcpt %s: %w", e.ID, to, err)
		}
	}
	wc, err := c.Data()
	if err != nil {
		return fmt.Errorf("email %s: %w", e.ID, err)
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: [patchbay] %s\r\nDate: %s\r\nMessage-ID: <%s@patchbay>\r\n",
		e.From, strings.Join(e.To, ", "), oneLine(ev.Subject), now().UTC().Format(time.RFC1123Z), strings.NewReplacer("/", ".", " ", "_").Replace(ev.Key))
	fmt.Fprintf(&b, "X-Patchbay-Event: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", ev.Kind)
	for _, l := range strings.Split(ev.Text, "\n") { // the DATA writer dot-stuffs
		b.WriteString(l + "\r\n")
	}
	if _, err := wc.Write([]byte(b.String())); err != nil {
		return fmt.Errorf("email %s: %w", e.ID, err)
	}
	if err := wc.Close(); err != nil {
		return fmt.Errorf("email %s: %w", e.ID, err)
	}
	return c.Quit()
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
