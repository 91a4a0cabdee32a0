package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// migrationLockKey is the pg_advisory_lock key held while migrating, so
// replicas starting together apply each migration once. It is the first 8
// bytes of SHA-256("patchbay/store/migrate") as a signed integer; a
// constant so every replica and version agrees on it.
const migrationLockKey int64 = -7370385217932775035

// openPostgres opens one pool for reads and writes through pgx's
// database/sql driver. Transactions run at READ COMMITTED; the write paths
// that read-then-write lock the row they read (SELECT ... FOR UPDATE) or use
// single-statement upserts.
func openPostgres(ctx context.Context, url string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults(BackendPostgres)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: parse url: %w", errors.Join(ErrInvalid, err))
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(opts.MaxReadConns)
	db.SetMaxIdleConns(opts.MaxReadConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// A search_path that names no existing schema leaves nowhere to create
	// the tables; PostgreSQL would say only "no schema has been selected to
	// create in (SQLSTATE 3F000)" at the first migration.
	var schema sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if !schema.Valid {
		db.Close()
		path := cfg.RuntimeParams["search_path"]
		return nil, fmt.Errorf("open postgres: %w: no schema of search_path %q exists in database %q; create it first (psql -c 'CREATE SCHEMA %s') or name an existing one",
			ErrInvalid, path, cfg.Database, firstSchema(path))
	}
	return &Store{backend: BackendPostgres, w: db, r: db, opts: opts, closing: make(chan struct{}),
		compressSem: newCompressSem()}, nil
}

// firstSchema is the first name in a search_path ("a, b" gives a).
func firstSchema(path string) string {
	first, _, _ := strings.Cut(path, ",")
	if first = strings.TrimSpace(first); first == "" {
		return "NAME"
	}
	return first
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isUnique reports whether err is a unique or primary-key violation.
func isUnique(err error) bool {
	switch c := sqliteCode(err); c {
	case sqliteConstraintUnique, sqliteConstraintPrimaryKey:
		return true
	}
	return pgCode(err) == "23505"
}

// isForeignKey reports whether err is a foreign-key violation.
func isForeignKey(err error) bool {
	if c := sqliteCode(err); c == sqliteConstraintForeignKey {
		return true
	}
	return pgCode(err) == "23503"
}
