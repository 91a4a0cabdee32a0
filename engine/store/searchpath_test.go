package store

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
)

// TestPostgresMissingSchema opens PostgreSQL with a search_path naming a
// schema that does not exist: the error says so and what to do, instead of
// PostgreSQL's bare "no schema has been selected to create in (SQLSTATE
// 3F000)" at the first migration.
func TestPostgresMissingSchema(t *testing.T) {
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Skipf("%s not set; skipping PostgreSQL", postgresEnv)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", "pb_no_such_schema")
	u.RawQuery = q.Encode()
	s, err := Open(context.Background(), u.String(), Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded with a search_path naming no existing schema")
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("err = %v, want ErrInvalid", err)
	}
	for _, want := range []string{`no schema of search_path "pb_no_such_schema" exists`, "CREATE SCHEMA pb_no_such_schema"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "3F000") {
		t.Errorf("error still shows the raw SQLSTATE: %v", err)
	}
}
