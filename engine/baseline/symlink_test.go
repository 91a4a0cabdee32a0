package baseline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/internal/fixture"
)

// TestLoadDirRefusesLinksAndSpecialFiles: a checkout's symbolic links and
// special files are refused where the loader reads, without opening them —
// a link to a file outside the repository never leaks its content into an
// error, a FIFO never blocks the load.
func TestLoadDirRefusesLinksAndSpecialFiles(t *testing.T) {
	const secret = "PATCHBAY_SECRET_CANARY_4711"
	outside := filepath.Join(t.TempDir(), "secret.rego")
	if err := os.WriteFile(outside, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outsideCUE := filepath.Join(t.TempDir(), "other.cue")
	if err := os.WriteFile(outsideCUE, []byte("package patchbay\n// "+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string // relative to the repository
		make func(t *testing.T, p string) error
		kind string
	}{
		{"policy link to a file outside", "policy/leak.rego", func(_ *testing.T, p string) error { return os.Symlink(outside, p) }, "symbolic link"},
		{"policy link to /proc/self/environ", "policy/env.rego", func(_ *testing.T, p string) error { return os.Symlink("/proc/self/environ", p) }, "symbolic link"},
		{"baseline link", "baselines/x.cue", func(_ *testing.T, p string) error { return os.Symlink(outsideCUE, p) }, "symbolic link"},
		{"linked folder", "exceptions", func(_ *testing.T, p string) error {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			return os.Symlink(filepath.Dir(outsideCUE), p)
		}, "symbolic link"},
		{"FIFO", "rings/fifo.cue", func(_ *testing.T, p string) error { return syscall.Mkfifo(p, 0o644) }, "named pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fixture.CopyDir(t, fixture.Path(t, "examples/quickstart"))
			p := filepath.Join(dir, filepath.FromSlash(tt.path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tt.make(t, p); err != nil {
				t.Fatal(err)
			}
			t.Setenv(secret, secret)
			done := make(chan error, 1)
			go func() {
				_, err := LoadDir(context.Background(), dir, Options{Now: testNow})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("LoadDir blocked on the special file")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("LoadDir = %v, want validation errors", err)
			}
			found := false
			for _, e := range errs {
				if e.File == tt.path && strings.Contains(e.Message, tt.kind) {
					found = true
				}
			}
			if !found {
				t.Errorf("no error about %s (%s) in:\n%v", tt.path, tt.kind, err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error leaks the link target's content:\n%v", err)
			}
		})
	}
}

// TestLoadDirIgnoresUnreadLinks: a link outside the files the loader reads
// (a README) is not an error.
func TestLoadDirIgnoresUnreadLinks(t *testing.T) {
	dir := fixture.CopyDir(t, fixture.Path(t, "examples/quickstart"))
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "README.md")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(context.Background(), dir, Options{Now: testNow}); err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
}
