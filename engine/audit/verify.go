package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/plural"
)

// Reason classifies a verification problem.
type Reason string

// The reasons a record or the chain fails to verify.
const (
	// ReasonUnsigned: a note line is not a signed DSSE envelope.
	ReasonUnsigned Reason = "unsigned record"
	// ReasonMalformed: the envelope does not hold a patchbay statement.
	ReasonMalformed Reason = "malformed record"
	// ReasonBadSignature: a trusted key's signature does not verify (the
	// record was edited).
	ReasonBadSignature Reason = "bad signature"
	// ReasonUnknownKey: no trusted key signed the record.
	ReasonUnknownKey Reason = "unknown key"
	// ReasonMissingPredecessor: the record before this one is gone.
	ReasonMissingPredecessor Reason = "missing predecessor"
	// ReasonDigestMismatch: the predecessor exists but is not the record
	// this one chained to (it was replaced).
	ReasonDigestMismatch Reason = "digest mismatch"
	// ReasonWrongSubject: the record sits on a commit it is not about.
	ReasonWrongSubject Reason = "wrong subject"
	// ReasonOutOfOrder: records within a note are not in chain order.
	ReasonOutOfOrder Reason = "out of order"
	// ReasonFork: two records claim the same place in the chain.
	ReasonFork Reason = "fork"
	// ReasonHeadMismatch: the chain's last record is not the head the
	// notes ref names (the last records were deleted).
	ReasonHeadMismatch Reason = "head mismatch"
	// ReasonForeignTip: the notes ref was changed by another tool.
	ReasonForeignTip Reason = "notes changed outside patchbay"
)

// Problem is one verification failure.
type Problem struct {
	// Record is the record concerned; nil for chain-level problems.
	Record *Record
	Reason Reason
	Detail string
}

// String renders "record 3 (change.merged) on commit abc..., line 1: bad signature: ...".
func (p Problem) String() string {
	where := "chain"
	if p.Record != nil {
		where = p.Record.Where()
	}
	if p.Detail == "" {
		return where + ": " + string(p.Reason)
	}
	return where + ": " + string(p.Reason) + ": " + p.Detail
}

// VerifyError lists every problem verification found. It matches
// ErrVerification with errors.Is.
type VerifyError struct {
	Problems []Problem
}

func (e *VerifyError) Error() string {
	if len(e.Problems) == 1 {
		return "audit chain does not verify: " + e.Problems[0].String()
	}
	return fmt.Sprintf("audit chain does not verify: %s (and %s)", e.Problems[0], plural.Count(len(e.Problems)-1, "more problem"))
}

// Is makes errors.Is(err, ErrVerification) true.
func (e *VerifyError) Is(target error) bool { return target == ErrVerification }

// Verify reads every record of repo and verifies each signature against
// the trusted keys and the whole chain. It returns the log and nil when
// everything verifies; otherwise the log and a *VerifyError naming each
// problem. Without trusted keys it fails with ErrNoTrustedKeys: nothing is
// ever skipped.
func Verify(ctx context.Context, repo *gitrepo.Repo, keys []TrustedKey) (*Log, error) {
	if len(keys) == 0 {
		return nil, ErrNoTrustedKeys
	}
	log, err := Read(ctx, repo)
	if err != nil {
		return nil, err
	}
	if probs := VerifyLog(log, keys); len(probs) > 0 {
		return log, &VerifyError{Problems: probs}
	}
	return log, nil
}

// VerifyLog verifies a log read by Read; it returns the problems found in
// chain order, or none.
func VerifyLog(log *Log, keys []TrustedKey) []Problem {
	if len(keys) == 0 {
		return []Problem{{Reason: ReasonUnknownKey, Detail: ErrNoTrustedKeys.Error()}}
	}
	sigProbs := make([]*Problem, len(log.Records))
	parallel(len(log.Records), func(i int) { sigProbs[i] = checkSignature(log.Records[i], keys) })

	var probs []Problem
	add := func(r *Record, reason Reason, format string, args ...any) {
		probs = append(probs, Problem{Record: r, Reason: reason, Detail: fmt.Sprintf(format, args...)})
	}
	bySeq := make(map[int64]*Record, len(log.Records))
	var maxSeq int64
	for i, r := range log.Records {
		if p := sigProbs[i]; p != nil {
			probs = append(probs, *p)
		}
		if r.Statement == nil {
			continue
		}
		if s := r.Subject(); s != r.Commit {
			add(r, ReasonWrongSubject, "the record is about commit %s but is attached to %s", short(s), short(r.Commit))
		} else if a, ok := r.pred.(aboutCommit); ok && a.aboutCommit() != s {
			add(r, ReasonWrongSubject, "its predicate names commit %s but its subject is %s", short(a.aboutCommit()), short(s))
		}
		if other, dup := bySeq[r.Chain.Seq]; dup {
			add(r, ReasonFork, "%s also claims seq %d", other.Where(), r.Chain.Seq)
			continue
		}
		bySeq[r.Chain.Seq] = r
		maxSeq = max(maxSeq, r.Chain.Seq)
	}
	// Lines within one note are appended in chain order.
	for _, recs := range log.ByCommit {
		var last *Record
		for _, r := range recs {
			if r.Statement == nil {
				continue
			}
			if last != nil && r.Chain.Seq < last.Chain.Seq {
				add(r, ReasonOutOfOrder, "it comes after %s in the note but precedes it in the chain", last.Where())
			}
			last = r
		}
	}
	for _, r := range log.Records {
		if r.Statement == nil || bySeq[r.Chain.Seq] != r {
			continue
		}
		if r.Chain.Seq == 1 {
			if r.Chain.Prev != "" {
				add(r, ReasonMissingPredecessor, "the first record names a predecessor %s", r.Chain.Prev)
			}
			continue
		}
		pred, ok := bySeq[r.Chain.Seq-1]
		switch {
		case !ok:
			add(r, ReasonMissingPredecessor, "record %d (digest %s) is not in the notes: it was deleted", r.Chain.Seq-1, r.Chain.Prev)
		case pred.Digest != r.Chain.Prev:
			add(r, ReasonDigestMismatch, "it chains to %s but %s has digest %s: that record was replaced",
				r.Chain.Prev, pred.Where(), pred.Digest)
		}
	}
	switch {
	case !log.HeadOK:
		add(nil, ReasonForeignTip, "the notes ref's tip %s has no %s trailer: refs/notes/patchbay was changed by another tool", short(log.Head.Tip.String()), trailerHead)
	case log.Head.Seq != maxSeq:
		if log.Head.Seq > maxSeq {
			add(nil, ReasonHeadMismatch, "the notes ref names record %d (%s) as the head but the last record found is %d: the last records were deleted",
				log.Head.Seq, log.Head.Digest, maxSeq)
		} else {
			add(bySeq[maxSeq], ReasonHeadMismatch, "the notes ref names record %d as the head; records after it were not written by patchbay", log.Head.Seq)
		}
	case maxSeq > 0 && bySeq[maxSeq].Digest != log.Head.Digest:
		add(bySeq[maxSeq], ReasonDigestMismatch, "the notes ref names head %s but the last record has digest %s: it was replaced",
			log.Head.Digest, bySeq[maxSeq].Digest)
	}
	return probs
}

// checkSignature verifies one record's envelope against the trusted keys.
func checkSignature(r *Record, keys []TrustedKey) *Problem {
	prob := func(reason Reason, format string, args ...any) *Problem {
		return &Problem{Record: r, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	if r.Envelope.PayloadType == "" {
		return prob(ReasonUnsigned, "%s", r.Problem)
	}
	if len(r.Envelope.Signatures) == 0 {
		return prob(ReasonUnsigned, "the envelope has no signatures")
	}
	payload, err := base64.StdEncoding.DecodeString(r.Envelope.Payload)
	if err != nil {
		return prob(ReasonMalformed, "payload is not base64")
	}
	pae := PAE(r.Envelope.PayloadType, payload)
	var tried []string
	matched := false
	for _, s := range r.Envelope.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			continue
		}
		for _, k := range keys {
			if s.KeyID != "" && s.KeyID != k.ID {
				continue
			}
			matched = matched || s.KeyID == k.ID
			if k.verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pae)) == nil {
				if r.Problem != "" {
					return prob(ReasonMalformed, "%s", r.Problem)
				}
				return nil
			}
		}
		tried = append(tried, s.KeyID)
	}
	if matched {
		return prob(ReasonBadSignature, "the signature by trusted key %s does not match the record's content (edited after signing)", shortKey(tried))
	}
	return prob(ReasonUnknownKey, "signed by key %s, which is not among the trusted keys (%s configured)", shortKey(tried), plural.Count(len(keys), "key"))
}

func shortKey(ids []string) string {
	for i, id := range ids {
		if id == "" {
			ids[i] = "(no keyid)"
		} else if len(id) > 16 {
			ids[i] = id[:16]
		}
	}
	return strings.Join(ids, ", ")
}
