package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/internal/fixture"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// realReport builds a report from the real Debian 12 status database,
// grown to n packages by adding renamed copies.
func realReport(tb testing.TB, n int) *Report {
	tb.Helper()
	f, err := os.Open(fixture.Shared(tb, "inventories/dpkg/debian12-bookworm.status"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	base, err := ParseDpkgStatus(f)
	if err != nil {
		tb.Fatal(err)
	}
	pkgs := make([]Package, 0, n)
	for i := 0; len(pkgs) < n; i++ {
		p := base[i%len(base)]
		if round := i / len(base); round > 0 {
			p.Name = fmt.Sprintf("%s-copy%d", p.Name, round)
		}
		pkgs = append(pkgs, p)
	}
	set, err := NewPackageSet(vercmp.Deb, pkgs)
	if err != nil {
		tb.Fatal(err)
	}
	return &Report{
		HostID: "web-01", Hostname: "web-01.example.org", Stream: "debian-12", Ecosystem: vercmp.Deb,
		Labels: map[string]string{"team": "payments", "env": "prod"}, Arch: "amd64", Kernel: "6.1.0-28-amd64",
		CollectedAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC), AgentVersion: "patchbay dev", Packages: set,
	}
}

func marshal(tb testing.TB, r *Report) []byte {
	tb.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestDecodeRoundTrip(t *testing.T) {
	r := realReport(t, 743)
	data := marshal(t, r)
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(r, got, cmp.AllowUnexported(PackageSet{})); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got.Packages.Hash() != r.Packages.Hash() || !strings.HasPrefix(got.Packages.Hash(), "sha256:") {
		t.Errorf("hash %s, want %s", got.Packages.Hash(), r.Packages.Hash())
	}
	if again := marshal(t, got); string(again) != string(data) {
		t.Errorf("re-encoding differs")
	}
}

// TestPackageSetHashCanonical pins the documented canonical form.
func TestPackageSetHashCanonical(t *testing.T) {
	set, err := NewPackageSet(vercmp.Deb, []Package{
		{Name: "libc6", Version: "2.36-9", Arch: "amd64", SourceName: "glibc"},
		{Name: "bsdutils", Version: "1:2.38.1-5", Arch: "amd64", SourceName: "util-linux", SourceVersion: "2.38.1-5"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// printf 'patchbay-packages-v1 deb\nbsdutils\t1:2.38.1-5\tamd64\tutil-linux\t2.38.1-5\nlibc6\t2.36-9\tamd64\tglibc\t2.36-9\n' | sha256sum
	const want = "sha256:5dca957ee0c8f8990123786e6b3f56ccb01ad9d060a49740b29c055784ffd889"
	if set.Hash() != want {
		t.Errorf("hash %s, want %s", set.Hash(), want)
	}
	canon := "patchbay-packages-v1 deb\nbsdutils\t1:2.38.1-5\tamd64\tutil-linux\t2.38.1-5\nlibc6\t2.36-9\tamd64\tglibc\t2.36-9\n"
	if got := sha256Hex(canon); set.Hash() != got {
		t.Errorf("hash %s, want sha256 of the canonical form %s", set.Hash(), got)
	}
	if set.Packages()[0].Name != "bsdutils" || set.Packages()[1].SourceVersion != "2.36-9" {
		t.Errorf("not sorted or not resolved: %v", set.Packages())
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := func() map[string]any {
		return map[string]any{
			"hostId": "web-01", "stream": "debian-12", "ecosystem": "deb", "rebootRequired": false,
			"collectedAt": "2026-11-26T09:00:00Z",
			"packages": []any{
				map[string]any{"name": "a", "version": "1.0-1", "arch": "amd64"},
				map[string]any{"name": "b", "version": "2.0-1", "arch": "all", "sourceName": "bsrc", "sourceVersion": "2.0"},
			},
		}
	}
	pkg := func(m map[string]any, i int) map[string]any { return m["packages"].([]any)[i].(map[string]any) }
	for _, tc := range []struct {
		name   string
		edit   func(m map[string]any)
		raw    string // used instead of edit when set
		target error
		want   string // substring of the error
	}{
		{name: "valid", edit: func(map[string]any) {}},
		{name: "unknown field", edit: func(m map[string]any) { m["color"] = "red" }, target: ErrInvalid, want: "color: unknown field"},
		{name: "unknown package field", edit: func(m map[string]any) { pkg(m, 1)["size"] = "1" }, target: ErrInvalid, want: "packages[1].size: unknown field"},
		{name: "empty version", edit: func(m map[string]any) { pkg(m, 1)["version"] = "" }, target: ErrInvalid, want: "packages[1].version: empty"},
		{name: "missing arch", edit: func(m map[string]any) { delete(pkg(m, 0), "arch") }, target: ErrInvalid, want: "packages[0].arch: missing"},
		{name: "bad arch", edit: func(m map[string]any) { pkg(m, 0)["arch"] = "AMD 64" }, target: ErrInvalid, want: "packages[0].arch"},
		{name: "space in name", edit: func(m map[string]any) { pkg(m, 0)["name"] = "a b" }, target: ErrInvalid, want: "packages[0].name"},
		{name: "empty source name", edit: func(m map[string]any) { pkg(m, 0)["sourceName"] = "" }, target: ErrInvalid, want: "packages[0].sourceName: empty"},
		{name: "missing hostId", edit: func(m map[string]any) { delete(m, "hostId") }, target: ErrInvalid, want: "hostId: missing"},
		{name: "bad hostId", edit: func(m map[string]any) { m["hostId"] = "-x" }, target: ErrInvalid, want: "hostId"},
		{name: "bad stream", edit: func(m map[string]any) { m["stream"] = "Debian 12" }, target: ErrInvalid, want: "stream"},
		{name: "stream of another ecosystem", edit: func(m map[string]any) { m["stream"] = "rhel-9" }, target: ErrInvalid, want: "stream: rhel-9 is a rpm stream"},
		{name: "bad ecosystem", edit: func(m map[string]any) { m["ecosystem"] = "pacman" }, target: ErrInvalid, want: "ecosystem"},
		{name: "bad time", edit: func(m map[string]any) { m["collectedAt"] = "yesterday" }, target: ErrInvalid, want: "collectedAt"},
		{name: "null", edit: func(m map[string]any) { m["kernel"] = nil }, target: ErrInvalid, want: "kernel: want a string, found null"},
		{name: "empty optional", edit: func(m map[string]any) { m["kernel"] = "" }, target: ErrInvalid, want: "kernel: empty"},
		{name: "reboot as string", edit: func(m map[string]any) { m["rebootRequired"] = "yes" }, target: ErrInvalid, want: "rebootRequired"},
		{name: "bad label", edit: func(m map[string]any) { m["labels"] = map[string]any{"ok": "v", "bad key": "v"} }, target: ErrInvalid, want: "labels.bad key"},
		{name: "no packages", edit: func(m map[string]any) { m["packages"] = []any{} }, target: ErrInvalid, want: "packages: empty"},
		{name: "duplicate package", edit: func(m map[string]any) { m["packages"] = append(m["packages"].([]any), pkg(m, 0)) }, target: ErrInvalid, want: "packages[2]: duplicate of packages[0]"},
		{name: "wrong hash", edit: func(m map[string]any) { m["packageSetHash"] = "sha256:" + strings.Repeat("0", 64) }, target: ErrInvalid, want: "packageSetHash"},
		{name: "malformed hash", edit: func(m map[string]any) { m["packageSetHash"] = "md5:00" }, target: ErrInvalid, want: "packageSetHash"},
		{name: "duplicate key", raw: `{"hostId":"a","hostId":"b"}`, target: ErrInvalid, want: "hostId: duplicate key"},
		{name: "syntax", raw: "{\n  \"hostId\": \"a\",\n  \"stream\" \"debian-12\"}", target: ErrSyntax, want: "3: syntax error: column 12: want ':'"},
		{name: "trailing data", raw: `{"hostId":"a"} {}`, target: ErrSyntax, want: "data after the report object"},
		{name: "not an object", raw: `[]`, target: ErrSyntax, want: "want '{'"},
		{name: "truncated", raw: `{"hostId":"a`, target: ErrSyntax, want: "unterminated string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.raw)
			if tc.raw == "" {
				m := valid()
				tc.edit(m)
				var err error
				if data, err = json.Marshal(m); err != nil {
					t.Fatal(err)
				}
			}
			r, err := Decode(data)
			if tc.target == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if r != nil || !errors.Is(err, tc.target) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an error wrapping %v containing %q", r, err, tc.target, tc.want)
			}
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	r := realReport(t, 2000)
	data := marshal(t, r)
	t.Run("bytes", func(t *testing.T) {
		d := Decoder{MaxBytes: len(data) - 1}
		if _, err := d.Decode(data); !errors.Is(err, ErrTooLarge) {
			t.Errorf("got %v, want ErrTooLarge", err)
		}
		d.MaxBytes = len(data)
		if _, err := d.Decode(data); err != nil {
			t.Errorf("at the limit: %v", err)
		}
	})
	t.Run("bytes default", func(t *testing.T) {
		big := make([]byte, DefaultMaxBytes+1)
		if _, err := Decode(big); !errors.Is(err, ErrTooLarge) {
			t.Errorf("got %v, want ErrTooLarge", err)
		}
		var d Decoder
		if _, err := d.DecodeReader(strings.NewReader(string(big))); !errors.Is(err, ErrTooLarge) {
			t.Errorf("reader: got %v, want ErrTooLarge", err)
		}
	})
	t.Run("packages", func(t *testing.T) {
		d := Decoder{MaxPackages: 1999}
		if _, err := d.Decode(data); !errors.Is(err, ErrTooManyPackages) {
			t.Errorf("got %v, want ErrTooManyPackages", err)
		}
		d.MaxPackages = 2000
		if _, err := d.Decode(data); err != nil {
			t.Errorf("at the limit: %v", err)
		}
	})
	t.Run("packages default", func(t *testing.T) {
		var b strings.Builder
		b.WriteString(`{"hostId":"h","stream":"debian-12","ecosystem":"deb","rebootRequired":false,"collectedAt":"2026-11-26T09:00:00Z","packages":[`)
		for i := range DefaultMaxPackages + 1 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"name":"p%d","version":"1","arch":"all"}`, i)
		}
		b.WriteString("]}")
		if _, err := Decode([]byte(b.String())); !errors.Is(err, ErrTooManyPackages) {
			t.Errorf("got %v, want ErrTooManyPackages", err)
		}
	})
}

func TestDecodeUnsortedAndEscaped(t *testing.T) {
	in := `{"hostId":"h","stream":"debian-12","ecosystem":"deb","rebootRequired":true,"collectedAt":"2026-11-26T09:00:00.5+01:00",
	"labels":{"team":"pay\u006dents"},
	"packages":[{"name":"zlib1g","version":"1:1.2.13.dfsg-1","arch":"amd64","sourceName":"zlib","sourceVersion":"1:1.2.13.dfsg-1"},
	{"arch":"amd64","version":"2.36-9","name":"lib\/c6"}]}`
	r, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{{"lib/c6", "2.36-9", "amd64", "lib/c6", "2.36-9"}, {"zlib1g", "1:1.2.13.dfsg-1", "amd64", "zlib", "1:1.2.13.dfsg-1"}}
	if d := cmp.Diff(want, r.Packages.Packages()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if r.Labels["team"] != "payments" || !r.RebootRequired || !r.CollectedAt.Equal(time.Date(2026, 11, 26, 8, 0, 0, 5e8, time.UTC)) {
		t.Errorf("header: %+v", r)
	}
	// The same set through the cache: the unsorted raw hash equals the sorted one.
	c := NewSetCache()
	d := Decoder{Cache: c}
	r1, err := d.Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := d.Decode(marshal(t, r))
	if err != nil {
		t.Fatal(err)
	}
	if r1.Packages != r2.Packages || c.Len() != 1 {
		t.Errorf("sets not shared: %p %p, cache %d", r1.Packages, r2.Packages, c.Len())
	}
}

func TestSetCacheShares(t *testing.T) {
	c := NewSetCache()
	d := Decoder{Cache: c}
	a, b := realReport(t, 800), realReport(t, 801)
	var sets []*PackageSet
	for i, r := range []*Report{a, b, a, b, a} {
		r.HostID = fmt.Sprintf("host-%d", i)
		got, err := d.Decode(marshal(t, r))
		if err != nil {
			t.Fatal(err)
		}
		if got.HostID != r.HostID {
			t.Errorf("host %s, want %s", got.HostID, r.HostID)
		}
		sets = append(sets, got.Packages)
	}
	if c.Len() != 2 || sets[0] != sets[2] || sets[0] != sets[4] || sets[1] != sets[3] || sets[0] == sets[1] {
		t.Errorf("cache holds %d sets; sharing wrong", c.Len())
	}
	// Strings shared across different sets.
	p0, p1 := sets[0].Packages()[0], sets[1].Packages()[0]
	if p0.Name != p1.Name || unsafeStringData(p0.Name) != unsafeStringData(p1.Name) {
		t.Errorf("strings of equal packages in different sets are not interned")
	}
}

// TestDecodeCacheNoForgery: a report whose fields contain TAB and newline
// could spell the canonical form of a cached set with different packages;
// it must be refused, not matched to the cached set.
func TestDecodeCacheNoForgery(t *testing.T) {
	c := NewSetCache()
	d := Decoder{Cache: c}
	good := `{"hostId":"h","stream":"debian-12","ecosystem":"deb","rebootRequired":false,"collectedAt":"2026-11-26T09:00:00Z","packages":[` +
		`{"name":"a","version":"1","arch":"all"},{"name":"b","version":"2","arch":"all"}]}`
	if _, err := d.Decode([]byte(good)); err != nil {
		t.Fatal(err)
	}
	// One package whose sourceVersion swallows the second line.
	forged := `{"hostId":"h","stream":"debian-12","ecosystem":"deb","rebootRequired":false,"collectedAt":"2026-11-26T09:00:00Z","packages":[` +
		`{"name":"a","version":"1","arch":"all","sourceName":"a","sourceVersion":"1\nb\t2\tall\tb\t2"}]}`
	if r, err := d.Decode([]byte(forged)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, %v; want the forged report refused", r, err)
	}
}

// TestDecodeCachedDistinct decodes reports that differ in one package each
// through one cached Decoder (the one-pass path that builds a new set from
// the bytes into the cache's table) and without a cache: every set must be
// equal, with the same hash, and the cached ones must share one table.
// Invalid and duplicated packages must be refused by the cached decoder with
// the same error as by the plain one.
func TestDecodeCachedDistinct(t *testing.T) {
	base := realReport(t, 400)
	cached := Decoder{Cache: NewSetCache()}
	var tab *Table
	for i := range 20 {
		pkgs := base.Packages.Packages()
		pkgs[i*7].Version += "+b" + itoa(i+1) // a binary-only rebuild: a new package
		slices.Reverse(pkgs)                  // unsorted input takes the sorting path
		set, err := NewPackageSet(base.Ecosystem, pkgs)
		if err != nil {
			t.Fatal(err)
		}
		r := *base
		r.Packages = set
		data := marshal(t, &r)
		want, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cached.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Packages.Equal(want.Packages) || got.Packages.Hash() != set.Hash() {
			t.Fatalf("report %d: the cached decoder's set differs", i)
		}
		if tab == nil {
			tab = got.Packages.Table()
		} else if got.Packages.Table() != tab {
			t.Fatalf("report %d: not in the cache's table", i)
		}
		if again, _ := cached.Decode(data); again.Packages != got.Packages {
			t.Fatalf("report %d: decoded twice, not shared", i)
		}
	}
	if n := tab.Len(); n != 400+20 {
		t.Errorf("table holds %d packages, want 420 (400 shared, 20 rebuilds)", n)
	}

	good := string(marshal(t, base))
	for _, tc := range []struct{ name, from, to string }{
		{"bad version", `"version":"` + base.Packages.At(3).Version + `"`, `"version":"1:"`},
		{"duplicate", wireJSON(t, base.Packages.At(5)), wireJSON(t, base.Packages.At(4))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(strings.Replace(good, tc.from, tc.to, 1))
			if string(data) == good {
				t.Fatal("the replacement did not apply")
			}
			_, want := Decode(data)
			_, got := cached.Decode(data)
			if want == nil || got == nil || got.Error() != want.Error() {
				t.Fatalf("cached decoder: %v; plain decoder: %v", got, want)
			}
		})
	}
}

func wireJSON(t *testing.T, p Package) string {
	b, err := json.Marshal(wirePackage(p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
