package audit

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/patchbay/patchbay/engine/gitrepo"
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

// ReadOn reads, without verifying them, the records in the notes of the
// given commits only: each note is looked up directly in the notes tree
// (no walk over every note), so its cost does not grow with the trail.
// Commits without a note are absent from the result. Use it for display;
// verify a record's signature with CheckSignature and the chain with
// Verify.
func ReadOn(repo *gitrepo.Repo, commits ...gitrepo.Hash) (map[string][]*Record, error) {
	out := make(map[string][]*Record, len(commits))
	for _, c := range commits {
		key := c.String()
		if _, done := out[key]; done {
			continue
		}
		data, err := repo.Note(gitrepo.NotesRef, c)
		if errors.Is(err, gitrepo.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read audit records on %s: %w", short(key), err)
		}
		var recs []*Record
		for j, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) > 0 {
				recs = append(recs, decodeLine(key, j+1, line))
			}
		}
		out[key] = recs
	}
	return out, nil
}

// CheckSignature verifies one record's signature against keys; it returns
// nil when a trusted key signed exactly this content, else the problem
// (unsigned, bad signature, unknown key, malformed). It does not check the
// record's place in the chain.
func CheckSignature(r *Record, keys []TrustedKey) *Problem {
	if len(keys) == 0 {
		return &Problem{Record: r, Reason: ReasonUnknownKey, Detail: ErrNoTrustedKeys.Error()}
	}
	return checkSignature(r, keys)
}
