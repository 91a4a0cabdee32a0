package gate_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/gate"
	"github.com/patchbay/patchbay/engine/internal/fixture"
)

// repoPolicies reads an example repository's policy/*.rego.
func repoPolicies(t *testing.T, example string) []gate.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(fixture.Path(t, example), "policy", "*.rego"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no policies in %s: %v", example, err)
	}
	var files []gate.File
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, gate.File{Path: "policy/" + filepath.Base(n), Content: b})
	}
	return files
}

// TestQuickstartPolicy runs the quickstart's repository policy with the
// built-in ones on a prod promotion, with and without a change ticket.
func TestQuickstartPolicy(t *testing.T) {
	b, err := gate.WithBuiltin(repoPolicies(t, "examples/quickstart"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := gate.New(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Err(); err != nil {
		t.Fatal(err)
	}
	prod := promotion()
	prod.Change.RingsMoved = []gate.RingMove{{Ring: "prod", From: "2026-10", To: "2026-11", ToDigest: "sha256:d11"}}
	prod.Reviews = []gate.Review{approve("alice"), approve("sec1")}
	prod.Evidence = []gate.Evidence{{Ring: "pilot", Baseline: "2026-11", BaselineDigest: "sha256:d11", SuccessRate: 0.99, SoakHours: 170, VerifiedAt: now.Add(-time.Hour), HostsTotal: 3, HostsChanged: 2,
		TestedSet: []gate.TestedVersion{{Stream: "debian-12", Package: "openssl", Version: "3.0.17-1~deb12u2", Hosts: 40}}}}

	tests := []struct {
		name   string
		labels []string
		want   []gate.Finding
	}{
		{name: "without ticket", want: []gate.Finding{{ID: "repo.ticket.missing", Package: "patchbay.repo.ticket",
			Msg: "ring prod: promotion to baseline 2026-11 has no change ticket label (change:<ticket>)"}}},
		{name: "with ticket", labels: []string{"change:CHG-1234"}, want: []gate.Finding{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := prod
			in.PR.Labels = tt.labels
			d, err := eng.Decide(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Result != gate.Pass {
				t.Errorf("result %s (deny %v, missing %v, errors %v), want pass: the policy only warns", d.Result, d.Deny, d.Missing, d.Errors)
			}
			if diff := cmp.Diff(tt.want, d.Warn); diff != "" {
				t.Errorf("warn (-want +got):\n%s", diff)
			}
			if d.Manifest.RulesEvaluated != builtinRules+1 {
				t.Errorf("rules evaluated %d, want %d", d.Manifest.RulesEvaluated, builtinRules+1)
			}
		})
	}
}
