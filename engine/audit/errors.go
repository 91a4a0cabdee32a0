package audit

import "errors"

// Sentinel errors of this package.
var (
	// ErrVerification means a record or the chain failed to verify; the
	// error is a *VerifyError listing every problem.
	ErrVerification = errors.New("audit verification failed")
	// ErrNoTrustedKeys means verification was asked for without any
	// trusted public key; that is a failure, never a pass.
	ErrNoTrustedKeys = errors.New("no trusted public keys")
	// ErrKMSNotCompiled means a KMS key URI was given but the provider's
	// client is not compiled into this binary.
	ErrKMSNotCompiled = errors.New("KMS provider not compiled in")
	// ErrInvalidPredicate means a predicate lacks a required field or has
	// a value outside its domain.
	ErrInvalidPredicate = errors.New("invalid predicate")
	// ErrForeignTip means the notes ref's tip was not written by patchbay
	// (it has no chain trailers), so the chain head is unknown.
	ErrForeignTip = errors.New("notes ref tip not written by patchbay")
)
