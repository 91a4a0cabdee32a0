package server

import (
	"bytes"
	"fmt"

	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// The stored form of a package set is its canonical form (see
// engine/inventory's package documentation): the line
// "patchbay-packages-v1 <ecosystem>", then one line per package,
// name TAB version TAB arch TAB sourceName TAB sourceVersion, in set order.
// Its SHA-256 is the set's hash, so a set read back is checked against the
// hash it is stored under.

const setHeader = "patchbay-packages-v1 "

// encodeSet returns the canonical bytes of s.
func encodeSet(s *inventory.PackageSet) []byte {
	n := len(setHeader) + 8
	pkgs := s.Packages()
	for _, p := range pkgs {
		n += len(p.Name) + len(p.Version) + len(p.Arch) + len(p.SourceName) + len(p.SourceVersion) + 5
	}
	b := make([]byte, 0, n)
	b = append(b, setHeader...)
	b = append(b, s.Ecosystem()...)
	b = append(b, '\n')
	for _, p := range pkgs {
		b = append(b, p.Name...)
		b = append(b, '\t')
		b = append(b, p.Version...)
		b = append(b, '\t')
		b = append(b, p.Arch...)
		b = append(b, '\t')
		b = append(b, p.SourceName...)
		b = append(b, '\t')
		b = append(b, p.SourceVersion...)
		b = append(b, '\n')
	}
	return b
}

// decodeSet parses canonical bytes and checks them against hash.
func decodeSet(hash string, data []byte) (*inventory.PackageSet, error) {
	head, rest, ok := bytes.Cut(data, []byte{'\n'})
	if !ok || !bytes.HasPrefix(head, []byte(setHeader)) {
		return nil, fmt.Errorf("package set %s: bad header", hash)
	}
	eco := vercmp.Ecosystem(head[len(setHeader):])
	pkgs := make([]inventory.Package, 0, bytes.Count(rest, []byte{'\n'}))
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		f := bytes.Split(line, []byte{'\t'})
		if len(f) != 5 {
			return nil, fmt.Errorf("package set %s: line %d: want 5 fields", hash, len(pkgs)+2)
		}
		pkgs = append(pkgs, inventory.Package{Name: string(f[0]), Version: string(f[1]), Arch: string(f[2]),
			SourceName: string(f[3]), SourceVersion: string(f[4])})
	}
	s, err := inventory.NewPackageSet(eco, pkgs)
	if err != nil {
		return nil, fmt.Errorf("package set %s: %w", hash, err)
	}
	if s.Hash() != hash {
		return nil, fmt.Errorf("package set %s: content hashes to %s", hash, s.Hash())
	}
	return s, nil
}
