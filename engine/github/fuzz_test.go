package github_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/engine/github"
	"github.com/patchbay/patchbay/engine/internal/fixture"
)

// FuzzParseEvent feeds the router mutated real payloads: it must never
// panic, and whatever it routes to work names a repository (and a pull
// request where one is needed).
func FuzzParseEvent(f *testing.F) {
	root := fixture.Shared(f, "github-webhooks")
	files, _ := filepath.Glob(filepath.Join(root, "*", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.SplitN(filepath.Base(p), ".", 2)[0], b)
	}
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		ev, err := github.ParseEvent(name, "d", body, "")
		if err != nil {
			return
		}
		switch ev.Kind {
		case github.KindGate, github.KindCommand, github.KindMerged:
			if ev.Owner == "" || ev.Repo == "" || ev.PR <= 0 {
				t.Fatalf("%s routed without repository or pull request: %+v", ev.Kind, ev)
			}
		case github.KindPush:
			if ev.Owner == "" || ev.Repo == "" || !strings.HasPrefix(ev.Ref, "refs/heads/") {
				t.Fatalf("push routed without repository or branch: %+v", ev)
			}
		}
	})
}
