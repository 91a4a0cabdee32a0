package audit

import (
	"bytes"
	"fmt"
)

// VerifyRecord decodes one record as stored in a note — a line holding a
// DSSE envelope, as `git notes --ref=patchbay show` prints it — and
// verifies its signature against keys. It checks neither the record's
// place in the chain nor its commit: use it for a record handed over on
// its own (`patchbay gate --evidence`), where a forged or unsigned one
// must be refused.
func VerifyRecord(line []byte, keys []TrustedKey) (*Record, error) {
	if len(keys) == 0 {
		return nil, ErrNoTrustedKeys
	}
	r := decodeLine("", 1, bytes.TrimSpace(line))
	if p := checkSignature(r, keys); p != nil {
		return nil, fmt.Errorf("%w: %s", ErrVerification, p.Detail)
	}
	if r.Statement == nil {
		return nil, fmt.Errorf("%w: %s", ErrVerification, r.Problem)
	}
	r.Commit = r.Subject()
	return r, nil
}
