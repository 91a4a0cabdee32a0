package github

import "errors"

// ErrNoSecret is returned by NewWebhook without a webhook secret: an
// unsigned payload is refused, always, so the endpoint does not start.
var ErrNoSecret = errors.New("github webhook: a secret is required")

// ErrSignature is a delivery whose X-Hub-Signature-256 is missing, not
// well-formed or does not match the body.
var ErrSignature = errors.New("github webhook: bad signature")

// ErrMalformed is a delivery whose headers or body cannot be parsed.
var ErrMalformed = errors.New("github webhook: malformed delivery")

// ErrAuth is an App or token configuration that cannot authenticate
// (unreadable private key, missing ids).
var ErrAuth = errors.New("github auth")
