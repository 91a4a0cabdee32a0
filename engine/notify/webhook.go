package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Webhook POSTs each event as JSON to URL, signed: the header
// X-Patchbay-Signature-256 is "sha256=" and the hex HMAC-SHA256 of the
// body under Secret (the same scheme as GitHub's webhooks, so receivers
// can reuse their verification). X-Patchbay-Event names the kind and
// X-Patchbay-Delivery the event id. Any 2xx answer is a delivery.
type Webhook struct {
	ID     string
	URL    string
	Secret []byte
	Events []string
	Client *http.Client
}

// Name implements Channel.
func (w *Webhook) Name() string { return "webhook:" + w.ID }

// Wants implements Channel.
func (w *Webhook) Wants(kind string) bool { return subscribed(w.Events, kind) }

// Sign returns the X-Patchbay-Signature-256 value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Send implements Channel.
func (w *Webhook) Send(ctx context.Context, ev Event) error {
	if len(w.Secret) == 0 {
		return errors.New("webhook " + w.ID + ": no secret: refusing to send unsigned")
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "patchbay-notify")
	req.Header.Set("X-Patchbay-Event", ev.Kind)
	req.Header.Set("X-Patchbay-Delivery", ev.Key)
	req.Header.Set("X-Patchbay-Signature-256", Sign(w.Secret, body))
	c := w.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s: %s", w.ID, resp.Status)
	}
	return nil
}
