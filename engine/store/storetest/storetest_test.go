package storetest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

func TestNew(t *testing.T) {
	s := storetest.New(t, store.Options{})
	if s.Backend() != store.BackendSQLite {
		t.Errorf("Backend = %s", s.Backend())
	}
	if _, err := s.Host(context.Background(), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Host on empty store: err = %v, want ErrNotFound", err)
	}
}
