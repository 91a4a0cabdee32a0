package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Token roles. An admin token may do everything the admin API offers; a
// viewer token may only read the dashboard (managers, auditors).
const (
	RoleAdmin  = "admin"
	RoleViewer = "viewer"
)

// CreateRoleToken stores the hash of token under name with role (RoleAdmin
// or RoleViewer). ErrConflict if the name or the token is taken.
func (s *Store) CreateRoleToken(ctx context.Context, name, token, role string) error {
	if role != RoleAdmin && role != RoleViewer {
		return fmt.Errorf("create token: role %q (want admin or viewer): %w", role, ErrInvalid)
	}
	if name == "" || token == "" {
		return fmt.Errorf("create token: empty name or token: %w", ErrInvalid)
	}
	_, err := s.w.ExecContext(ctx, s.q("INSERT INTO admin_tokens (name, token_hash, created_at, role) VALUES (?, ?, ?, ?)"),
		name, HashToken(token), dbTime(s.now()), role)
	if isUnique(err) {
		return fmt.Errorf("create token %q: %w", name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create token %q: %w", name, err)
	}
	return nil
}

// VerifyRoleToken returns the name and role of the admin or viewer token
// whose text is token, or ErrTokenInvalid.
func (s *Store) VerifyRoleToken(ctx context.Context, token string) (name, role string, err error) {
	err = s.r.QueryRowContext(ctx, s.q("SELECT name, role FROM admin_tokens WHERE token_hash = ?"), HashToken(token)).Scan(&name, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("token unknown: %w", ErrTokenInvalid)
	}
	if err != nil {
		return "", "", fmt.Errorf("verify token: %w", err)
	}
	return name, role, nil
}
