package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Operator actions on credentials are evidence: each of the methods below
// changes a token and puts its audit record (rec, an outbox entry the
// rollout controller signs and publishes like its own) into the outbox in
// the same transaction, so that a token is created or revoked if and only
// if its record will be written.

// EnrollmentIDLen is how many leading hex digits of an enrollment token's
// hash identify it to operators (token create prints it, token revoke
// --enroll takes it).
const EnrollmentIDLen = 12

// EnrollmentID returns the id operators use for the enrollment token
// token: the first EnrollmentIDLen hex digits of its hash. It reveals
// nothing usable about the token.
func EnrollmentID(token string) string { return HashToken(token)[:EnrollmentIDLen] }

// CreateRoleTokenRecorded is CreateRoleToken with rec added to the outbox
// in the same transaction.
func (s *Store) CreateRoleTokenRecorded(ctx context.Context, name, token, role string, rec RolloutEvent) error {
	if role != RoleAdmin && role != RoleViewer {
		return fmt.Errorf("create token: role %q (want admin or viewer): %w", role, ErrInvalid)
	}
	if name == "" || token == "" {
		return fmt.Errorf("create token: empty name or token: %w", ErrInvalid)
	}
	now := s.now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q("INSERT INTO admin_tokens (name, token_hash, created_at, role) VALUES (?, ?, ?, ?)"),
			name, HashToken(token), dbTime(now), role)
		if isUnique(err) {
			return fmt.Errorf("create token %q: %w", name, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("create token %q: %w", name, err)
		}
		return s.insertEvent(ctx, tx, rec, now)
	})
}

// CreateEnrollmentTokenRecorded is CreateEnrollmentToken with rec added
// to the outbox in the same transaction.
func (s *Store) CreateEnrollmentTokenRecorded(ctx context.Context, token string, expiresAt time.Time, maxUses int, rec RolloutEvent) error {
	if token == "" || maxUses <= 0 || expiresAt.IsZero() {
		return fmt.Errorf("create enrollment token: empty token, zero expiry or max uses <= 0: %w", ErrInvalid)
	}
	now := s.now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO enrollment_tokens (token_hash, expires_at, max_uses, uses, created_at)
			VALUES (?, ?, ?, 0, ?)`), HashToken(token), dbTime(expiresAt), maxUses, dbTime(now))
		if isUnique(err) {
			return fmt.Errorf("create enrollment token: %w", ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("create enrollment token: %w", err)
		}
		return s.insertEvent(ctx, tx, rec, now)
	})
}

// RevokeRoleToken deletes the admin or viewer token called name and adds
// rec(role) to the outbox, in one transaction. ErrNotFound if there is no
// such token.
func (s *Store) RevokeRoleToken(ctx context.Context, name string, rec func(role string) RolloutEvent) error {
	now := s.now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var role string
		err := tx.QueryRowContext(ctx, s.q("SELECT role FROM admin_tokens WHERE name = ?"), name).Scan(&role)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("revoke token %q: %w", name, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("revoke token %q: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM admin_tokens WHERE name = ?"), name); err != nil {
			return fmt.Errorf("revoke token %q: %w", name, err)
		}
		return s.insertEvent(ctx, tx, rec(role), now)
	})
}

// RevokeEnrollmentToken deletes the enrollment token whose id
// (EnrollmentID) is id and adds rec to the outbox, in one transaction.
// ErrNotFound if no token has that id; ErrInvalid if id is not
// EnrollmentIDLen hex digits.
func (s *Store) RevokeEnrollmentToken(ctx context.Context, id string, rec RolloutEvent) error {
	id = strings.ToLower(id)
	if _, err := hex.DecodeString(id); err != nil || len(id) != EnrollmentIDLen {
		return fmt.Errorf("revoke enrollment token %q: want the %d hex digits 'token create --enroll' printed: %w", id, EnrollmentIDLen, ErrInvalid)
	}
	now := s.now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Hex digits only, so the pattern needs no escaping.
		res, err := tx.ExecContext(ctx, s.q("DELETE FROM enrollment_tokens WHERE token_hash LIKE ?"), id+"%")
		if err != nil {
			return fmt.Errorf("revoke enrollment token %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("revoke enrollment token %s: %w", id, err)
		} else if n == 0 {
			return fmt.Errorf("enrollment token %s: %w", id, ErrNotFound)
		}
		return s.insertEvent(ctx, tx, rec, now)
	})
}

// RevokedHostPrefix starts the stored token hash of a host whose token was
// revoked: no token hashes to it, so the host is refused until it is
// given a new token (SetHostToken).
const RevokedHostPrefix = "revoked:"

// RevokeHostToken makes the host's token unusable (its reports, history
// and rollout state stay) and adds rec to the outbox, in one transaction.
// ErrNotFound if there is no such host.
func (s *Store) RevokeHostToken(ctx context.Context, id string, rec RolloutEvent) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("revoke host token: %w", err)
	}
	now := s.now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q("UPDATE hosts SET token_hash = ? WHERE id = ?"), RevokedHostPrefix+hex.EncodeToString(b[:]), id)
		if err != nil {
			return fmt.Errorf("revoke host %s token: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("revoke host %s token: %w", id, err)
		} else if n == 0 {
			return fmt.Errorf("host %s: %w", id, ErrNotFound)
		}
		return s.insertEvent(ctx, tx, rec, now)
	})
}
