package inventory

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// PackageSet is an immutable, validated, sorted list of installed packages
// of one ecosystem, with its package-set hash. Reports with the same hash
// may share one PackageSet (see SetCache); nothing may modify it.
type PackageSet struct {
	eco  vercmp.Ecosystem
	hash string
	pkgs []Package
}

// NewPackageSet validates pkgs for the ecosystem, resolves empty source
// fields to the package's own name and version, sorts a copy by name, arch
// and version, and computes the package-set hash. Errors are *FieldError
// values naming "packages[i]" by the index in pkgs, joined when several.
func NewPackageSet(eco vercmp.Ecosystem, pkgs []Package) (*PackageSet, error) {
	if len(pkgs) > DefaultMaxPackages {
		return nil, fmt.Errorf("%w: %d packages, the limit is %d", ErrTooManyPackages, len(pkgs), DefaultMaxPackages)
	}
	own := make([]Package, len(pkgs))
	copy(own, pkgs)
	return newPackageSet(eco, own)
}

// newPackageSet is NewPackageSet on a slice the caller gives away.
func newPackageSet(eco vercmp.Ecosystem, pkgs []Package) (*PackageSet, error) {
	if err := validEcosystem(eco); err != nil {
		return nil, &FieldError{Path: "ecosystem", Msg: err.Error()}
	}
	var errs fieldErrors
	if len(pkgs) == 0 {
		errs.add("packages", "empty: a report lists at least one installed package")
	}
	for i := range pkgs {
		p := &pkgs[i]
		if p.SourceName == "" {
			p.SourceName = p.Name
		}
		if p.SourceVersion == "" {
			p.SourceVersion = p.Version
		}
		validatePackage(&errs, eco, i, p)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	if !slices.IsSortedFunc(pkgs, comparePackages) {
		// Keep the input index for the duplicate message.
		idx := make([]int, len(pkgs))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return comparePackages(pkgs[idx[a]], pkgs[idx[b]]) < 0 })
		sorted := make([]Package, len(pkgs))
		for i, j := range idx {
			sorted[i] = pkgs[j]
		}
		for i := 1; i < len(sorted); i++ {
			if comparePackages(sorted[i-1], sorted[i]) == 0 {
				return nil, &FieldError{Path: fmt.Sprintf("packages[%d]", max(idx[i-1], idx[i])),
					Msg: fmt.Sprintf("duplicate of packages[%d] (%s)", min(idx[i-1], idx[i]), sorted[i])}
			}
		}
		pkgs = sorted
	} else {
		for i := 1; i < len(pkgs); i++ {
			if comparePackages(pkgs[i-1], pkgs[i]) == 0 {
				return nil, &FieldError{Path: fmt.Sprintf("packages[%d]", i), Msg: fmt.Sprintf("duplicate of packages[%d] (%s)", i-1, pkgs[i])}
			}
		}
	}
	h := newSetHasher(eco)
	for i := range pkgs {
		p := &pkgs[i]
		hashAdd(h, p.Name, p.Version, p.Arch, p.SourceName, p.SourceVersion)
	}
	return &PackageSet{eco: eco, hash: h.sum(), pkgs: slices.Clip(pkgs)}, nil
}

// Ecosystem returns the set's ecosystem.
func (s *PackageSet) Ecosystem() vercmp.Ecosystem { return s.eco }

// Hash returns the package-set hash, "sha256:" and 64 hex digits.
func (s *PackageSet) Hash() string { return s.hash }

// Len returns the number of packages.
func (s *PackageSet) Len() int { return len(s.pkgs) }

// Packages returns the sorted packages. The slice is shared: callers must
// not modify it.
func (s *PackageSet) Packages() []Package { return s.pkgs }

// Find returns the installed packages named name (one per arch and version,
// sorted), or nil. The slice is shared: callers must not modify it.
func (s *PackageSet) Find(name string) []Package {
	i, _ := slices.BinarySearchFunc(s.pkgs, name, func(p Package, n string) int { return cmp.Compare(p.Name, n) })
	j := i
	for j < len(s.pkgs) && s.pkgs[j].Name == name {
		j++
	}
	if i == j {
		return nil
	}
	return s.pkgs[i:j:j]
}

// comparePackages orders packages by name, arch, version as bytes.
func comparePackages(a, b Package) int {
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Arch, b.Arch); c != 0 {
		return c
	}
	return cmp.Compare(a.Version, b.Version)
}

// setHasher computes the package-set hash over the canonical form described
// in the package documentation.
type setHasher struct {
	h   hash.Hash
	buf []byte
}

func newSetHasher(eco vercmp.Ecosystem) *setHasher {
	h := &setHasher{h: sha256.New(), buf: make([]byte, 0, 4096)}
	h.buf = append(h.buf, "patchbay-packages-v1 "...)
	h.buf = append(h.buf, eco...)
	h.buf = append(h.buf, '\n')
	return h
}

func (h *setHasher) sumBytes(dst []byte) []byte {
	h.h.Write(h.buf)
	var sum [sha256.Size]byte
	dst = append(dst, "sha256:"...)
	return hex.AppendEncode(dst, h.h.Sum(sum[:0]))
}

func (h *setHasher) sum() string { return string(h.sumBytes(nil)) }

// SetCache interns package sets by hash so that reports with the same
// packages share one PackageSet, and interns the strings of new sets so that
// sets differing in a few packages share the rest of their strings. It is
// safe for concurrent use. It never forgets: make one per planning run or
// per server process.
type SetCache struct {
	mu   sync.Mutex
	sets map[string]*PackageSet
	strs map[string]string
}

// NewSetCache returns an empty cache.
func NewSetCache() *SetCache {
	return &SetCache{sets: make(map[string]*PackageSet), strs: make(map[string]string)}
}

// Intern returns the cached set with s's hash, or caches s and returns it.
// Caching replaces s's strings with equal ones already held by the cache, so
// pass a set that no other goroutine reads yet (as NewPackageSet returns it).
func (c *SetCache) Intern(s *PackageSet) *PackageSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.sets[s.hash]; ok {
		return old
	}
	for i := range s.pkgs {
		p := &s.pkgs[i]
		p.Name = c.str(p.Name)
		p.Version = c.str(p.Version)
		p.Arch = c.str(p.Arch)
		p.SourceName = c.str(p.SourceName)
		p.SourceVersion = c.str(p.SourceVersion)
	}
	c.sets[s.hash] = s
	return s
}

// lookup returns the cached set with the hash given as bytes.
func (c *SetCache) lookup(hash []byte) *PackageSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sets[string(hash)]
}

func (c *SetCache) str(s string) string {
	if v, ok := c.strs[s]; ok {
		return v
	}
	s = strings.Clone(s) // let the decoder's buffer go
	c.strs[s] = s
	return s
}

// Len returns the number of distinct package sets cached.
func (c *SetCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sets)
}

// hashAdd adds one package's canonical line from strings or bytes.
func hashAdd[T string | []byte](h *setHasher, name, version, arch, srcName, srcVersion T) {
	if len(h.buf) > 3072 {
		h.h.Write(h.buf)
		h.buf = h.buf[:0]
	}
	h.buf = append(h.buf, name...)
	h.buf = append(h.buf, '\t')
	h.buf = append(h.buf, version...)
	h.buf = append(h.buf, '\t')
	h.buf = append(h.buf, arch...)
	h.buf = append(h.buf, '\t')
	h.buf = append(h.buf, srcName...)
	h.buf = append(h.buf, '\t')
	h.buf = append(h.buf, srcVersion...)
	h.buf = append(h.buf, '\n')
}
