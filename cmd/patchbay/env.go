package main

import "os"

// Environment variables read by patchbay. This is the only place they are
// declared; flags override them, and they override files.
const (
	// envKeyPassword holds the password of an encrypted signing key.
	//lint:ignore U1000 read by the keys and audit commands
	envKeyPassword = "PATCHBAY_KEY_PASSWORD"
	// envServer is the patchbay server URL of the rollout commands.
	envServer = "PATCHBAY_SERVER"
	// envToken is the admin token of the rollout commands.
	envToken = "PATCHBAY_TOKEN"
)

func osGetenv(k string) string { return os.Getenv(k) }
