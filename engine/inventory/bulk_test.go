package inventory

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// bulkReports is a small fleet of every ecosystem, with shared and
// distinct sets, optional fields absent and present, labels, and a
// collection time with an offset and nanoseconds.
func bulkReports(tb testing.TB) []*Report {
	tb.Helper()
	r1 := synthReport(tb, 300)
	r2 := *r1
	r2.HostID, r2.Hostname, r2.Arch, r2.Kernel, r2.AgentVersion = "web-02", "", "", "", ""
	r2.Labels = map[string]string{"env": "prod", "team": "payments"}
	r2.RebootRequired = true
	r2.CollectedAt = time.Date(2026, 11, 26, 11, 0, 0, 123456789, time.FixedZone("", 2*3600))
	r3 := synthReport(tb, 310)
	r3.HostID, r3.Labels = "web-03", nil
	rpm, err := NewPackageSet(vercmp.RPM, []Package{
		{Name: "openssl-libs", Version: "1:3.0.7-27.el9", Arch: "x86_64", SourceName: "openssl", SourceVersion: "3.0.7-27.el9"},
		{Name: "openssl", Version: "1:3.0.7-27.el9", Arch: "x86_64", SourceName: "openssl", SourceVersion: "3.0.7-27.el9"},
		{Name: "kernel", Version: "5.14.0-427.el9", Arch: "x86_64"},
		{Name: "kernel", Version: "5.14.0-503.el9", Arch: "x86_64"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	apk, err := NewPackageSet(vercmp.APK, []Package{{Name: "musl", Version: "1.2.5-r0", Arch: "x86_64"}})
	if err != nil {
		tb.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	r4 := &Report{HostID: "db-01", Stream: "rhel-9", Ecosystem: vercmp.RPM, Arch: "x86_64", CollectedAt: at, Packages: rpm,
		Labels: map[string]string{"ring": "pilot"}}
	r5 := &Report{HostID: "edge-01", Stream: "alpine-3.20", Ecosystem: vercmp.APK, CollectedAt: at, Packages: apk}
	r6 := &Report{HostID: "db-02", Stream: "rhel-9", Ecosystem: vercmp.RPM, CollectedAt: at, Packages: rpm,
		Labels: map[string]string{"ring": "pilot"}}
	return []*Report{r1, &r2, r3, r4, r5, r6}
}

// synthReport is a Debian report of n made-up packages (this package's
// other tests use the shared real databases, which a bare checkout lacks).
func synthReport(tb testing.TB, n int) *Report {
	tb.Helper()
	pkgs := make([]Package, 0, n)
	for i := range n {
		p := Package{Name: fmt.Sprintf("lib%03d-%d", i%97, i), Version: fmt.Sprintf("%d:2.%d.%d-%d+deb12u1", i%3, i%7, i, i%5), Arch: []string{"amd64", "all", "i386"}[i%3]}
		if i%4 == 0 {
			p.SourceName, p.SourceVersion = fmt.Sprintf("src%d", i/4), fmt.Sprintf("2.%d-1", i)
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

func writeBulk(tb testing.TB, reports []*Report) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := WriteBulk(&buf, reports); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func readBulk(data []byte, dec *Decoder) ([]*Report, error) {
	var out []*Report
	err := ReadBulk(context.Background(), bytes.NewReader(data), int64(len(data)), "fleet.pbinv", dec, func(r *Report) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// TestBulkSameAsJSON reads the same fleet from JSON lines and from the bulk
// file and gets equal reports: fields, collection times (with their
// offsets), packages and hashes, with shared sets shared.
func TestBulkSameAsJSON(t *testing.T) {
	reports := bulkReports(t)
	dir := t.TempDir()
	var jl bytes.Buffer
	for _, r := range reports {
		jl.Write(marshal(t, r))
		jl.WriteByte('\n')
	}
	// The JSON path keeps the offset of collectedAt as written; write one
	// line by hand with an offset so the bulk file must keep it too.
	line := strings.Replace(string(marshal(t, reports[1])), `"2026-11-26T09:00:00.123456789Z"`, `"2026-11-26T11:00:00.123456789+02:00"`, 1)
	jl.WriteString(strings.Replace(line, `"web-02"`, `"web-04"`, 1) + "\n")
	jsonPath := filepath.Join(dir, "fleet.jsonl")
	if err := os.WriteFile(jsonPath, jl.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var fromJSON []*Report
	if err := ReadPath(context.Background(), jsonPath, &Decoder{Cache: NewSetCache()}, func(r *Report) error {
		fromJSON = append(fromJSON, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	data := writeBulk(t, fromJSON)
	if !IsBulk(data) {
		t.Fatal("no bulk header")
	}
	fromBulk, err := readBulk(data, &Decoder{Cache: NewSetCache(), Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(fromJSON, fromBulk); d != "" {
		t.Fatalf("(-json +bulk):\n%s", d)
	}
	for i := range fromJSON {
		a, b := fromJSON[i], fromBulk[i]
		if a.CollectedAt.Format(time.RFC3339Nano) != b.CollectedAt.Format(time.RFC3339Nano) {
			t.Errorf("host %s: collectedAt %v, JSON gives %v", b.HostID, b.CollectedAt, a.CollectedAt)
		}
		want, err := NewPackageSet(b.Ecosystem, b.Packages.Packages())
		if err != nil {
			t.Fatal(err)
		}
		if b.Packages.Hash() != want.Hash() || b.Packages.Hash() != a.Packages.Hash() {
			t.Errorf("host %s: hash %s, want %s", b.HostID, b.Packages.Hash(), want.Hash())
		}
	}
	if fromBulk[0].Packages != fromBulk[1].Packages || fromBulk[3].Packages != fromBulk[5].Packages {
		t.Error("equal sets are not shared")
	}
	if _, off := fromBulk[6].CollectedAt.Zone(); off != 2*3600 {
		t.Errorf("collectedAt %v lost its offset", fromBulk[6].CollectedAt)
	}
}

// TestReadPathBulkByMagic reads a bulk file by its header, whatever its
// name, alone and in a directory.
func TestReadPathBulkByMagic(t *testing.T) {
	reports := bulkReports(t)
	data := writeBulk(t, reports)
	dir := t.TempDir()
	misnamed := filepath.Join(dir, "fleet.jsonl")
	if err := os.WriteFile(misnamed, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "reports")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "fleet"+BulkExt), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{misnamed, sub} {
		var got []*Report
		if err := ReadPath(context.Background(), path, nil, func(r *Report) error {
			got = append(got, r)
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d := cmp.Diff(reports, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", path, d)
		}
	}
}

// TestReadBulkTruncated cuts a valid file at (nearly) every length: each is an
// error naming a byte offset, never a panic or a partial success.
func TestReadBulkTruncated(t *testing.T) {
	data := writeBulk(t, bulkReports(t))
	for n := 0; n < len(data); n++ {
		if n > 600 && n < len(data)-600 {
			n += 6 // every offset near the ends, every 7th in the sets' middle
		}
		_, err := readBulk(data[:n], nil)
		var be *BulkError
		if !errors.As(err, &be) || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "fleet.pbinv: bulk inventory: byte ") {
			t.Fatalf("cut at %d: %v, want a *BulkError wrapping ErrSyntax", n, err)
		}
		if be.Offset > int64(n) {
			t.Fatalf("cut at %d: offset %d beyond the end", n, be.Offset)
		}
	}
	if _, err := readBulk(append(bytes.Clone(data), 0), nil); err == nil || !strings.Contains(err.Error(), "after the trailer") {
		t.Errorf("a byte after the trailer: %v", err)
	}
	flipped := bytes.Clone(data)
	i := bytes.Index(flipped, []byte("web-03"))
	flipped[i+5] = '9' // still a valid host id: only the checksum sees it
	if _, err := readBulk(flipped, nil); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("a changed byte: %v, want a checksum error", err)
	}
}

// bulkFile builds a bulk file by hand, so that tests can write what
// WriteBulk never would.
type bulkFile struct {
	version uint64
	strs    []string
	pkgs    [][5]uint64
	sets    [][]uint64 // ecosystem string, then package indexes (not deltas)
	hosts   [][]uint64 // the host record's integers; reboot is one byte
}

func (f bulkFile) bytes() []byte {
	b := []byte(bulkMagic)
	v := f.version
	if v == 0 {
		v = bulkVersion
	}
	b = binary.AppendUvarint(b, v)
	b = binary.AppendUvarint(b, uint64(len(f.strs)))
	for _, s := range f.strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(f.pkgs)))
	for _, p := range f.pkgs {
		for _, x := range p {
			b = binary.AppendUvarint(b, x)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(f.sets)))
	for _, s := range f.sets {
		b = binary.AppendUvarint(b, s[0])
		b = binary.AppendUvarint(b, uint64(len(s)-1))
		prev := uint64(0)
		for i, x := range s[1:] {
			if i == 0 {
				b = binary.AppendUvarint(b, x)
			} else {
				b = binary.AppendUvarint(b, x-prev)
			}
			prev = x
		}
	}
	b = binary.AppendUvarint(b, uint64(len(f.hosts)))
	for _, h := range f.hosts {
		for _, x := range h {
			b = binary.AppendUvarint(b, x)
		}
	}
	b = append(b, bulkTrailer...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[:len(b)-len(bulkTrailer)], crcTable))
}

// validBulkFile: strings 0 a, 1 1.0-1, 2 all, 3 b, 4 deb, 5 h1, 6
// debian-12, 7 2026-11-26T09:00:00Z, 8 2.0-1,; one host, no labels.
func validBulkFile() bulkFile {
	return bulkFile{
		strs:  []string{"a", "1.0-1", "all", "b", "deb", "h1", "debian-12", "2026-11-26T09:00:00Z", "2.0-1", "rpm", "bad id"},
		pkgs:  [][5]uint64{{0, 1, 2, 0, 1}, {3, 1, 2, 3, 1}},
		sets:  [][]uint64{{4, 0, 1}},
		hosts: [][]uint64{{5, 0, 6, 4, 0, 0, 0, 0, 7, 0, 0}},
	}
}

// TestReadBulkChecks feeds files that are well-formed but break a rule:
// each is refused with the reason, as the JSON path refuses them.
func TestReadBulkChecks(t *testing.T) {
	if got, err := readBulk(validBulkFile().bytes(), nil); err != nil || len(got) != 1 || got[0].Packages.Len() != 2 {
		t.Fatalf("the valid file: %v", err)
	}
	tests := []struct {
		name string
		edit func(*bulkFile)
		want string
	}{
		{"version", func(f *bulkFile) { f.version = 2 }, "format version 2"},
		{"invalid package version", func(f *bulkFile) { f.strs[1] = "" }, "packages[0].version: empty"},
		{"invalid package arch", func(f *bulkFile) { f.strs[2] = "ALL" }, "packages[0].arch"},
		{"unsorted table", func(f *bulkFile) { f.pkgs[0], f.pkgs[1] = f.pkgs[1], f.pkgs[0] }, "must be sorted"},
		{"duplicate name/arch/version", func(f *bulkFile) { f.pkgs[1] = [5]uint64{0, 1, 2, 3, 1} }, "duplicate of packages[0]"},
		{"repeated index", func(f *bulkFile) { f.sets[0] = []uint64{4, 0, 0} }, "indexes must increase"},
		{"index out of range", func(f *bulkFile) { f.sets[0] = []uint64{4, 0, 2} }, "package index"},
		{"empty set", func(f *bulkFile) { f.sets[0] = []uint64{4} }, "package count 0"},
		{"bad set ecosystem", func(f *bulkFile) { f.sets[0][0] = 0 }, `set 0: ecosystem: "a": want deb, rpm or apk`},
		{"host of another ecosystem", func(f *bulkFile) { f.hosts[0][3] = 9 }, "debian-12 is a deb stream"},
		{"set ecosystem differs", func(f *bulkFile) { f.sets[0][0] = 9; f.hosts[0][2] = 6 }, `set 0 of ecosystem "rpm" in a "deb" report`},
		{"bad host id", func(f *bulkFile) { f.hosts[0][0] = 10 }, `hostId: "bad id"`},
		{"bad time", func(f *bulkFile) { f.hosts[0][8] = 1 }, "collectedAt"},
		{"duplicate label", func(f *bulkFile) {
			f.hosts[0] = []uint64{5, 0, 6, 4, 2, 0, 1, 0, 1, 0, 0, 0, 7, 0, 0}
		}, "labels.a: duplicate key"},
		{"reboot byte", func(f *bulkFile) { f.hosts[0][7] = 2 }, "want the byte 0 or 1"},
		{"set index", func(f *bulkFile) { f.hosts[0][10] = 1 }, "set index 1 is out of range"},
		{"string index", func(f *bulkFile) { f.hosts[0][0] = 11 }, "hostId 11 is out of range"},
		{"no hosts", func(f *bulkFile) { f.pkgs = nil; f.sets = nil; f.hosts = nil }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := validBulkFile()
			tt.edit(&f)
			_, err := readBulk(f.bytes(), nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("an empty fleet: %v", err)
				}
				return
			}
			var be *BulkError
			if !errors.As(err, &be) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a *BulkError containing %q", err, tt.want)
			}
		})
	}
	// A count larger than the file is refused before anything is
	// allocated for it.
	b := []byte(bulkMagic)
	b = binary.AppendUvarint(b, bulkVersion)
	b = binary.AppendUvarint(b, 1<<30)
	if _, err := readBulk(b, nil); err == nil || !strings.Contains(err.Error(), "string count 1073741824 does not fit") {
		t.Errorf("a huge count: %v", err)
	}
	if _, err := readBulk([]byte(`{"hostId":"x"}`), nil); err == nil || !strings.Contains(err.Error(), "not a bulk inventory") {
		t.Errorf("JSON: %v", err)
	}
}

// FuzzReadBulk checks that ReadBulk never panics and that whatever it
// accepts is valid, carries the hash of its packages, and survives
// WriteBulk and ReadBulk unchanged.
func FuzzReadBulk(f *testing.F) {
	f.Add(writeBulk(f, bulkReports(f)))
	f.Add(validBulkFile().bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := readBulk(data, &Decoder{Workers: 2})
		if err != nil {
			var be *BulkError
			if !errors.As(err, &be) {
				t.Fatalf("error %v is not a *BulkError", err)
			}
			return
		}
		for _, r := range got {
			if err := r.Validate(); err != nil {
				t.Fatalf("accepted an invalid report: %v", err)
			}
			want, err := NewPackageSet(r.Ecosystem, r.Packages.Packages())
			if err != nil || want.Hash() != r.Packages.Hash() {
				t.Fatalf("set hash %s, the packages give %v %v", r.Packages.Hash(), want, err)
			}
		}
		again, err := readBulk(writeBulk(t, got), nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(got, again); d != "" {
			t.Fatalf("round trip (-first +second):\n%s", d)
		}
	})
}

// BenchmarkReadBulk reads 100 hosts over 20 distinct sets of 2,000
// packages from a bulk file (the set hashes are recomputed every time).
func BenchmarkReadBulk(b *testing.B) {
	base := synthReport(b, 2000)
	var reports []*Report
	for i := range 100 {
		pkgs := base.Packages.Packages()
		pkgs[i%20].Version = fmt.Sprintf("9:%d.0-1", i%20)
		set, err := NewPackageSet(vercmp.Deb, pkgs)
		if err != nil {
			b.Fatal(err)
		}
		r := *base
		r.HostID, r.Packages = fmt.Sprintf("host-%03d", i), set
		reports = append(reports, &r)
	}
	data := writeBulk(b, reports)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		got, err := readBulk(data, &Decoder{Cache: NewSetCache(), Workers: 2})
		if err != nil || len(got) != 100 {
			b.Fatal(err)
		}
	}
}
