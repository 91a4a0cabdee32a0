package audit

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Key file names written by GenerateKeyPair's callers (patchbay keys
// generate), matching cosign's cosign.key / cosign.pub convention.
const (
	PrivateKeyFile = "patchbay.key"
	PublicKeyFile  = "patchbay.pub"
)

// GenerateKeyPair makes an ECDSA P-256 key pair in cosign's format: the
// private key PEM-encoded as "ENCRYPTED SIGSTORE PRIVATE KEY" (scrypt +
// secretbox, encrypted with password, which may be empty as cosign allows),
// the public key as a PKIX "PUBLIC KEY" PEM block.
func GenerateKeyPair(password []byte) (privPEM, pubPEM []byte, err error) {
	pf := func(bool) ([]byte, error) { return password, nil }
	privPEM, pubPEM, err = cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), pf)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key pair: %w", err)
	}
	return privPEM, pubPEM, nil
}

// SignerFromPEM decrypts a private key PEM (patchbay's or cosign's
// encrypted format, or an unencrypted PKCS#8 / SEC 1 key) and returns a
// SHA-256 signer for it.
func SignerFromPEM(privPEM, password []byte) (*Signer, error) {
	pf := func(bool) ([]byte, error) { return password, nil }
	key, err := cryptoutils.UnmarshalPEMToPrivateKey(privPEM, pf)
	if err != nil {
		return nil, fmt.Errorf("load private key: %w", err)
	}
	sv, err := signature.LoadSignerVerifier(key, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("load private key: %w", err)
	}
	return NewSigner(sv)
}

// KMSRef is a parsed KMS key reference.
type KMSRef struct {
	// Provider is "awskms", "gcpkms", "azurekms" or "hashivault".
	Provider string
	// Key is the provider-specific key resource (what follows "://").
	Key string
}

// kmsProviders are the URI schemes of sigstore's KMS providers.
var kmsProviders = []string{"awskms", "gcpkms", "azurekms", "hashivault"}

// IsKMSRef reports whether ref looks like a KMS key URI (scheme://...) of a
// provider sigstore knows.
func IsKMSRef(ref string) bool {
	scheme, _, ok := strings.Cut(ref, "://")
	if !ok {
		return false
	}
	for _, p := range kmsProviders {
		if scheme == p {
			return true
		}
	}
	return false
}

// ParseKMSRef parses a KMS key URI in sigstore's syntax:
//
//	awskms://[ENDPOINT]/KEY-ID-OR-ARN-OR-ALIAS
//	gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]
//	azurekms://VAULT.vault.azure.net/KEY
//	hashivault://KEY
func ParseKMSRef(ref string) (KMSRef, error) {
	scheme, rest, ok := strings.Cut(ref, "://")
	if !ok || !IsKMSRef(ref) {
		return KMSRef{}, fmt.Errorf("kms key %q: want a URI with scheme %s", ref, strings.Join(kmsProviders, ", "))
	}
	if rest == "" {
		return KMSRef{}, fmt.Errorf("kms key %q: empty key", ref)
	}
	bad := func(want string) error { return fmt.Errorf("kms key %q: want %s", ref, want) }
	switch scheme {
	case "awskms":
		// [endpoint]/key: an endpoint is optional; the key is an id, an ARN or alias/NAME.
		endpoint, key, _ := strings.Cut(rest, "/")
		if key == "" {
			return KMSRef{}, bad("awskms://[ENDPOINT]/KEY (e.g. awskms:///alias/patchbay)")
		}
		if endpoint != "" {
			if _, err := url.Parse("https://" + endpoint); err != nil {
				return KMSRef{}, bad("a host[:port] endpoint")
			}
		}
	case "gcpkms":
		parts := strings.Split(rest, "/")
		if len(parts) < 8 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "keyRings" || parts[6] != "cryptoKeys" {
			return KMSRef{}, bad("gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]")
		}
	case "azurekms":
		vault, key, _ := strings.Cut(rest, "/")
		if vault == "" || key == "" || strings.Contains(key, "/") {
			return KMSRef{}, bad("azurekms://VAULT.vault.azure.net/KEY")
		}
	case "hashivault":
		if strings.Contains(rest, "/") {
			return KMSRef{}, bad("hashivault://KEY")
		}
	}
	return KMSRef{Provider: scheme, Key: rest}, nil
}

// LoadKMSSigner returns a signer for a KMS key URI. The KMS providers are
// separate sigstore modules that pull in their clouds' SDKs; they are not
// compiled into patchbay, so after checking the URI this returns
// ErrKMSNotCompiled.
func LoadKMSSigner(_ context.Context, ref string) (*Signer, error) {
	k, err := ParseKMSRef(ref)
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: %s (sign with a key file made by 'patchbay keys generate' or 'cosign generate-key-pair')", ErrKMSNotCompiled, k.Provider)
}

// TrustedKey is a public key trusted to sign records.
type TrustedKey struct {
	ID       string
	Public   crypto.PublicKey
	PEM      []byte
	verifier signature.Verifier
}

// TrustedKeyOf trusts a public key held in memory (e.g. the server's own
// signer's).
func TrustedKeyOf(pub crypto.PublicKey) (TrustedKey, error) { return newTrustedKey(pub) }

// ParseTrustedKeys parses PEM-encoded public keys (each argument may hold
// several PEM blocks). An empty result is not an error here; Verify refuses
// to run without keys.
func ParseTrustedKeys(pems ...[]byte) ([]TrustedKey, error) {
	var out []TrustedKey
	for i, p := range pems {
		var keys []crypto.PublicKey
		for rest := p; ; {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			k, err := cryptoutils.UnmarshalPEMToPublicKey(pem.EncodeToMemory(block))
			if err != nil {
				return nil, fmt.Errorf("trusted key %d: %w", i+1, err)
			}
			keys = append(keys, k)
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("trusted key %d: %w", i+1, errors.New("no PEM public key found"))
		}
		for _, k := range keys {
			tk, err := newTrustedKey(k)
			if err != nil {
				return nil, fmt.Errorf("trusted key %d: %w", i+1, err)
			}
			out = append(out, tk)
		}
	}
	return out, nil
}

func newTrustedKey(pub crypto.PublicKey) (TrustedKey, error) {
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return TrustedKey{}, err
	}
	id, err := KeyID(pub)
	if err != nil {
		return TrustedKey{}, err
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return TrustedKey{}, err
	}
	return TrustedKey{ID: id, Public: pub, PEM: pem, verifier: v}, nil
}
