package audit

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/sigstore/sigstore/pkg/signature"
)

// PayloadType is the DSSE payload type of every record.
const PayloadType = "application/vnd.in-toto+json"

// StatementType is the in-toto Statement v1 type.
const StatementType = "https://in-toto.io/Statement/v1"

// Statement is an in-toto Statement v1.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject is one in-toto subject: a name and its digests.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Envelope is a DSSE envelope.
type Envelope struct {
	PayloadType string `json:"payloadType"`
	// Payload is the base64 (standard encoding) of the statement.
	Payload    string      `json:"payload"`
	Signatures []Signature `json:"signatures"`
}

// Signature is one DSSE signature.
type Signature struct {
	KeyID string `json:"keyid"`
	// Sig is the base64 of the signature over PAE(payloadType, payload).
	Sig string `json:"sig"`
}

// PAE is DSSE's pre-authentication encoding, the bytes actually signed:
// "DSSEv1" SP len(type) SP type SP len(payload) SP payload.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// Signer signs records. It wraps any sigstore signature.Signer (a key
// file, a KMS key, a test key) and knows its key id.
type Signer struct {
	s     signature.Signer
	keyID string
	pub   crypto.PublicKey
}

// NewSigner wraps a sigstore signer. The signer must hash with SHA-256
// (sigstore's default for ECDSA P-256), so that cosign can verify.
func NewSigner(s signature.Signer) (*Signer, error) {
	pub, err := s.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("signer public key: %w", err)
	}
	id, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	return &Signer{s: s, keyID: id, pub: pub}, nil
}

// KeyID returns the signer's key id.
func (s *Signer) KeyID() string { return s.keyID }

// PublicKey returns the signer's public key.
func (s *Signer) PublicKey() crypto.PublicKey { return s.pub }

// KeyID is the key id patchbay puts in DSSE signatures: the hex SHA-256 of
// the PKIX (DER) encoding of the public key.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// sign wraps payload in a signed envelope and returns its line encoding.
func (s *Signer) sign(payload []byte) ([]byte, error) {
	sig, err := s.s.SignMessage(bytes.NewReader(PAE(PayloadType, payload)))
	if err != nil {
		return nil, fmt.Errorf("sign record: %w", err)
	}
	env := Envelope{
		PayloadType: PayloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []Signature{{KeyID: s.keyID, Sig: base64.StdEncoding.EncodeToString(sig)}},
	}
	return json.Marshal(env)
}

// Digest returns "sha256:<hex>" of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// jsonMarshal encodes v compactly, as envelopes are stored.
func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
