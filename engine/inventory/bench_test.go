package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/internal/fixture"
)

func BenchmarkParseDpkgStatus(b *testing.B) {
	data, err := os.ReadFile(fixture.Shared(b, "inventories/dpkg/debian12-bookworm.status"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		pkgs, err := ParseDpkgStatus(bytes.NewReader(data))
		if err != nil || len(pkgs) != 743 {
			b.Fatal(len(pkgs), err)
		}
	}
}

// naiveReport is the plain struct encoding/json decodes the wire format into:
// the baseline the hand-written decoder is measured against.
type naiveReport struct {
	HostID         string            `json:"hostId"`
	Hostname       string            `json:"hostname"`
	Stream         string            `json:"stream"`
	Ecosystem      string            `json:"ecosystem"`
	Labels         map[string]string `json:"labels"`
	Arch           string            `json:"arch"`
	Kernel         string            `json:"kernel"`
	RebootRequired bool              `json:"rebootRequired"`
	CollectedAt    time.Time         `json:"collectedAt"`
	AgentVersion   string            `json:"agentVersion"`
	PackageSetHash string            `json:"packageSetHash"`
	Packages       []struct {
		Name          string `json:"name"`
		Version       string `json:"version"`
		Arch          string `json:"arch"`
		SourceName    string `json:"sourceName"`
		SourceVersion string `json:"sourceVersion"`
	} `json:"packages"`
}

// BenchmarkDecode decodes a 2,000-package report four ways in one run:
//   - encoding-json: encoding/json with DisallowUnknownFields into
//     naiveReport — no validation, no hash, no limits (the baseline);
//   - encoding-json+validate: the same, then NewPackageSet (validation,
//     sorting, hash), i.e. what a full decoder built on encoding/json costs;
//   - handwritten: Decode, with every check, the hash and the limits;
//   - handwritten-cached: a Decoder with a SetCache that already holds the
//     set, the common case of a planner reading 100,000 hosts.
func BenchmarkDecode(b *testing.B) {
	data := marshal(b, realReport(b, 2000))
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var r naiveReport
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil || len(r.Packages) != 2000 {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json+validate", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var r naiveReport
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&r); err != nil {
				b.Fatal(err)
			}
			pkgs := make([]Package, len(r.Packages))
			for i, p := range r.Packages {
				pkgs[i] = Package(p)
			}
			if _, err := newPackageSet("deb", pkgs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handwritten", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		var d Decoder
		for b.Loop() {
			r, err := d.Decode(data)
			if err != nil || r.Packages.Len() != 2000 {
				b.Fatal(err)
			}
		}
	})
	b.Run("handwritten-cached", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		d := Decoder{Cache: NewSetCache()}
		for b.Loop() {
			r, err := d.Decode(data)
			if err != nil || r.Packages.Len() != 2000 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFleetHeap decodes 2,000 reports of 2,000 packages with 20
// distinct package sets (the planner's shape scaled down 50x) with and
// without a SetCache, and reports the live heap each decoded report costs.
func BenchmarkFleetHeap(b *testing.B) {
	const hosts, distinct = 2000, 20
	var lines [][]byte
	for i := range distinct {
		r := realReport(b, 2000-i) // 20 different package sets
		lines = append(lines, marshal(b, r))
	}
	for _, tc := range []struct {
		name  string
		cache bool
	}{{"no-cache", false}, {"set-cache", true}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				d := Decoder{}
				if tc.cache {
					d.Cache = NewSetCache()
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				kept := make([]*Report, 0, hosts)
				for i := range hosts {
					r, err := d.Decode(lines[i%distinct])
					if err != nil {
						b.Fatal(err)
					}
					kept = append(kept, r)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/hosts, "heap-B/host")
				runtime.KeepAlive(kept)
			}
		})
	}
}

// BenchmarkDecodeDistinct is the bulk path of `patchbay plan --inventory
// fleet.jsonl` on a fleet whose hosts all differ: 100 reports of 2,000
// packages, each differing from the others in one package, decoded through
// one Decoder and a fresh SetCache per round (so every set is new and goes
// through the one-pass build into the cache's table).
func BenchmarkDecodeDistinct(b *testing.B) {
	base := realReport(b, 2000)
	var lines [][]byte
	size := 0
	for i := range 100 {
		pkgs := base.Packages.Packages()
		pkgs[(i*37)%len(pkgs)].Version += "+b" + itoa(i+1)
		set, err := NewPackageSet(base.Ecosystem, pkgs)
		if err != nil {
			b.Fatal(err)
		}
		r := *base
		r.HostID = "host-" + itoa(i)
		r.Packages = set
		lines = append(lines, marshal(b, &r))
		size += len(lines[i])
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		d := Decoder{Cache: NewSetCache()}
		for _, l := range lines {
			if _, err := d.Decode(l); err != nil {
				b.Fatal(err)
			}
		}
	}
}

var benchJSONL = flag.String("jsonl", "", "BenchmarkReadPathJSONL: a JSON-lines inventory to read (e.g. one `patchbay dev gen-fleet` wrote)")

// BenchmarkReadPathJSONL is the decode of `patchbay plan --inventory FILE`
// for a JSON-lines FILE given by -jsonl (skipped without it): ReadPath with
// one worker per GOMAXPROCS and a fresh SetCache per round.
func BenchmarkReadPathJSONL(b *testing.B) {
	if *benchJSONL == "" {
		b.Skip("no -jsonl file given")
	}
	st, err := os.Stat(*benchJSONL)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	for b.Loop() {
		dec := &Decoder{Cache: NewSetCache(), Workers: runtime.GOMAXPROCS(0)}
		n := 0
		if err := ReadPath(context.Background(), *benchJSONL, dec, func(*Report) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n), "reports/op")
	}
}
