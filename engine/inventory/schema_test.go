package inventory_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cuejson "cuelang.org/go/encoding/json"

	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
	"github.com/patchbay/patchbay/schemas"
)

// TestSchemaAgreesWithDecode checks that `cue vet` against #Report and
// inventory.Decode accept and refuse the same reports, except for the rules
// CUE cannot express (marked goOnly), which only Decode refuses.
func TestSchemaAgreesWithDecode(t *testing.T) {
	ctx := cuecontext.New()
	src, err := fs.ReadFile(schemas.FS, "report.cue")
	if err != nil {
		t.Fatal(err)
	}
	schema := ctx.CompileBytes(src, cue.Filename("report.cue"))
	if schema.Err() != nil {
		t.Fatal(schema.Err())
	}
	def := schema.LookupPath(cue.ParsePath("#Report"))

	f, err := os.Open(fixture.Shared(t, "inventories/dpkg/debian12-bookworm.status"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := inventory.ParseDpkgStatus(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	realSet, err := inventory.NewPackageSet(vercmp.Deb, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	realJSON, err := json.Marshal(&inventory.Report{HostID: "web-01", Stream: "debian-12", Ecosystem: vercmp.Deb,
		CollectedAt: mustTime(t, "2026-11-26T09:00:00Z"), Labels: map[string]string{"team": "payments"}, Packages: realSet})
	if err != nil {
		t.Fatal(err)
	}

	base := func() map[string]any {
		return map[string]any{
			"hostId": "web-01", "stream": "debian-12", "ecosystem": "deb", "rebootRequired": false,
			"collectedAt": "2026-11-26T09:00:00Z",
			"packages":    []any{map[string]any{"name": "a", "version": "1.0-1", "arch": "amd64"}},
		}
	}
	pkg0 := func(m map[string]any) map[string]any { return m["packages"].([]any)[0].(map[string]any) }
	for _, tc := range []struct {
		name   string
		edit   func(map[string]any)
		raw    []byte
		goOnly bool // a rule CUE cannot express
	}{
		{name: "real debian 12 report", raw: realJSON},
		{name: "minimal", edit: func(map[string]any) {}},
		{name: "all optional fields", edit: func(m map[string]any) {
			m["hostname"], m["arch"], m["kernel"], m["agentVersion"] = "web-01.example.org", "amd64", "6.1.0-28-amd64", "patchbay 1.0"
			m["labels"] = map[string]any{"team": "payments", "k8s.io/zone": "eu west"}
			p := pkg0(m)
			p["sourceName"], p["sourceVersion"] = "asrc", "1.0"
		}},
		{name: "fractional time with offset", edit: func(m map[string]any) { m["collectedAt"] = "2026-11-26T09:00:00.123+02:00" }},
		{name: "unknown field", edit: func(m map[string]any) { m["color"] = "red" }},
		{name: "unknown package field", edit: func(m map[string]any) { pkg0(m)["size"] = "1" }},
		{name: "missing hostId", edit: func(m map[string]any) { delete(m, "hostId") }},
		{name: "missing rebootRequired", edit: func(m map[string]any) { delete(m, "rebootRequired") }},
		{name: "missing packages", edit: func(m map[string]any) { delete(m, "packages") }},
		{name: "empty packages", edit: func(m map[string]any) { m["packages"] = []any{} }},
		{name: "bad hostId", edit: func(m map[string]any) { m["hostId"] = "-web" }},
		{name: "long hostId", edit: func(m map[string]any) { m["hostId"] = strings.Repeat("a", 254) }},
		{name: "bad hostname", edit: func(m map[string]any) { m["hostname"] = "web 01" }},
		{name: "bad stream", edit: func(m map[string]any) { m["stream"] = "debian" }},
		{name: "stream with minor", edit: func(m map[string]any) { m["stream"] = "ubuntu-24.04" }},
		{name: "bad ecosystem", edit: func(m map[string]any) { m["ecosystem"] = "pacman" }},
		{name: "bad time", edit: func(m map[string]any) { m["collectedAt"] = "2026-11-26 09:00" }},
		{name: "reboot string", edit: func(m map[string]any) { m["rebootRequired"] = "no" }},
		{name: "null kernel", edit: func(m map[string]any) { m["kernel"] = nil }},
		{name: "kernel with space", edit: func(m map[string]any) { m["kernel"] = "6.1 amd64" }},
		{name: "bad label key", edit: func(m map[string]any) { m["labels"] = map[string]any{"bad key": "v"} }},
		{name: "label value with newline", edit: func(m map[string]any) { m["labels"] = map[string]any{"k": "a\nb"} }},
		{name: "label not string", edit: func(m map[string]any) { m["labels"] = map[string]any{"k": 1} }},
		{name: "bad arch", edit: func(m map[string]any) { m["arch"] = "X86-64" }},
		{name: "empty version", edit: func(m map[string]any) { pkg0(m)["version"] = "" }},
		{name: "missing package arch", edit: func(m map[string]any) { delete(pkg0(m), "arch") }},
		{name: "non-ASCII name", edit: func(m map[string]any) { pkg0(m)["name"] = "café" }},
		{name: "empty sourceName", edit: func(m map[string]any) { pkg0(m)["sourceName"] = "" }},
		{name: "malformed hash", edit: func(m map[string]any) { m["packageSetHash"] = "sha256:XYZ" }},
		{name: "wrong hash", edit: func(m map[string]any) { m["packageSetHash"] = "sha256:" + strings.Repeat("0", 64) }, goOnly: true},
		{name: "duplicate package", edit: func(m map[string]any) { m["packages"] = append(m["packages"].([]any), pkg0(m)) }, goOnly: true},
		{name: "stream of another ecosystem", edit: func(m map[string]any) { m["stream"] = "rhel-9" }, goOnly: true},
		{name: "empty kernel", edit: func(m map[string]any) { m["kernel"] = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.raw
			if data == nil {
				m := base()
				tc.edit(m)
				if data, err = json.Marshal(m); err != nil {
					t.Fatal(err)
				}
			}
			_, goErr := inventory.Decode(data)
			expr, err := cuejson.Extract("report.json", data)
			if err != nil {
				t.Fatal(err)
			}
			cueErr := def.Unify(ctx.BuildExpr(expr)).Validate(cue.Concrete(true))
			switch {
			case tc.goOnly:
				if cueErr != nil || goErr == nil {
					t.Errorf("want CUE to accept and Go to refuse: cue %v, go %v", cueErr, goErr)
				}
			case (goErr == nil) != (cueErr == nil):
				t.Errorf("disagree: cue %v, go %v", cueErr, goErr)
			}
		})
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
