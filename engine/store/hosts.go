package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Host is one enrolled host as the store keeps it.
type Host struct {
	ID string
	// Labels are the host's labels (from enrollment and reports).
	Labels         map[string]string
	Stream         string
	Ring           string
	Hostname       string
	Arch           string
	Kernel         string
	AgentVersion   string
	RebootRequired bool
	// PackageSetHash is the hash of the host's current package set; empty
	// before the first report.
	PackageSetHash string
	// LastReportAt is when the last report was received; zero before the
	// first report.
	LastReportAt time.Time
	EnrolledAt   time.Time
	// DryRunAt is when the host's agent last asked for its assignment in
	// dry-run mode; zero when its last request was not a dry run. Such a
	// host never takes a wave slot (see SetHostDryRun).
	DryRunAt time.Time
}

// NewHost is what enrollment knows of a host.
type NewHost struct {
	ID       string
	Labels   map[string]string
	Stream   string
	Hostname string
	Arch     string
}

const hostColumns = `id, labels, stream, ring, hostname, arch, kernel, agent_version, reboot_required,
	COALESCE(set_hash, ''), last_report_at, enrolled_at, dry_run_at`

func scanHost(sc interface{ Scan(...any) error }) (Host, error) {
	var h Host
	var labels string
	var last, enrolled, dry int64
	if err := sc.Scan(&h.ID, &labels, &h.Stream, &h.Ring, &h.Hostname, &h.Arch, &h.Kernel, &h.AgentVersion,
		&h.RebootRequired, &h.PackageSetHash, &last, &enrolled, &dry); err != nil {
		return Host{}, err
	}
	if err := json.Unmarshal([]byte(labels), &h.Labels); err != nil {
		return Host{}, fmt.Errorf("host %s: labels: %w", h.ID, err)
	}
	h.LastReportAt, h.EnrolledAt, h.DryRunAt = goTime(last), goTime(enrolled), goTime(dry)
	return h, nil
}

func encodeLabels(l map[string]string) (string, error) {
	if l == nil {
		l = map[string]string{}
	}
	b, err := json.Marshal(l) // map keys are sorted: the encoding is canonical
	return string(b), err
}

// EnrollHost consumes one use of enrollmentToken and creates the host with
// the hash of hostToken, in one transaction: either both happen or neither.
// ErrTokenInvalid if the enrollment token cannot be used; ErrConflict if the
// host id (or, improbably, the host token) is already taken — a host that
// must re-enroll is deleted first, or has its token revoked
// (RevokeHostToken): then it enrolls again under its id and keeps its
// history.
func (s *Store) EnrollHost(ctx context.Context, enrollmentToken string, h NewHost, hostToken string) (Host, error) {
	if h.ID == "" || hostToken == "" {
		return Host{}, fmt.Errorf("enroll host: empty id or host token: %w", ErrInvalid)
	}
	labels, err := encodeLabels(h.Labels)
	if err != nil {
		return Host{}, fmt.Errorf("enroll host %s: labels: %w", h.ID, err)
	}
	now := s.now()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.consumeEnrollment(ctx, tx, enrollmentToken); err != nil {
			return err
		}
		// A host whose token an operator revoked may enroll again (with a
		// new enrollment token): it keeps its history.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE hosts SET token_hash = ?, labels = ?, stream = ?, hostname = ?, arch = ?, enrolled_at = ?
			WHERE id = ? AND token_hash LIKE ?`), HashToken(hostToken), labels, h.Stream, h.Hostname, h.Arch, dbTime(now), h.ID, RevokedHostPrefix+"%")
		if err != nil {
			return fmt.Errorf("enroll host %s: %w", h.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("enroll host %s: %w", h.ID, err)
		} else if n == 1 {
			return nil
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO hosts (id, token_hash, labels, stream, hostname, arch, enrolled_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`), h.ID, HashToken(hostToken), labels, h.Stream, h.Hostname, h.Arch, dbTime(now))
		if isUnique(err) {
			return fmt.Errorf("enroll host %s: already enrolled: %w", h.ID, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("enroll host %s: %w", h.ID, err)
		}
		return nil
	})
	if err != nil {
		return Host{}, err
	}
	return Host{ID: h.ID, Labels: nonNil(h.Labels), Stream: h.Stream, Hostname: h.Hostname, Arch: h.Arch, EnrolledAt: goTime(dbTime(now))}, nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// Host returns the host with id, or ErrNotFound.
func (s *Store) Host(ctx context.Context, id string) (Host, error) {
	h, err := scanHost(s.r.QueryRowContext(ctx, s.q("SELECT "+hostColumns+" FROM hosts WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Host{}, fmt.Errorf("host %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Host{}, fmt.Errorf("host %s: %w", id, err)
	}
	return h, nil
}

// VerifyHostToken returns the host whose token is token, or
// ErrTokenInvalid. The lookup is by the token's hash (see HashToken).
func (s *Store) VerifyHostToken(ctx context.Context, token string) (Host, error) {
	h, err := scanHost(s.r.QueryRowContext(ctx, s.q("SELECT "+hostColumns+" FROM hosts WHERE token_hash = ?"), HashToken(token)))
	if errors.Is(err, sql.ErrNoRows) {
		return Host{}, fmt.Errorf("host token unknown: %w", ErrTokenInvalid)
	}
	if err != nil {
		return Host{}, fmt.Errorf("verify host token: %w", err)
	}
	return h, nil
}

// SetHostToken replaces the host's token (rotation). ErrNotFound if there
// is no such host.
func (s *Store) SetHostToken(ctx context.Context, id, token string) error {
	if token == "" {
		return fmt.Errorf("set host token: empty token: %w", ErrInvalid)
	}
	return s.updateHost(ctx, id, "set host token", "UPDATE hosts SET token_hash = ? WHERE id = ?", HashToken(token), id)
}

// SetHostRing assigns the host to ring. ErrNotFound if there is no such host.
func (s *Store) SetHostRing(ctx context.Context, id, ring string) error {
	return s.updateHost(ctx, id, "set host ring", "UPDATE hosts SET ring = ? WHERE id = ?", ring, id)
}

// SetHostLabels replaces the host's labels. ErrNotFound if there is no such host.
func (s *Store) SetHostLabels(ctx context.Context, id string, labels map[string]string) error {
	l, err := encodeLabels(labels)
	if err != nil {
		return fmt.Errorf("set host labels: %w", err)
	}
	return s.updateHost(ctx, id, "set host labels", "UPDATE hosts SET labels = ? WHERE id = ?", l, id)
}

func (s *Store) updateHost(ctx context.Context, id, what, query string, args ...any) error {
	res, err := s.w.ExecContext(ctx, s.q(query), args...)
	if isUnique(err) {
		return fmt.Errorf("%s %s: %w", what, id, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	return nil
}

// DeleteHost removes the host with its report history and plan.
// ErrNotFound if there is no such host.
func (s *Store) DeleteHost(ctx context.Context, id string) error {
	return s.updateHost(ctx, id, "delete host", "DELETE FROM hosts WHERE id = ?", id)
}

// HostFilter selects hosts for Hosts. Zero fields match everything.
type HostFilter struct {
	Ring   string
	Stream string
	// After is a keyset cursor: only hosts whose id sorts after it.
	After string
	// Limit bounds the result; zero means 1000.
	Limit int
}

// Hosts lists hosts ordered by id.
func (s *Store) Hosts(ctx context.Context, f HostFilter) ([]Host, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list hosts: negative limit: %w", ErrInvalid)
	}
	if f.Limit == 0 {
		f.Limit = 1000
	}
	query := "SELECT " + hostColumns + " FROM hosts WHERE id > ?"
	args := []any{f.After}
	if f.Ring != "" {
		query += " AND ring = ?"
		args = append(args, f.Ring)
	}
	if f.Stream != "" {
		query += " AND stream = ?"
		args = append(args, f.Stream)
	}
	query += " ORDER BY id LIMIT ?"
	args = append(args, f.Limit)
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	defer rows.Close()
	var out []Host
	for rows.Next() {
		h, err := scanHost(rows)
		if err != nil {
			return nil, fmt.Errorf("list hosts: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	return out, nil
}
