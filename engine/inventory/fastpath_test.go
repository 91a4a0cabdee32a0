package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// slowSpan is tokenSpan one byte at a time: what it must equal.
func slowSpan(data []byte, i int) int {
	for i < len(data) && tokenByte[data[i]] {
		i++
	}
	return i
}

func TestTokenSpan(t *testing.T) {
	// Every byte value at every position of runs of several lengths
	// (within a word, across words, in the tail read byte by byte).
	for n := 0; n <= 19; n++ {
		for pos := 0; pos < n; pos++ {
			for v := range 256 {
				data := bytes.Repeat([]byte{'a'}, n)
				data[pos] = byte(v)
				if got, want := tokenSpan(data, 0), slowSpan(data, 0); got != want {
					t.Fatalf("len %d, byte %#x at %d: tokenSpan %d, want %d", n, v, pos, got, want)
				}
			}
		}
	}
	// Two stop bytes: a borrow or carry from the first must not hide it
	// or make a token byte before it look like a stop.
	stops := []byte{0x00, 0x1f, 0x20, '"', '\\', 0x7f, 0x80, 0xff}
	fill := []byte{0x21, 0x22 + 1, 0x5b, 0x5d, 0x7e, 'a'}
	for _, f := range fill {
		for _, s1 := range stops {
			for _, s2 := range stops {
				for p1 := 0; p1 < 16; p1++ {
					for p2 := p1 + 1; p2 < 16; p2++ {
						data := bytes.Repeat([]byte{f}, 16)
						data[p1], data[p2] = s1, s2
						if got := tokenSpan(data, 0); got != p1 {
							t.Fatalf("fill %#x, %#x at %d, %#x at %d: tokenSpan %d, want %d", f, s1, p1, s2, p2, got, p1)
						}
					}
				}
			}
		}
	}
	if got := tokenSpan([]byte(`xx"name"`), 3); got != 7 {
		t.Errorf("from offset 3: %d, want 7", got)
	}
}

// fastCases are package objects, and whether fastPackage takes each.
var fastCases = []struct {
	obj  string
	fast bool
}{
	{`{"name":"libc6","version":"2.36-9+deb12u4","arch":"amd64","sourceName":"glibc","sourceVersion":"2.36-9+deb12u4"}`, true},
	{`{"name":"a","version":"1","arch":"all","sourceName":"a","sourceVersion":"1"}`, true},
	{`{"name":"a~b","version":"1:2.0~rc1-1","arch":"x86_64","sourceName":"{x}","sourceVersion":"[1]"}`, true},
	{`{"name": "a","version":"1","arch":"all","sourceName":"a","sourceVersion":"1"}`, false},
	{`{ "name":"a","version":"1","arch":"all","sourceName":"a","sourceVersion":"1"}`, false},
	{`{"name":"a","version":"1","arch":"all","sourceName":"a","sourceVersion":"1" }`, false},
	{`{"version":"1","name":"a","arch":"all","sourceName":"a","sourceVersion":"1"}`, false},
	{`{"name":"a","version":"1","arch":"all"}`, false},
	{`{"name":"a","version":"1","arch":"all","sourceName":"a"}`, false},
	{`{"name":"\u0061","version":"1","arch":"all","sourceName":"a","sourceVersion":"1"}`, false},
	{`{"name":"a\"b","version":"1","arch":"all","sourceName":"a","sourceVersion":"1"}`, false},
	{`{"name":"a","version":"1.0 beta","arch":"all","sourceName":"a","sourceVersion":"1"}`, false},
	{`{"name":"caf\u00e9","version":"1","arch":"all","sourceName":"a","sourceVersion":"1"}`, false},
	{"{\"name\":\"caf\xc3\xa9\",\"version\":\"1\",\"arch\":\"all\",\"sourceName\":\"a\",\"sourceVersion\":\"1\"}", false},
	{"{\"name\":\"a\x7f\",\"version\":\"1\",\"arch\":\"all\",\"sourceName\":\"a\",\"sourceVersion\":\"1\"}", false},
	{`{"name":"","version":"1","arch":"all","sourceName":"a","sourceVersion":"1"}`, false},
	{`{"name":"a","version":"1","arch":"all","sourceName":"","sourceVersion":"1"}`, false},
	{`{"name":"a","version":"1","arch":"all","sourceName":"a","sourceVersion":"1","x":"y"}`, false},
	{`{"name":"a","version":"1","arch":"all","sourceName":"a","sourceVersion":"1","name":"b"}`, false},
	{`{"name":"a","version":"1","arch":"all","sourceName":"a","sourceVersion":1}`, false},
	{`{"name":"a","version":"1","arch":"all","sourceName":"a","sourceVersion":null}`, false},
}

// checkFastSameAsGeneral: when fastPackage takes the object at the start of
// data, the general parser accepts it too, with the same fields and end.
func checkFastSameAsGeneral(t *testing.T, data []byte) {
	t.Helper()
	var rp rawPackage
	end, ok := fastPackage(data, 0, &rp)
	if !ok {
		return
	}
	var d Decoder
	p := jsonParser{data: data, arena: &d.arena}
	if err := d.packageObject(&p, 0); err != nil {
		t.Fatalf("fast path accepted what the general parser refuses: %v", err)
	}
	if end != p.pos || len(d.raw) != 1 || d.nonToken {
		t.Fatalf("end %d, general %d; general raw %d, nonToken %v", end, p.pos, len(d.raw), d.nonToken)
	}
	for k := range rp.f {
		if !bytes.Equal(rp.f[k], d.raw[0].f[k]) {
			t.Errorf("field %s: fast %q, general %q", pkgFieldNames[k], rp.f[k], d.raw[0].f[k])
		}
	}
}

// FuzzFastPackage checks that whatever package object the fast path takes,
// the general parser reads to the same fields.
func FuzzFastPackage(f *testing.F) {
	for _, tc := range fastCases {
		f.Add([]byte(tc.obj))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastSameAsGeneral(t, data)
	})
}

// TestFastPackageSameAsGeneral: fastPackage takes exactly the canonical
// objects, and for them gives what the general parser gives; every other
// object goes to the general parser, which accepts or refuses it as before.
func TestFastPackageSameAsGeneral(t *testing.T) {
	canonical := fastCases[0].obj
	for _, tc := range fastCases {
		t.Run(tc.obj, func(t *testing.T) {
			data := []byte(tc.obj + `]`)
			var rp rawPackage
			if _, ok := fastPackage(data, 0, &rp); ok != tc.fast {
				t.Fatalf("fastPackage took it: %v, want %v", ok, tc.fast)
			}
			checkFastSameAsGeneral(t, data)
		})
	}
	// Truncated anywhere, the fast path declines without reading past the
	// end (the general parser then reports the error).
	for n := range len(canonical) {
		if _, ok := fastPackage([]byte(canonical[:n]), 0, new(rawPackage)); ok {
			t.Fatalf("cut at %d: taken", n)
		}
	}
}

// TestDecodeFastPathSameReport: a report in the canonical layout (the fast
// path), the same report indented (the general path for every package) and
// with an escape in one package (the general path for that one) decode to
// equal reports with the same set, cached or not.
func TestDecodeFastPathSameReport(t *testing.T) {
	base := realReport(t, 300)
	compact := marshal(t, base)
	var indented bytes.Buffer
	if err := json.Indent(&indented, compact, "", "  "); err != nil {
		t.Fatal(err)
	}
	escaped := bytes.Replace(compact, []byte(`"arch":"amd64"`), []byte(`"arch":"amd\u0036\u0034"`), 1)
	if bytes.Equal(escaped, compact) {
		t.Fatal("no amd64 package to escape")
	}
	for _, cached := range []bool{false, true} {
		for i, data := range [][]byte{compact, indented.Bytes(), escaped} {
			d := Decoder{}
			if cached {
				d.Cache = NewSetCache()
			}
			got, err := d.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Packages.Equal(base.Packages) || got.Packages.Hash() != base.Packages.Hash() || got.HostID != base.HostID {
				t.Fatalf("cached %v, form %d: the decoded report differs", cached, i)
			}
		}
	}
}

// TestReadPathParallelShorterLines: the parallel reader reuses line
// buffers, so a line shorter than the one read before into the same buffer
// must not see that line's bytes; blank lines give their buffer back too.
func TestReadPathParallelShorterLines(t *testing.T) {
	var b strings.Builder
	for i := range 120 {
		r := realReport(t, 200-i)
		r.HostID = fmt.Sprintf("host-%03d", i)
		b.Write(marshal(t, r))
		b.WriteString("\n")
		if i%7 == 0 {
			b.WriteString("\n  \n")
		}
	}
	p := filepath.Join(t.TempDir(), "fleet.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	read := func(workers int) []*Report {
		var got []*Report
		if err := ReadPath(context.Background(), p, &Decoder{Cache: NewSetCache(), Workers: workers}, func(r *Report) error {
			got = append(got, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	serial, parallel := read(0), read(3)
	if len(serial) != 120 || len(parallel) != 120 {
		t.Fatalf("%d and %d reports, want 120", len(serial), len(parallel))
	}
	for i := range serial {
		if parallel[i].HostID != serial[i].HostID || !parallel[i].Packages.Equal(serial[i].Packages) || parallel[i].Packages.Len() != 200-i {
			t.Fatalf("report %d differs between the serial and the parallel reader", i)
		}
	}
}
