// Package storetest gives other packages' tests a real, empty store: a
// SQLite database in the test's temporary directory, migrated and closed
// when the test ends. It owns nothing else; it imports only engine/store.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/patchbay/patchbay/engine/store"
)

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
