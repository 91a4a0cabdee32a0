// Package notify tells people what they asked to hear about: outgoing
// webhooks (JSON, signed with HMAC-SHA256, retried with backoff) and
// e-mail over SMTP, on SLA breaches coming and happened, rollouts halted,
// failed or finished, rings verified, exceptions expiring and hosts gone
// stale. Each event reaches each channel once: deliveries are claimed and
// logged in the store (notify_log), so a restart neither loses nor repeats
// a delivered notification.
//
// Detect turns a fleet plan and the rollout records into events; Notifier
// delivers them. FromConfig builds a Notifier from a repository's
// config.notify; the secrets it names are read through a function the
// caller passes (cmd passes os.ReadFile), so this package opens no file
// and reads no environment. It must not import engine/server or
// engine/rollout.
package notify
