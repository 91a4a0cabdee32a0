// Package storetest gives other packages' tests a real, empty store: a
// SQLite database in the test's temporary directory, migrated and closed
// when the test ends, or a PostgreSQL schema of the test's own. It owns
// nothing else; it imports only engine/store and the PostgreSQL driver the
// store already uses.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/patchbay/patchbay/engine/store"
)

// PostgresEnv names the environment variable that holds the PostgreSQL
// URL tests run against (CI sets it; without it those tests skip).
const PostgresEnv = "PATCHBAY_TEST_POSTGRES"

// PostgresURL returns a URL for a schema of the test's own in the database
// $PATCHBAY_TEST_POSTGRES names (see Schema); it skips the test, saying
// what, when the variable is not set.
func PostgresURL(t testing.TB, what string) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skipf("%s not set; %s", PostgresEnv, what)
	}
	return Schema(t, base)
}

// Schema creates a schema of its own in the database at base, dropped
// when the test ends, and returns base with search_path pointing at it:
// nothing else in the database is touched.
func Schema(t testing.TB, base string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pb_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("storetest: connect %s: %v", PostgresEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("storetest: drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("storetest: drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// New opens a fresh SQLite store in t.TempDir() with opts and closes it
// when the test ends.
func New(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	return Open(t, "sqlite://"+filepath.Join(t.TempDir(), "patchbay.db"), opts)
}

// Open opens the store at url (for example a PostgreSQL URL a test got
// from its environment) with opts and closes it when the test ends.
func Open(t testing.TB, url string, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("storetest: close: %v", err)
		}
	})
	return s
}
