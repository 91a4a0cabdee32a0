// Package audit owns patchbay's audit records: signed, hash-chained
// statements of decisions and outcomes (gate decisions, merges, rollout
// starts, waves and ends, ring verifications, granted exceptions), stored
// as Git notes under refs/notes/patchbay on the commit each is about.
//
// # Format
//
// A record is an in-toto Statement v1 (https://in-toto.io/Statement/v1)
// whose first subject is the commit, {"name": "git+commit", "digest":
// {"gitCommit": "<sha>"}}, followed — for kinds about a baseline — by
// {"name": "baseline:<id>", "digest": {"sha256": "<hex>"}}. Its
// predicateType is https://patchbay.dev/audit/<kind>/v1 and its predicate
// is the kind's struct ([GateDecision], [ChangeMerged], [RolloutStarted],
// [RolloutWave], [RolloutFinished], [RingVerified], [ExceptionGranted])
// plus a "chain" object ([Link]). The statement is the payload of a DSSE
// envelope (payloadType application/vnd.in-toto+json) signed over DSSE's
// pre-authentication encoding (PAE) through a sigstore signature.Signer;
// the signature's keyid is the hex SHA-256 of the signer's PKIX public key.
//
// A note holds one envelope per line, as compact JSON, appended in order.
//
// # Chain
//
// All records of a repository form one chain. Record n (n ≥ 1) carries
// chain.seq = n and chain.prev = the digest of record n-1 ("sha256:" + hex
// SHA-256 of its envelope line as stored, without the newline); record 1
// has no prev. The chain head is anchored in the notes ref itself: every
// notes commit patchbay writes carries the trailers
//
//	Patchbay-Chain-Seq: <n>
//	Patchbay-Chain-Head: sha256:<digest of record n>
//
// and the ref's tip commit must carry them. Verification (see [Verify])
// therefore detects an edited record (bad signature, or — when re-signed
// with a trusted key — a digest mismatch in its successor), a record signed
// by an untrusted key (unknown key), a deleted record (missing predecessor;
// the last one: head mismatch), records reordered within a note (out of
// order) or moved to another commit (wrong subject), two records claiming
// the same place (fork), and notes changed by other tools (no trailer).
// Truncating the tail together with rewriting the trailer is only
// detectable against a copy of the ref held elsewhere (a protected remote).
//
// The package is a leaf: it imports engine/gitrepo and sigstore, never
// rollout, gate, server or cmd code, and never reads the environment.
package audit
