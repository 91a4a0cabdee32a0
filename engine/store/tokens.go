package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Tokens are stored only as the hex SHA-256 of the token text and verified
// by looking that hash up through a unique index. A constant-time compare is
// not needed for these lookups: what the database compares is the hash, and
// a timing difference in an index probe reveals at most a prefix of the hash
// of some stored token — which does not help forge a token, because finding
// a preimage of a chosen hash prefix for SHA-256 is infeasible and the tokens
// carry 256 bits of entropy (NewToken). The plaintext is never stored.

// NewToken returns a fresh random token: 32 bytes from crypto/rand,
// base64url without padding (43 characters).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// HashToken returns the hex SHA-256 of token: the form in which the store
// keeps every token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// EnrollmentToken describes an enrollment token as stored (never its text).
type EnrollmentToken struct {
	// Hash is HashToken of the token text.
	Hash      string
	ExpiresAt time.Time
	MaxUses   int
	Uses      int
	CreatedAt time.Time
}

// CreateEnrollmentToken stores the hash of token, usable maxUses times
// until expiresAt. ErrConflict if the same token already exists.
func (s *Store) CreateEnrollmentToken(ctx context.Context, token string, expiresAt time.Time, maxUses int) error {
	if token == "" || maxUses <= 0 || expiresAt.IsZero() {
		return fmt.Errorf("create enrollment token: empty token, zero expiry or max uses <= 0: %w", ErrInvalid)
	}
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO enrollment_tokens (token_hash, expires_at, max_uses, uses, created_at)
		VALUES (?, ?, ?, 0, ?)`), HashToken(token), dbTime(expiresAt), maxUses, dbTime(s.now()))
	if isUnique(err) {
		return fmt.Errorf("create enrollment token: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create enrollment token: %w", err)
	}
	return nil
}

// ConsumeEnrollmentToken uses one use of token atomically: one conditional
// UPDATE, so concurrent consumers never exceed MaxUses. It returns
// ErrTokenInvalid when the token is unknown, expired or used up.
func (s *Store) ConsumeEnrollmentToken(ctx context.Context, token string) error {
	return s.consumeEnrollment(ctx, s.w, token)
}

func (s *Store) consumeEnrollment(ctx context.Context, ex execer, token string) error {
	h := HashToken(token)
	res, err := ex.ExecContext(ctx, s.q(`UPDATE enrollment_tokens SET uses = uses + 1
		WHERE token_hash = ? AND uses < max_uses AND expires_at > ?`), h, dbTime(s.now()))
	if err != nil {
		return fmt.Errorf("consume enrollment token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("consume enrollment token: %w", err)
	} else if n == 1 {
		return nil
	}
	// Say why, for logs; callers see ErrTokenInvalid either way.
	var exp int64
	var uses, max int
	err = ex.QueryRowContext(ctx, s.q("SELECT expires_at, uses, max_uses FROM enrollment_tokens WHERE token_hash = ?"), h).Scan(&exp, &uses, &max)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("enrollment token unknown: %w", ErrTokenInvalid)
	case err != nil:
		return fmt.Errorf("consume enrollment token: %w", err)
	case uses >= max:
		return fmt.Errorf("enrollment token used up (%d of %d): %w", uses, max, ErrTokenInvalid)
	default:
		return fmt.Errorf("enrollment token expired: %w", ErrTokenInvalid)
	}
}

// EnrollmentTokens lists the stored enrollment tokens, newest first.
func (s *Store) EnrollmentTokens(ctx context.Context) ([]EnrollmentToken, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT token_hash, expires_at, max_uses, uses, created_at FROM enrollment_tokens ORDER BY created_at DESC, token_hash")
	if err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", err)
	}
	defer rows.Close()
	var out []EnrollmentToken
	for rows.Next() {
		var t EnrollmentToken
		var exp, created int64
		if err := rows.Scan(&t.Hash, &exp, &t.MaxUses, &t.Uses, &created); err != nil {
			return nil, fmt.Errorf("list enrollment tokens: %w", err)
		}
		t.ExpiresAt, t.CreatedAt = goTime(exp), goTime(created)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", err)
	}
	return out, nil
}

// PruneEnrollmentTokens deletes tokens expired before now or used up and
// returns how many were deleted.
func (s *Store) PruneEnrollmentTokens(ctx context.Context) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.q("DELETE FROM enrollment_tokens WHERE expires_at <= ? OR uses >= max_uses"), dbTime(s.now()))
	if err != nil {
		return 0, fmt.Errorf("prune enrollment tokens: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// CreateAdminToken stores the hash of token under name. ErrConflict if the
// name or the token is taken.
func (s *Store) CreateAdminToken(ctx context.Context, name, token string) error {
	if name == "" || token == "" {
		return fmt.Errorf("create admin token: empty name or token: %w", ErrInvalid)
	}
	_, err := s.w.ExecContext(ctx, s.q("INSERT INTO admin_tokens (name, token_hash, created_at) VALUES (?, ?, ?)"),
		name, HashToken(token), dbTime(s.now()))
	if isUnique(err) {
		return fmt.Errorf("create admin token %q: %w", name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create admin token %q: %w", name, err)
	}
	return nil
}

// VerifyAdminToken returns the name of the admin token whose text is token,
// or ErrTokenInvalid. A viewer token (RoleViewer) is not an admin token.
func (s *Store) VerifyAdminToken(ctx context.Context, token string) (string, error) {
	var name string
	err := s.r.QueryRowContext(ctx, s.q("SELECT name FROM admin_tokens WHERE token_hash = ? AND role = 'admin'"), HashToken(token)).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("admin token unknown: %w", ErrTokenInvalid)
	}
	if err != nil {
		return "", fmt.Errorf("verify admin token: %w", err)
	}
	return name, nil
}

// DeleteAdminToken revokes the admin token called name. ErrNotFound if
// there is none.
func (s *Store) DeleteAdminToken(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, s.q("DELETE FROM admin_tokens WHERE name = ?"), name)
	if err != nil {
		return fmt.Errorf("delete admin token %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("admin token %q: %w", name, ErrNotFound)
	}
	return nil
}
