// Package storetest gives other packages' tests a real, empty store: a
// SQLite database in the test's temporary directory, migrated and closed
// when the test ends, or a PostgreSQL schema of the test's own. It owns
// nothing else; it imports only engine/store and engine/internal/pgtest
// (the PostgreSQL schema, which the store's own tests share).
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/patchbay/patchbay/engine/internal/pgtest"
	"github.com/patchbay/patchbay/engine/store"
)

// PostgresEnv names the environment variable that holds the PostgreSQL
// URL tests run against (CI sets it; without it those tests skip).
const PostgresEnv = pgtest.PostgresEnv

// PostgresURL returns a URL for a schema of the test's own in the database
// $PATCHBAY_TEST_POSTGRES names (see Schema); it skips the test, saying
// what, when the variable is not set.
func PostgresURL(t testing.TB, what string) string {
	t.Helper()
	return pgtest.PostgresURL(t, what)
}

// Schema creates a schema of its own in the database at base, dropped
// when the test ends, and returns base with search_path pointing at it:
// nothing else in the database is touched.
func Schema(t testing.TB, base string) string {
	t.Helper()
	return pgtest.Schema(t, base)
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
