package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
)

// cosign runs the cosign binary offline in dir; it skips the test when
// cosign is not on PATH (go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5).
func cosign(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("cosign")
	if err != nil {
		t.Skip("cosign not on PATH")
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=pw", "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, "tuf"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestCosignInterop checks both directions with the real cosign: a key made
// by 'cosign generate-key-pair' signs patchbay records, and cosign verifies
// what patchbay signed (the envelope with verify-blob-attestation, the raw
// signature over DSSE's PAE with verify-blob); a key made by patchbay signs
// blobs for cosign.
func TestCosignInterop(t *testing.T) {
	dir := t.TempDir()
	if out, err := cosign(t, dir, "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	priv, err := os.ReadFile(filepath.Join(dir, "cosign.key"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := SignerFromPEM(priv, []byte("pw"))
	if err != nil {
		t.Fatalf("patchbay cannot load cosign's key: %v", err)
	}
	keys, err := ParseTrustedKeys(pub)
	if err != nil {
		t.Fatal(err)
	}

	g := gitrepotest.New(t)
	g.Commit("init", map[string]string{"patchbay.cue": "package patchbay\n"})
	m1, _ := g.MergePR(1, "alice", "b1", map[string]string{"baselines/b1.cue": "b1\n"})
	repo, err := gitrepo.Open(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	w := &Writer{Repo: repo, Signer: signer, Now: func() time.Time { return t0 }}
	h, _ := gitrepo.ParseHash(m1)
	p := &RingVerified{Ring: "canary", BaselineID: "b1", BaselineDigest: bdigest, Commit: m1, SuccessRate: 1,
		HostsTotal: 2, HostsSucceeded: 2, SoakHours: 24, VerifiedAt: t0}
	rec, err := w.Write(context.Background(), h, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(context.Background(), repo, keys); err != nil {
		t.Fatalf("patchbay verify with cosign.pub: %v", err)
	}

	// cosign verifies the envelope exactly as stored in the note.
	line := g.Git("notes", "--ref=patchbay", "show", m1)
	if Digest([]byte(line)) != rec.Digest {
		t.Fatal("note line is not the record written")
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := write("envelope.json", []byte(line))
	offline := []string{"--insecure-ignore-tlog", "--private-infrastructure"}
	args := append([]string{"verify-blob-attestation", "--key", "cosign.pub", "--signature", env, "--check-claims=false",
		"--type", KindRingVerified.PredicateType()}, offline...)
	if out, err := cosign(t, dir, args...); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign verify-blob-attestation: %v\n%s", err, out)
	}
	// ... and the signature over the PAE bytes, as a plain blob.
	d := decodeLine(m1, 1, []byte(line))
	payload, _ := base64.StdEncoding.DecodeString(d.Envelope.Payload)
	pae := write("record.pae", PAE(PayloadType, payload))
	sig := write("record.sig", []byte(d.Envelope.Signatures[0].Sig))
	if out, err := cosign(t, dir, append([]string{"verify-blob", "--key", "cosign.pub", "--signature", sig, pae}, offline...)...); err != nil {
		t.Fatalf("cosign verify-blob: %v\n%s", err, out)
	}
	// A tampered payload fails in cosign too.
	tampered := write("tampered.pae", PAE(PayloadType, bytes.Replace(payload, []byte(`"hostsTotal":2`), []byte(`"hostsTotal":9`), 1)))
	if out, err := cosign(t, dir, append([]string{"verify-blob", "--key", "cosign.pub", "--signature", sig, tampered}, offline...)...); err == nil {
		t.Fatalf("cosign verified a tampered payload:\n%s", out)
	}

	// A key pair made by patchbay signs for cosign.
	ppriv, ppub, err := GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	write("patchbay.key", ppriv)
	write("patchbay.pub", ppub)
	blob := write("blob.txt", []byte("hello\n"))
	if out, err := cosign(t, dir, "sign-blob", "--yes", "--key", "patchbay.key", "--output-signature", "blob.sig", "--tlog-upload=false", blob); err != nil {
		t.Fatalf("cosign sign-blob with patchbay.key: %v\n%s", err, out)
	}
	if out, err := cosign(t, dir, append([]string{"verify-blob", "--key", "patchbay.pub", "--signature", "blob.sig", blob}, offline...)...); err != nil {
		t.Fatalf("cosign verify-blob with patchbay.pub: %v\n%s", err, out)
	}
}
