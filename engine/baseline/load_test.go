package baseline

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/internal/fixture"
)

var update = flag.Bool("update", false, "rewrite golden files in examples/invalid")

// testNow is the moment the examples are judged at.
var testNow = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func loadExample(t *testing.T, name string) (*Repository, error) {
	t.Helper()
	return LoadDir(context.Background(), fixture.Path(t, "examples/"+name), Options{Now: testNow})
}

func TestQuickstart(t *testing.T) {
	repo, err := loadExample(t, "quickstart")
	if err != nil {
		t.Fatalf("quickstart: %v", err)
	}
	var rings []string
	for _, r := range repo.Rings {
		rings = append(rings, r.Name+"="+r.Baseline)
	}
	if diff := cmp.Diff([]string{"canary=2026-11-hotfix-1", "pilot=2026-11", "prod=2026-10"}, rings); diff != "" {
		t.Errorf("rings (-want +got):\n%s", diff)
	}
	if got := repo.BaselineIDs(); !cmp.Equal(got, []string{"2026-10", "2026-11", "2026-11-hotfix-1"}) {
		t.Errorf("baselines = %v", got)
	}
	if eco, _ := repo.Ecosystem("rhel-9"); eco != "rpm" {
		t.Errorf("rhel-9 ecosystem = %q", eco)
	}

	// The hotfix extends 2026-11: it has every rule of 2026-11 plus its own.
	parent, hotfix := repo.Baselines["2026-11"], repo.Baselines["2026-11-hotfix-1"]
	for stream, rules := range parent.Streams {
		for name, rule := range rules.Sources {
			got := hotfix.Streams[stream].Sources[name]
			if got == nil || !cmp.Equal(*got, *rule) {
				t.Errorf("hotfix %s source %s = %+v, want the parent's %+v", stream, name, got, rule)
			}
		}
	}
	ssh := hotfix.Streams["debian-12"].Sources["openssh"]
	if ssh == nil || ssh.Min != "1:9.2p1-2+deb12u3" || ssh.Severity != "critical" {
		t.Errorf("hotfix openssh rule = %+v", ssh)
	}
	if parent.Streams["debian-12"].Sources["openssh"] != nil {
		t.Errorf("the hotfix's rule leaked into its parent")
	}

	// Schema defaults are applied.
	tz := repo.Baselines["2026-10"].Streams["debian-12"].Packages["tzdata"]
	if tz.KEV || tz.Reboot || tz.Advisories == nil {
		t.Errorf("tzdata defaults = %+v", tz)
	}
	pilot := repo.Ring("pilot")
	if got := pilot.Strategy.MaxConcurrency; got != (Budget{N: 25, Percent: true}) || got.Of(8) != 2 {
		t.Errorf("pilot maxConcurrency = %+v", got)
	}
	if time.Duration(pilot.Soak) != 72*time.Hour {
		t.Errorf("pilot soak = %v", pilot.Soak)
	}
	if repo.PreviousRing("pilot").Name != "canary" || repo.PreviousRing("canary") != nil {
		t.Errorf("previous ring wrong")
	}

	digests := map[string]string{}
	for id, b := range repo.Baselines {
		if !strings.HasPrefix(b.Digest, "sha256:") || len(b.Digest) != 71 {
			t.Errorf("%s digest = %q", id, b.Digest)
		}
		if other, dup := digests[b.Digest]; dup {
			t.Errorf("%s and %s share a digest", id, other)
		}
		digests[b.Digest] = id
		if b.File != "baselines/"+id+".cue" {
			t.Errorf("%s file = %q", id, b.File)
		}
	}
}

// TestInvalidExamples loads every examples/invalid/* repository and compares
// the errors with its want.txt golden file (-update rewrites them).
func TestInvalidExamples(t *testing.T) {
	dirs, err := filepath.Glob(fixture.Path(t, "examples/invalid/*"))
	if err != nil || len(dirs) < 10 {
		t.Fatalf("want at least 10 invalid examples, found %d (%v)", len(dirs), err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			_, err := LoadDir(context.Background(), dir, Options{Now: testNow})
			var errs Errors
			if !errors.As(err, &errs) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("want validation errors, got %v", err)
			}
			for _, e := range errs {
				if e.File == "" || e.Line == 0 || e.Column == 0 {
					t.Errorf("error without file:line:col: %s", e)
				}
			}
			got := errs.Error() + "\n"
			golden := filepath.Join(dir, "want.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("golden: %v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("errors differ from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

const miniConfig = `package patchbay

config: {
	streams: "debian-12": ecosystem: "deb"
	rings: ["canary"]
	approvers: sre: ["sre-lead"]
}
`

const miniRing = `package patchbay

rings: canary: {
	selector: labels: ring: "canary"
	baseline: "b1"
	approvals: groups: ["sre"]
}
`

func miniRepo(baseline string) fstest.MapFS {
	return fstest.MapFS{
		"patchbay.cue":     {Data: []byte(miniConfig)},
		"rings/canary.cue": {Data: []byte(miniRing)},
		"baselines/b1.cue": {Data: []byte(baseline)},
	}
}

func TestDigest(t *testing.T) {
	tests := []struct {
		name     string
		baseline string
		same     bool
	}{
		{
			name: "reference",
			baseline: `package patchbay
baselines: b1: {created: "2026-11-03", summary: "s", streams: "debian-12": packages: {a: {min: "1.0-1"}, b: {min: "2.0-1", severity: "high"}}}
`,
			same: true,
		},
		{
			name: "reformatted and reordered",
			baseline: `package patchbay

// A comment changes nothing.
baselines: b1: {
	streams: "debian-12": packages: {
		b: {severity: "high", min: "2.0-1"}
		a: min: "1.0-1"
	}
	summary: "s"
	created: "2026-11-03"
}
`,
			same: true,
		},
		{
			name: "default written out",
			baseline: `package patchbay
baselines: b1: {created: "2026-11-03", summary: "s", streams: "debian-12": packages: {a: {min: "1.0-1", severity: "medium", kev: false}, b: {min: "2.0-1", severity: "high"}}}
`,
			same: true,
		},
		{
			name: "floor raised",
			baseline: `package patchbay
baselines: b1: {created: "2026-11-03", summary: "s", streams: "debian-12": packages: {a: {min: "1.0-2"}, b: {min: "2.0-1", severity: "high"}}}
`,
			same: false,
		},
	}
	var ref string
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, err := Load(context.Background(), miniRepo(tt.baseline), Options{Now: testNow})
			if err != nil {
				t.Fatal(err)
			}
			d := repo.Baselines["b1"].Digest
			if i == 0 {
				ref = d
				return
			}
			if (d == ref) != tt.same {
				t.Errorf("digest %s vs reference %s: same=%v, want %v", d, ref, d == ref, tt.same)
			}
		})
	}
}

func TestCanonicalJSON(t *testing.T) {
	got, err := CanonicalJSON([]byte(`{"b": [1, 2.50, {"z": "<&>", "a": null}], "a": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":true,"b":[1,2.50,{"a":null,"z":"<&>"}]}`; string(got) != want {
		t.Errorf("canonical = %s, want %s", got, want)
	}
}

func TestLimits(t *testing.T) {
	t.Run("file over 1 MiB", func(t *testing.T) {
		fsys := miniRepo("package patchbay\n// " + strings.Repeat("x", MaxFileSize) + "\n")
		_, err := Load(context.Background(), fsys, Options{Now: testNow})
		var errs Errors
		if !errors.As(err, &errs) || errs[0].File != "baselines/b1.cue" || !strings.Contains(errs[0].Message, "1 MiB") {
			t.Fatalf("want a size error naming baselines/b1.cue, got %v", err)
		}
	})
	t.Run("over 10000 files", func(t *testing.T) {
		fsys := miniRepo(`package patchbay
baselines: b1: {created: "2026-11-03", summary: "s", streams: {}}
`)
		for i := 0; i <= MaxFiles; i++ {
			fsys[fmt.Sprintf("docs/%05d.txt", i)] = &fstest.MapFile{Data: []byte("x")}
		}
		_, err := Load(context.Background(), fsys, Options{Now: testNow})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("want ErrTooLarge, got %v", err)
		}
	})
	t.Run("now is required", func(t *testing.T) {
		if _, err := Load(context.Background(), fstest.MapFS{}, Options{}); err == nil {
			t.Fatal("want an error without Options.Now")
		}
	})
}

func TestExceptionActive(t *testing.T) {
	e := &Exception{Granted: "2026-11-20", Expires: "2027-01-31"}
	for _, tt := range []struct {
		now  string
		want bool
	}{
		{"2027-01-31T23:59:59Z", true},
		{"2027-02-01T00:00:00Z", false},
		{"2026-11-26T00:00:00Z", true},
		{"2026-11-20T00:00:00Z", true},
		// granted in the future: not active yet (issue 12: a waiver granted
		// next month must not count today, or it runs longer than maxDays)
		{"2026-11-19T23:59:59Z", false},
	} {
		now, _ := time.Parse(time.RFC3339, tt.now)
		if got := e.Active(now); got != tt.want {
			t.Errorf("Active(%s) = %v, want %v", tt.now, got, tt.want)
		}
	}
}

// TestExpiryAsFinding: an expired exception fails a strict load, but with
// ExpiryAsFinding the model loads, the problem is a time finding with its
// position, and the exception no longer counts.
func TestExpiryAsFinding(t *testing.T) {
	dir := fixture.Path(t, "examples/quickstart")
	later := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	_, err := LoadDir(context.Background(), dir, Options{Now: later})
	var errs Errors
	if !errors.As(err, &errs) || !strings.Contains(err.Error(), "exception expired on 2027-02-15") {
		t.Fatalf("strict load: want the expiry error, got %v", err)
	}
	repo, err := LoadDir(context.Background(), dir, Options{Now: later, ExpiryAsFinding: true})
	if err != nil {
		t.Fatalf("lenient load: %v", err)
	}
	if len(repo.TimeFindings) != 1 || !strings.Contains(repo.TimeFindings[0].String(), "billing-openssl.cue") ||
		!strings.Contains(repo.TimeFindings[0].String(), "expired on 2027-02-15") {
		t.Fatalf("time findings = %v", repo.TimeFindings)
	}
	if repo.Exceptions[0].Active(later) {
		t.Error("the expired exception is still active")
	}
	if repo, err := LoadDir(context.Background(), dir, Options{Now: testNow, ExpiryAsFinding: true}); err != nil || len(repo.TimeFindings) != 0 {
		t.Fatalf("before expiry: %v, %v", err, repo.TimeFindings)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"24h", 24 * time.Hour, false},
		{"14d", 14 * 24 * time.Hour, false},
		{"1h30m", 90 * time.Minute, false},
		{"1d2h", 26 * time.Hour, false},
		{"", 0, true},
		{"5", 0, true},
		{"3w", 0, true},
		{"h", 0, true},
	} {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.err || time.Duration(got) != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, err=%v", tt.in, time.Duration(got), err, tt.want, tt.err)
		}
	}
}

// schemaLevel lists the invalid examples whose error is in the CUE schemas,
// so that `cue vet` must reject them too. The others are patchbay's own
// cross-checks (time, uniqueness, layout, version syntax).
var schemaLevel = map[string]bool{
	"bad-date":                          true,
	"bad-enum":                          true,
	"errors-in-several-files":           true,
	"hotfix-raises-floor":               true,
	"missing-field":                     true,
	"ring-not-in-order":                 true,
	"ring-typo-with-broken-baseline":    true,
	"syntax-error":                      true,
	"typo-version-and-missing-baseline": true,
	"unknown-approver-group":            true,
	"unknown-baseline":                  true,
	"unknown-field":                     true,
}

// TestCueVetAgrees runs the real `cue vet` with the schema files over every
// example: it accepts the valid ones and rejects the schema-level invalid
// ones. It runs when cue is on PATH (go install cuelang.org/go/cmd/cue@v0.17.1).
func TestCueVetAgrees(t *testing.T) {
	cue, err := exec.LookPath("cue")
	if err != nil {
		t.Skip("cue not on PATH; install with go install cuelang.org/go/cmd/cue@v0.17.1")
	}
	schemaFiles := []string{}
	for _, n := range []string{"patchbay", "config", "baseline", "ring", "exception"} {
		schemaFiles = append(schemaFiles, fixture.Path(t, "schemas/"+n+".cue"))
	}
	vet := func(dir string) error {
		var files []string
		for _, pat := range []string{"*.cue", "baselines/*.cue", "rings/*.cue", "exceptions/*.cue"} {
			m, _ := filepath.Glob(filepath.Join(dir, pat))
			files = append(files, m...)
		}
		cmd := exec.Command(cue, append(append([]string{"vet", "-c"}, schemaFiles...), files...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	if err := vet(fixture.Path(t, "examples/quickstart")); err != nil {
		t.Errorf("cue vet rejects the quickstart: %v", err)
	}
	dirs, _ := filepath.Glob(fixture.Path(t, "examples/invalid/*"))
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			err := vet(dir)
			if schemaLevel[name] && err == nil {
				t.Errorf("patchbay validate rejects %s at the schema level but cue vet accepts it", name)
			}
			if !schemaLevel[name] && err != nil {
				t.Errorf("cue vet rejects %s, which the test lists as a patchbay-only check: %v", name, err)
			}
		})
	}
}

func BenchmarkLoadQuickstart(b *testing.B) {
	dir := fixture.Path(b, "examples/quickstart")
	for b.Loop() {
		if _, err := LoadDir(context.Background(), dir, Options{Now: testNow}); err != nil {
			b.Fatal(err)
		}
	}
}
