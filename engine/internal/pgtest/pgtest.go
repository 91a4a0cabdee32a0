// Package pgtest gives tests a PostgreSQL schema of their own in the
// database $PATCHBAY_TEST_POSTGRES names, dropped when the test ends. It
// imports nothing of patchbay, so the store's own tests use it as well as
// storetest.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
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
		t.Fatalf("pgtest: connect %s: %v", PostgresEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema: %v", err)
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
