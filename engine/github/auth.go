package github

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// TokenSource gives the token sent with every API request.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// StaticToken is a fixed token: a personal access token or GitHub Actions'
// GITHUB_TOKEN.
type StaticToken string

// Token returns the token.
func (t StaticToken) Token(context.Context) (string, error) {
	if t == "" {
		return "", fmt.Errorf("%w: empty token", ErrAuth)
	}
	return string(t), nil
}

// ParsePrivateKey parses a GitHub App private key: PEM, PKCS #1 (what
// GitHub hands out) or PKCS #8.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, fmt.Errorf("%w: private key: no PEM block", ErrAuth)
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrAuth, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: private key: not RSA", ErrAuth)
	}
	return rk, nil
}

// AppJWT returns the RS256 JSON Web Token a GitHub App authenticates with:
// issued 60 seconds in the past (clock drift, as GitHub recommends) and
// valid for 9 minutes (GitHub allows at most 10).
func AppJWT(appID int64, key *rsa.PrivateKey, now time.Time) (string, error) {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, err := json.Marshal(struct {
		IAT int64  `json:"iat"`
		EXP int64  `json:"exp"`
		ISS string `json:"iss"`
	}{now.Add(-60 * time.Second).Unix(), now.Add(9 * time.Minute).Unix(), strconv.FormatInt(appID, 10)})
	if err != nil {
		return "", err
	}
	signing := header + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign app jwt: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// AppTokenSource gives installation tokens of a GitHub App: it mints a JWT
// and exchanges it with Apps.CreateInstallationToken, and reuses the token
// until five minutes before it expires. It is safe for concurrent use.
type AppTokenSource struct {
	AppID          int64
	InstallationID int64
	Key            *rsa.PrivateKey
	// APIURL is the REST API's base URL; empty means api.github.com.
	APIURL string
	// HTTPClient makes the token requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// refreshBefore is how long before expiry a token is replaced.
const refreshBefore = 5 * time.Minute

// Token returns a valid installation token, minting a new one when the
// cached one is missing or about to expire.
func (s *AppTokenSource) Token(ctx context.Context) (string, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && now().Add(refreshBefore).Before(s.expires) {
		return s.token, nil
	}
	if s.AppID == 0 || s.InstallationID == 0 || s.Key == nil {
		return "", fmt.Errorf("%w: app id, installation id and private key are required", ErrAuth)
	}
	jwt, err := AppJWT(s.AppID, s.Key, now())
	if err != nil {
		return "", err
	}
	hc := s.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	c, err := baseClient(hc, s.APIURL)
	if err != nil {
		return "", err
	}
	tok, _, err := c.WithAuthToken(jwt).Apps.CreateInstallationToken(ctx, s.InstallationID, nil)
	if err != nil {
		return "", fmt.Errorf("create installation token: %w", err)
	}
	s.token, s.expires = tok.GetToken(), tok.GetExpiresAt().Time
	if s.expires.IsZero() {
		s.expires = now().Add(time.Hour)
	}
	return s.token, nil
}

// transport adds the token of src to every request.
type transport struct {
	src  TokenSource
	base http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := t.src.Token(r.Context())
	if err != nil {
		return nil, err
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(r2)
}

// ClientConfig configures NewClient.
type ClientConfig struct {
	// APIURL is the REST API's base URL: empty for github.com, or a GitHub
	// Enterprise Server URL (https://ghe.example.com/api/v3/; "/api/v3/" is
	// added when missing).
	APIURL string
	// Tokens authenticates every request.
	Tokens TokenSource
	// Base is the underlying transport; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Timeout bounds each request; 0 means 30 seconds.
	Timeout time.Duration
}

// NewClient returns a go-github client for github.com or an Enterprise
// server, authenticated by cfg.Tokens.
func NewClient(cfg ClientConfig) (*gh.Client, error) {
	if cfg.Tokens == nil {
		return nil, fmt.Errorf("%w: no token source", ErrAuth)
	}
	base := cfg.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	hc := &http.Client{Transport: &transport{src: cfg.Tokens, base: base}, Timeout: cfg.Timeout}
	return baseClient(hc, cfg.APIURL)
}

func baseClient(hc *http.Client, apiURL string) (*gh.Client, error) {
	c := gh.NewClient(hc)
	if apiURL == "" || apiURL == "https://api.github.com" || apiURL == "https://api.github.com/" {
		return c, nil
	}
	c, err := c.WithEnterpriseURLs(apiURL, apiURL)
	if err != nil {
		return nil, fmt.Errorf("api url %q: %w", apiURL, err)
	}
	return c, nil
}
