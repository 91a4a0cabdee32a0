package inventory

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/patchbay/patchbay/engine/internal/fixture"
)

// FuzzDecode checks that Decode never panics, and that whatever it accepts
// encodes to a report it decodes again to the same package-set hash, and
// that encoding/json agrees the input was valid JSON.
func FuzzDecode(f *testing.F) {
	f.Add(marshal(f, realReport(f, 50)))
	f.Add([]byte(`{"hostId":"h","stream":"debian-12","ecosystem":"deb","rebootRequired":false,"collectedAt":"2026-11-26T09:00:00Z","labels":{"a":"b\u0041"},"packages":[{"name":"a","version":"1","arch":"all"}]}`))
	f.Add([]byte(`{"hostId":"h\ud83d\ude00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("accepted report does not encode: %v", err)
		}
		r2, err := Decode(out)
		if err != nil || r2.Packages.Hash() != r.Packages.Hash() {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseDpkgStatus checks the dpkg parser never panics and that every
// package it returns is valid.
func FuzzParseDpkgStatus(f *testing.F) {
	data, err := os.ReadFile(fixture.Shared(f, "inventories/dpkg/syft.status.d-deinstall"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseDpkgStatus(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := range pkgs {
			if err := checkParsed("deb", &pkgs[i]); err != nil {
				t.Fatalf("returned an invalid package: %v", err)
			}
		}
	})
}
