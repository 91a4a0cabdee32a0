package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// CreateSession starts a dashboard session for the admin token called
// admin, valid for ttl, and returns its id (random, 256 bits) for the
// browser's cookie; only the id's SHA-256 is stored. Expired sessions are
// pruned in the same transaction.
func (s *Store) CreateSession(ctx context.Context, admin string, ttl time.Duration) (string, error) {
	if admin == "" || ttl <= 0 {
		return "", fmt.Errorf("create session: admin and ttl required: %w", ErrInvalid)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM dashboard_sessions WHERE expires_at <= ?"), dbTime(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO dashboard_sessions (id_hash, admin_name, expires_at) VALUES (?, ?, ?)"), HashToken(id), admin, dbTime(now.Add(ttl)))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return id, nil
}

// SessionAdmin returns the admin token name of a live session: not
// expired, not ended, and its admin token still exists. ErrTokenInvalid
// otherwise.
func (s *Store) SessionAdmin(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("session: %w", ErrTokenInvalid)
	}
	var name string
	err := s.r.QueryRowContext(ctx, s.q(`SELECT d.admin_name FROM dashboard_sessions d JOIN admin_tokens a ON a.name = d.admin_name
		WHERE d.id_hash = ? AND d.expires_at > ?`), HashToken(id), dbTime(s.now())).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("session unknown or expired: %w", ErrTokenInvalid)
	}
	if err != nil {
		return "", fmt.Errorf("session: %w", err)
	}
	return name, nil
}

// EndSession ends a session (sign-out); an unknown id is not an error.
func (s *Store) EndSession(ctx context.Context, id string) error {
	if _, err := s.w.ExecContext(ctx, s.q("DELETE FROM dashboard_sessions WHERE id_hash = ?"), HashToken(id)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// SessionViewer returns the token name and role ("admin" or "viewer") of a
// live session, as SessionAdmin does for the name: not expired, not ended,
// and its token still exists.
func (s *Store) SessionViewer(ctx context.Context, id string) (name, role string, err error) {
	if id == "" {
		return "", "", fmt.Errorf("session: %w", ErrTokenInvalid)
	}
	err = s.r.QueryRowContext(ctx, s.q(`SELECT d.admin_name, a.role FROM dashboard_sessions d JOIN admin_tokens a ON a.name = d.admin_name
		WHERE d.id_hash = ? AND d.expires_at > ?`), HashToken(id), dbTime(s.now())).Scan(&name, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("session unknown or expired: %w", ErrTokenInvalid)
	}
	if err != nil {
		return "", "", fmt.Errorf("session: %w", err)
	}
	return name, role, nil
}
