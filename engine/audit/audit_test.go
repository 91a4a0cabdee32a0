package audit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

const (
	bdigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	pdigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	idigest = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

type fixture struct {
	g       *gitrepotest.Repo
	repo    *gitrepo.Repo
	w       *Writer
	keys    []TrustedKey
	signer  *Signer
	m1, h1  string
	m2, h2  string
	records []*Record
}

// newKey makes an unencrypted in-memory P-256 key: scrypt-encrypted keys
// take seconds under the race detector, and TestKeyFiles covers them.
func newKey(t testing.TB) (*Signer, []TrustedKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(k, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(sv)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.MarshalPublicKeyToPEM(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseTrustedKeys(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, keys
}

// TestKeyFiles checks the cosign-format key pair: encrypted with the
// password, refused with another, and the public half verifies.
func TestKeyFiles(t *testing.T) {
	priv, pub, err := GenerateKeyPair([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(priv, []byte("ENCRYPTED SIGSTORE PRIVATE KEY")) {
		t.Fatalf("private key is not cosign's encrypted format:\n%s", priv)
	}
	if _, err := SignerFromPEM(priv, []byte("wrong")); err == nil {
		t.Fatal("wrong password decrypted the key")
	}
	s, err := SignerFromPEM(priv, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseTrustedKeys(pub)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != keys[0].ID {
		t.Errorf("key ids differ: signer %s, public key %s", s.KeyID(), keys[0].ID)
	}
	line, err := s.sign([]byte(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if p := checkSignature(decodeLine("c", 1, line), keys); p == nil || p.Reason != ReasonMalformed {
		t.Errorf("signed non-statement: problem %v, want a malformed (but signed) record", p)
	}
}

// build makes a repository with two merged PRs and writes one record of
// every kind: seven records, three on m1, one on h2, three on m2.
func build(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{g: gitrepotest.New(t)}
	f.g.Commit("initial", map[string]string{"patchbay.cue": "package patchbay\n"})
	f.m1, f.h1 = f.g.MergePR(1, "alice", "add-b1", map[string]string{"baselines/b1.cue": "b1\n"})
	f.m2, f.h2 = f.g.MergePR(2, "bob", "promote", map[string]string{"rings/pilot.cue": "pilot\n"})
	var err error
	if f.repo, err = gitrepo.Open(f.g.Dir); err != nil {
		t.Fatal(err)
	}
	f.signer, f.keys = newKey(t)
	f.w = &Writer{Repo: f.repo, Signer: f.signer, Committer: gitrepo.Signature{Name: "patchbay-test", Email: "t@example.com"}, Now: func() time.Time { return t0 }}
	base := f.g.Git("rev-parse", f.m1+"^1")
	writes := []struct {
		commit string
		p      Predicate
	}{
		{f.h1, &GateDecision{Result: "pass", Warns: []string{"soak.short"}, PolicyBundleDigest: pdigest, InputDigest: idigest, PR: 1, HeadSHA: f.h1, Approvers: []string{"carol"}, DecidedAt: t0}},
		{f.m1, &ChangeMerged{PR: 1, Author: "alice", Approvers: []string{"carol"}, BaseCommit: base, HeadCommit: f.h1, MergeCommit: f.m1, EffectDigest: idigest, MergedAt: t0}},
		{f.m1, &RolloutStarted{RolloutID: "r1", Ring: "canary", BaselineID: "b1", BaselineDigest: bdigest, Hosts: 3, StartedAt: t0}},
		{f.m1, &RolloutWave{RolloutID: "r1", Ring: "canary", BaselineID: "b1", BaselineDigest: bdigest, Wave: 1, HostsTotal: 3, HostsSucceeded: 3, FinishedAt: t0}},
		{f.m1, &RolloutFinished{RolloutID: "r1", Ring: "canary", BaselineID: "b1", BaselineDigest: bdigest, Outcome: "succeeded", HostsTotal: 3, HostsSucceeded: 3, FinishedAt: t0}},
		{f.m1, &RingVerified{Ring: "canary", BaselineID: "b1", BaselineDigest: bdigest, Commit: f.m1, SuccessRate: 1, HostsTotal: 3, HostsSucceeded: 3, SoakHours: 24, VerifiedAt: t0.Add(24 * time.Hour)}},
		{f.m2, &ExceptionGranted{ExceptionID: "x1", Rule: "deb/openssl", Hosts: []string{"web-1"}, Owner: "dave", Reason: "vendor pin", CompensatingControl: "waf", Expires: t0.Add(720 * time.Hour), ApprovedBy: []string{"carol"}, GrantedAt: t0}},
	}
	for _, wr := range writes {
		rec, err := f.w.Write(context.Background(), hash(t, wr.commit), wr.p)
		if err != nil {
			t.Fatal(err)
		}
		f.records = append(f.records, rec)
	}
	return f
}

func hash(t *testing.T, s string) gitrepo.Hash {
	t.Helper()
	h, err := gitrepo.ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestWriteReadByGit(t *testing.T) {
	f := build(t)
	// git sees one envelope per line, in write order.
	lines := strings.Split(f.g.Git("notes", "--ref=patchbay", "show", f.m1), "\n")
	if len(lines) != 5 {
		t.Fatalf("git notes show m1: %d lines, want 5", len(lines))
	}
	for i, l := range lines {
		if Digest([]byte(l)) != f.records[i+1].Digest {
			t.Errorf("line %d digest differs from the record written", i+1)
		}
	}
	log := f.g.Git("log", "--first-parent", "--notes=patchbay", "--format=%H %N", "main")
	if !strings.Contains(log, f.m2+" {\"payloadType\":\"application/vnd.in-toto+json\"") {
		t.Errorf("git log --notes=patchbay does not show the m2 record:\n%s", log)
	}
	// The notes tip anchors the head.
	msg := f.g.Git("log", "-1", "--format=%B", gitrepo.NotesRef)
	if want := "Patchbay-Chain-Seq: 7\nPatchbay-Chain-Head: " + f.records[6].Digest; !strings.Contains(msg, want) {
		t.Errorf("notes commit message:\n%s\nwant it to contain:\n%s", msg, want)
	}
	// Decode the statement of the ring verification.
	l, err := Verify(context.Background(), f.repo, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Records) != 7 {
		t.Fatalf("verified %d records, want 7", len(l.Records))
	}
	// The writer and the reader name the same line for each record (the
	// line gate --record prints and the export shows).
	for _, r := range l.Records {
		for _, w := range f.records {
			if w.Digest == r.Digest && (w.Line != r.Line || w.Line == 0 || w.Where() != r.Where()) {
				t.Errorf("written as %s, read as %s", w.Where(), r.Where())
			}
		}
	}
	rv := l.Of(KindRingVerified)
	if len(rv) != 1 {
		t.Fatalf("%d ring.verified records", len(rv))
	}
	st := rv[0].Statement
	wantSubj := []Subject{
		{Name: "git+commit", Digest: map[string]string{"gitCommit": f.m1}},
		{Name: "baseline:b1", Digest: map[string]string{"sha256": strings.TrimPrefix(bdigest, "sha256:")}},
	}
	if diff := cmp.Diff(wantSubj, st.Subject); diff != "" {
		t.Errorf("subjects (-want +got):\n%s", diff)
	}
	if st.PredicateType != "https://patchbay.dev/audit/ring.verified/v1" || st.Type != "https://in-toto.io/Statement/v1" {
		t.Errorf("statement header: %q %q", st.Type, st.PredicateType)
	}
	p, err := rv[0].Decode()
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(*RingVerified); got.SoakHours != 24 || got.Commit != f.m1 || got.HostsSucceeded != 3 {
		t.Errorf("decoded %+v", got)
	}
	if rv[0].Chain.Seq != 6 || rv[0].Chain.Prev != f.records[4].Digest {
		t.Errorf("chain link %+v", rv[0].Chain)
	}
}

// tamper rewrites the note on commit with edit, keeping the notes tip's
// message (and so its trailers), as someone with write access and patchbay's
// code could.
func tamper(t *testing.T, f *fixture, commit string, edit func(lines [][]byte) [][]byte) {
	t.Helper()
	_, err := f.repo.UpdateNote(context.Background(), gitrepo.NotesRef, hash(t, commit), gitrepo.Signature{Name: "mallory", Email: "m@example.com", When: t0},
		func(tip *gitrepo.Commit, old []byte) ([]byte, string, error) {
			lines := bytes.Split(bytes.TrimSuffix(old, []byte("\n")), []byte("\n"))
			lines = edit(lines)
			if len(lines) == 0 {
				return nil, tip.Message, nil
			}
			return append(bytes.Join(lines, []byte("\n")), '\n'), tip.Message, nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

// resign changes a record's predicate text and signs it again with s.
func resign(t *testing.T, s *Signer, line []byte, from, to string) []byte {
	t.Helper()
	var env Envelope
	rec := decodeLine("", 1, line)
	env = rec.Envelope
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	if !bytes.Contains(payload, []byte(from)) {
		t.Fatalf("payload lacks %q", from)
	}
	payload = bytes.Replace(payload, []byte(from), []byte(to), 1)
	out, err := s.sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, f *fixture)
		want   Reason
		// where is the record the first problem names ("" = chain level).
		where func(f *fixture) string
		// detail must appear in the problem's text.
		detail string
	}{
		{
			name: "edit a record's payload",
			tamper: func(t *testing.T, f *fixture) {
				tamper(t, f, f.m1, func(l [][]byte) [][]byte {
					rec := decodeLine("", 1, l[0])
					p, _ := base64.StdEncoding.DecodeString(rec.Envelope.Payload)
					p = bytes.Replace(p, []byte(`"author":"alice"`), []byte(`"author":"mallory"`), 1)
					rec.Envelope.Payload = base64.StdEncoding.EncodeToString(p)
					l[0] = mustJSON(t, rec.Envelope)
					return l
				})
			},
			want:   ReasonBadSignature,
			where:  func(f *fixture) string { return "record 2 (change.merged) on commit " + f.m1[:12] + ", line 1" },
			detail: "edited after signing",
		},
		{
			name: "re-sign an edited record with an untrusted key",
			tamper: func(t *testing.T, f *fixture) {
				other, _ := newKey(t)
				tamper(t, f, f.m1, func(l [][]byte) [][]byte {
					l[0] = resign(t, other, l[0], `"author":"alice"`, `"author":"mallory"`)
					return l
				})
			},
			want:   ReasonUnknownKey,
			where:  func(f *fixture) string { return "record 2 (change.merged) on commit " + f.m1[:12] + ", line 1" },
			detail: "not among the trusted keys (1 key configured)",
		},
		{
			name: "re-sign an edited record with the trusted key",
			tamper: func(t *testing.T, f *fixture) {
				tamper(t, f, f.m1, func(l [][]byte) [][]byte {
					l[0] = resign(t, f.signer, l[0], `"author":"alice"`, `"author":"mallory"`)
					return l
				})
			},
			want:   ReasonDigestMismatch,
			where:  func(f *fixture) string { return "record 3 (rollout.started) on commit " + f.m1[:12] + ", line 2" },
			detail: "record 2 (change.merged) on commit " + "", // completed below
		},
		{
			name: "delete a record in the middle",
			tamper: func(t *testing.T, f *fixture) {
				tamper(t, f, f.m1, func(l [][]byte) [][]byte { return append(l[:1], l[2:]...) })
			},
			want:   ReasonMissingPredecessor,
			where:  func(f *fixture) string { return "record 4 (rollout.wave) on commit " + f.m1[:12] + ", line 2" },
			detail: "record 3 (digest sha256:",
		},
		{
			name: "delete a whole note",
			tamper: func(t *testing.T, f *fixture) {
				tamper(t, f, f.h1, func([][]byte) [][]byte { return nil })
			},
			want:   ReasonMissingPredecessor,
			where:  func(f *fixture) string { return "record 2 (change.merged) on commit " + f.m1[:12] + ", line 1" },
			detail: "is not in the notes: it was deleted",
		},
		{
			name: "delete the last record",
			tamper: func(t *testing.T, f *fixture) {
				tamper(t, f, f.m2, func([][]byte) [][]byte { return nil })
			},
			want:   ReasonHeadMismatch,
			where:  func(*fixture) string { return "" },
			detail: "names record 7",
		},
		{
			name: "reorder records within a note",
			tamper: func(t *testing.T, f *fixture) {
				tamper(t, f, f.m1, func(l [][]byte) [][]byte { l[1], l[2] = l[2], l[1]; return l })
			},
			want:   ReasonOutOfOrder,
			where:  func(f *fixture) string { return "record 3 (rollout.started) on commit " + f.m1[:12] + ", line 3" },
			detail: "precedes it in the chain",
		},
		{
			name: "move a record to another commit",
			tamper: func(t *testing.T, f *fixture) {
				var moved []byte
				tamper(t, f, f.m2, func(l [][]byte) [][]byte { moved = l[0]; return nil })
				tamper(t, f, f.h2, func([][]byte) [][]byte { return [][]byte{moved} })
			},
			want:   ReasonWrongSubject,
			where:  func(f *fixture) string { return "record 7 (exception.granted) on commit " + f.h2[:12] + ", line 1" },
			detail: "attached to " + "",
		},
		{
			name: "append a plain-text note with git",
			tamper: func(t *testing.T, f *fixture) {
				f.g.Git("notes", "--ref=patchbay", "append", "-m", "looks fine to me", f.m2)
			},
			want:   ReasonUnsigned,
			where:  func(f *fixture) string { return "record ? (undecodable) on commit " + f.m2[:12] + ", line 3" },
			detail: "not a DSSE envelope",
		},
		{
			name: "remove a note with git",
			tamper: func(t *testing.T, f *fixture) {
				f.g.Git("notes", "--ref=patchbay", "remove", f.m2)
			},
			want:   ReasonForeignTip,
			where:  func(*fixture) string { return "" },
			detail: "changed by another tool",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := build(t)
			if _, err := Verify(context.Background(), f.repo, f.keys); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			tt.tamper(t, f)
			_, err := Verify(context.Background(), f.repo, f.keys)
			var ve *VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, ErrVerification) {
				t.Fatalf("after tampering: err = %v, want a VerifyError", err)
			}
			first := ve.Problems[0]
			for _, p := range ve.Problems {
				if p.Reason == tt.want {
					first = p
					break
				}
			}
			if first.Reason != tt.want {
				t.Fatalf("problems %v, want reason %q", ve.Problems, tt.want)
			}
			where := ""
			if first.Record != nil {
				where = first.Record.Where()
			}
			if w := tt.where(f); where != w {
				t.Errorf("problem at %q, want %q (%v)", where, w, first)
			}
			if !strings.Contains(first.String(), tt.detail) {
				t.Errorf("problem %q lacks %q", first, tt.detail)
			}
			t.Logf("%v", err)
		})
	}
}

func mustJSON(t *testing.T, env Envelope) []byte {
	t.Helper()
	b, err := jsonMarshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyRefusesWithoutKeys(t *testing.T) {
	f := build(t)
	if _, err := Verify(context.Background(), f.repo, nil); !errors.Is(err, ErrNoTrustedKeys) {
		t.Errorf("no keys: err = %v, want ErrNoTrustedKeys", err)
	}
	_, other := newKey(t)
	_, err := Verify(context.Background(), f.repo, other)
	var ve *VerifyError
	if !errors.As(err, &ve) || len(ve.Problems) != 7 {
		t.Fatalf("wrong key: %v", err)
	}
	for _, p := range ve.Problems {
		if p.Reason != ReasonUnknownKey {
			t.Errorf("wrong key: %v", p)
		}
	}
}

func TestWriteRejectsInvalidPredicate(t *testing.T) {
	f := build(t)
	// A ring verification of m1 cannot be attached to m2.
	_, err := f.w.Write(context.Background(), hash(t, f.m2), &RingVerified{Ring: "canary", BaselineID: "b1", BaselineDigest: bdigest,
		Commit: f.m1, SuccessRate: 1, HostsTotal: 1, HostsSucceeded: 1, VerifiedAt: t0})
	if !errors.Is(err, ErrInvalidPredicate) || !strings.Contains(err.Error(), "it is about commit "+f.m1) {
		t.Errorf("wrong commit: err = %v", err)
	}
	_, err = f.w.Write(context.Background(), hash(t, f.m1), &RingVerified{Ring: "canary", BaselineDigest: "md5:x", SuccessRate: 2})
	if !errors.Is(err, ErrInvalidPredicate) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"baselineId: required", "baselineDigest: want sha256", "successRate: want 0..1", "commit: want a 40-hex"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestKMSRef(t *testing.T) {
	tests := []struct {
		ref      string
		provider string
		ok       bool
	}{
		{"awskms:///alias/patchbay", "awskms", true},
		{"awskms://localhost:4566/1234abcd-12ab-34cd-56ef-1234567890ab", "awskms", true},
		{"gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k", "gcpkms", true},
		{"gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", "gcpkms", true},
		{"gcpkms://projects/p", "", false},
		{"azurekms://myvault.vault.azure.net/mykey", "azurekms", true},
		{"azurekms://myvault.vault.azure.net/", "", false},
		{"hashivault://patchbay", "hashivault", true},
		{"hashivault://", "", false},
		{"awskms://", "", false},
		{"file:///tmp/patchbay.key", "", false},
		{"patchbay.key", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			k, err := ParseKMSRef(tt.ref)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseKMSRef: err = %v, want ok=%v", err, tt.ok)
			}
			if k.Provider != tt.provider {
				t.Errorf("provider %q, want %q", k.Provider, tt.provider)
			}
			if tt.ok {
				if _, err := LoadKMSSigner(context.Background(), tt.ref); !errors.Is(err, ErrKMSNotCompiled) {
					t.Errorf("LoadKMSSigner: err = %v, want ErrKMSNotCompiled", err)
				}
			}
		})
	}
}

// TestDecodeEnvelopeFastPath checks that the fast path agrees with
// encoding/json, and that lines it cannot vouch for take the standard path.
func TestDecodeEnvelopeFastPath(t *testing.T) {
	signer, _ := newKey(t)
	line, err := signer.sign([]byte(`{"_type":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		line string
	}{
		{"canonical", string(line)},
		{"repeated payload key", strings.TrimSuffix(string(line), "}") + `,"payload":"QkJC"}`},
		{"repeated payloadType", strings.TrimSuffix(string(line), "}") + `,"payloadType":"text/plain"}`},
		{"escaped payload", strings.Replace(string(line), `"payload":"`, `"payload":"\u0041`, 1)},
		{"other key order", `{"payload":"QUFB","payloadType":"application/vnd.in-toto+json","signatures":[]}`},
		{"truncated", string(line[:60])},
		{"truncated after payload", string(line[:bytes.Index(line, []byte(`","signatures"`))+1])},
		{"not json", "looks fine to me"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got Envelope
			wantErr := json.Unmarshal([]byte(tt.line), &want)
			gotErr := decodeEnvelope([]byte(tt.line), &got)
			if (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("error: encoding/json %v, decodeEnvelope %v", wantErr, gotErr)
			}
			if diff := cmp.Diff(want, got); wantErr == nil && diff != "" {
				t.Errorf("(-encoding/json +decodeEnvelope):\n%s", diff)
			}
		})
	}
}

// TestReadOn: reading the notes of given commits only yields exactly what
// Read yields for them (no more commits), and CheckSignature tells a
// trusted record from one signed by another key.
func TestReadOn(t *testing.T) {
	f := build(t)
	all, err := Read(context.Background(), f.repo)
	if err != nil {
		t.Fatal(err)
	}
	on, err := ReadOn(f.repo, hash(t, f.m1), hash(t, f.h1), hash(t, f.m1), hash(t, f.g.Git("rev-parse", f.m1+"^1")))
	if err != nil {
		t.Fatal(err)
	}
	if len(on) != 2 {
		t.Fatalf("ReadOn: %d commits, want the two with notes", len(on))
	}
	for _, c := range []string{f.m1, f.h1} {
		if len(on[c]) != len(all.ByCommit[c]) {
			t.Fatalf("commit %s: %d records, Read has %d", c[:12], len(on[c]), len(all.ByCommit[c]))
		}
		for i, r := range on[c] {
			if r.Digest != all.ByCommit[c][i].Digest || r.Line != i+1 || r.Chain != all.ByCommit[c][i].Chain {
				t.Errorf("commit %s line %d differs from Read's", c[:12], i+1)
			}
			if p := CheckSignature(r, f.keys); p != nil {
				t.Errorf("%s: %v", r.Where(), p)
			}
		}
	}
	_, others := newKey(t)
	if p := CheckSignature(on[f.m1][0], others); p == nil || p.Reason != ReasonUnknownKey {
		t.Errorf("another key: %v, want unknown key", p)
	}
	if p := CheckSignature(on[f.m1][0], nil); p == nil {
		t.Error("no keys: verified")
	}
}
