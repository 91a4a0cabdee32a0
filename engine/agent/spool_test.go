package agent_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/api"
)

func TestSpool(t *testing.T) {
	dir := t.TempDir()
	s := agent.Spool{Dir: dir}
	if p, err := s.Pending(); err != nil || len(p) != 0 {
		t.Fatalf("empty spool: %v %v", p, err)
	}
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	req := api.ResultsRequest{PostStateHash: "sha256:x", PostStateReportID: 7, Results: []api.ActionResult{
		{ActionID: "a1", BaselineDigest: "d", Key: "upgrade x min=1", Outcome: api.OutcomeSucceeded, StartedAt: at, FinishedAt: at}}}
	name, err := s.Put(req)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("spool file mode: %v %v", fi, err)
	}
	// A new Spool value over the same directory (an agent restart) sees it.
	p, err := agent.Spool{Dir: dir}.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]api.ResultsRequest{name: req}, p); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}
	// A foreign file is set aside, not delivered.
	if err := os.WriteFile(filepath.Join(dir, "spool", "junk.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Pending(); len(p) != 1 {
		t.Errorf("pending with a junk file: %d, want 1", len(p))
	}
	if err := s.Reject(name); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Pending(); len(p) != 0 {
		t.Errorf("a rejected file is still pending")
	}
	if _, err := os.Stat(name + ".rejected"); err != nil {
		t.Errorf("rejected file not kept: %v", err)
	}
}
