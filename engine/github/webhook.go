package github

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
)

// Body limits of a delivery.
const (
	// DefaultMaxBodyBytes bounds a delivery's body unless configured.
	DefaultMaxBodyBytes = 1 << 20
	// MaxBodyBytesLimit is GitHub's own cap on a payload (25 MB); a
	// larger configured limit is clamped to it.
	MaxBodyBytesLimit = 25 << 20
)

// DeliveryLog records webhook delivery ids; *store.Store is one.
type DeliveryLog interface {
	// DeliverySeen reports whether id was recorded.
	DeliverySeen(ctx context.Context, id string) (bool, error)
	// MarkDelivery records id and reports whether it was new.
	MarkDelivery(ctx context.Context, id string) (firstTime bool, err error)
}

// Processor acts on a routed event; *Service is one.
type Processor interface {
	Process(ctx context.Context, ev Event) error
}

// WebhookConfig configures NewWebhook. Secret, Deliveries and Processor are
// required.
type WebhookConfig struct {
	// Secret is the webhook secret; there is no unsigned mode.
	Secret []byte
	// MaxBodyBytes bounds the body; 0 means DefaultMaxBodyBytes, more
	// than MaxBodyBytesLimit is clamped.
	MaxBodyBytes int64
	// MainBranch is the branch whose pushes hint the rollout controller;
	// empty means each repository's default branch.
	MainBranch string
	Deliveries DeliveryLog
	Processor  Processor
	Logger     *slog.Logger
}

// Webhook is the http.Handler of POST /webhooks/github.
type Webhook struct {
	cfg WebhookConfig
	log *slog.Logger
}

// NewWebhook returns the webhook handler, or ErrNoSecret without a secret.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if len(cfg.Secret) == 0 {
		return nil, ErrNoSecret
	}
	if cfg.Deliveries == nil || cfg.Processor == nil {
		return nil, errors.New("github webhook: Deliveries and Processor are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	cfg.MaxBodyBytes = min(cfg.MaxBodyBytes, MaxBodyBytesLimit)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Webhook{cfg: cfg, log: cfg.Logger}, nil
}

// Response is the JSON body of every webhook answer.
type Response struct {
	// Status is "ok", "ignored", "duplicate" or "error".
	Status string `json:"status"`
	// Message says why, for people reading GitHub's delivery log.
	Message string `json:"message,omitempty"`
	// Kind is how the event was routed.
	Kind Kind `json:"kind,omitempty"`
}

func respond(w http.ResponseWriter, code int, r Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(r) // GitHub may have gone
}

// ServeHTTP verifies, parses, dedupes and processes one delivery.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			h.log.Error("github webhook: panic", "panic", v, "stack", string(debug.Stack()))
			respond(w, http.StatusInternalServerError, Response{Status: "error", Message: "internal error"})
		}
	}()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		respond(w, http.StatusMethodNotAllowed, Response{Status: "error", Message: "POST only"})
		return
	}
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		respond(w, http.StatusUnauthorized, Response{Status: "error", Message: "X-Hub-Signature-256 is required"})
		return
	}
	limit := h.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		respond(w, http.StatusRequestEntityTooLarge, Response{Status: "error", Message: fmt.Sprintf("body larger than %d bytes", limit)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			respond(w, http.StatusRequestEntityTooLarge, Response{Status: "error", Message: fmt.Sprintf("body larger than %d bytes", limit)})
			return
		}
		respond(w, http.StatusBadRequest, Response{Status: "error", Message: "read body failed"})
		return
	}
	if !ValidSignature(h.cfg.Secret, body, sig) {
		h.log.Warn("github webhook: bad signature", "delivery", r.Header.Get("X-GitHub-Delivery"))
		respond(w, http.StatusUnauthorized, Response{Status: "error", Message: "signature does not match"})
		return
	}
	name, delivery := r.Header.Get("X-GitHub-Event"), r.Header.Get("X-GitHub-Delivery")
	if name == "" || delivery == "" || len(delivery) > 200 {
		respond(w, http.StatusBadRequest, Response{Status: "error", Message: "X-GitHub-Event and X-GitHub-Delivery are required"})
		return
	}
	if !jsonContentType(r.Header.Get("Content-Type")) {
		respond(w, http.StatusUnsupportedMediaType, Response{Status: "error", Message: "Content-Type must be application/json: configure the webhook with content type application/json (form-encoded deliveries are not accepted)"})
		return
	}
	ev, err := ParseEvent(name, delivery, body, h.cfg.MainBranch)
	if err != nil {
		h.log.Info("github webhook: malformed", "delivery", delivery, "event", name, "err", err)
		respond(w, http.StatusBadRequest, Response{Status: "error", Message: "malformed payload"})
		return
	}
	if ev.Kind == KindIgnored {
		respond(w, http.StatusAccepted, Response{Status: "ignored", Kind: ev.Kind, Message: "event not handled: " + name})
		return
	}
	// A delivery counts as seen only once it was processed: GitHub's
	// redelivery of one that failed is processed again. Two copies arriving
	// at the same moment may both be processed; processing is idempotent
	// (the comment is upserted, a check run or status is set again).
	seen, err := h.cfg.Deliveries.DeliverySeen(r.Context(), delivery)
	if err != nil {
		h.log.Error("github webhook: delivery log", "delivery", delivery, "err", err)
		respond(w, http.StatusServiceUnavailable, Response{Status: "error", Message: "delivery log unavailable; redeliver later"})
		return
	}
	if seen {
		respond(w, http.StatusOK, Response{Status: "duplicate", Kind: ev.Kind, Message: "delivery already seen"})
		return
	}
	if ev.Kind != KindPing {
		if err := h.cfg.Processor.Process(r.Context(), ev); err != nil {
			h.log.Error("github webhook: process", "delivery", delivery, "event", name, "action", ev.Action, "pr", ev.PR, "err", err)
			respond(w, http.StatusInternalServerError, Response{Status: "error", Kind: ev.Kind, Message: "processing failed; redeliver it, or comment /patchbay gate to retry"})
			return
		}
	}
	if _, err := h.cfg.Deliveries.MarkDelivery(r.Context(), delivery); err != nil {
		// Processed but not recorded: a redelivery processes it again,
		// which is harmless.
		h.log.Error("github webhook: mark delivery", "delivery", delivery, "err", err)
	}
	if ev.Kind == KindPing {
		respond(w, http.StatusOK, Response{Status: "ok", Kind: ev.Kind, Message: "pong"})
		return
	}
	h.log.Info("github webhook", "delivery", delivery, "event", name, "action", ev.Action, "kind", ev.Kind, "repo", ev.Owner+"/"+ev.Repo, "pr", ev.PR)
	respond(w, http.StatusOK, Response{Status: "ok", Kind: ev.Kind})
}

// jsonContentType reports whether v is exactly the media type
// application/json, parameters (charset) allowed. A missing header,
// application/x-www-form-urlencoded (GitHub's other delivery format) or
// look-alikes such as application/jsonfoo are refused.
func jsonContentType(v string) bool {
	mt, _, err := mime.ParseMediaType(v)
	return err == nil && mt == "application/json"
}

// ValidSignature reports whether header is "sha256=" and the hex HMAC-SHA256
// of body under secret, compared in constant time. SHA-1 signatures are
// not accepted.
func ValidSignature(secret, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// Sign returns the X-Hub-Signature-256 value of body under secret, as
// GitHub computes it (for tests and tools that replay deliveries).
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
