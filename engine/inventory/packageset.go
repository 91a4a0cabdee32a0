package inventory

import (
	"bytes"
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
//
// It is compact: the packages are a sorted array of small integer ids into a
// [Table] of distinct packages whose strings are interned. A set made by
// NewPackageSet has a table of its own; SetCache.Intern moves a set into
// the cache's table for its ecosystem, so that 10,000 sets of 2,000
// packages cost 4 bytes per package and one copy of each distinct package.
type PackageSet struct {
	eco  vercmp.Ecosystem
	hash string
	tab  *Table
	// view is the table's packages as they were when the set was made; it
	// holds every id in ids, and the table only appends.
	view []Package
	ids  []uint32
}

// Table holds the distinct packages of one ecosystem that package sets refer
// to by id, with the strings of their fields interned. Ids are dense, start
// at 0 and are never reused. A Table only grows and is safe for concurrent
// use.
type Table struct {
	mu    sync.RWMutex
	pkgs  []Package
	index map[Package]uint32
	// lines finds a package by its canonical hash line, straight from the
	// decoder's bytes (see internRaw).
	lines map[string]uint32
	strs  map[string]string
}

func newTable() *Table {
	return &Table{index: make(map[Package]uint32), lines: make(map[string]uint32), strs: make(map[string]string)}
}

// internRaw resolves decoded packages, taken in perm order (sorted by
// name, arch, version), to ids; lines[offs[k]:offs[k+1]] is the canonical
// line of the k-th, newline included. A package the table holds was
// validated when it was added, so only new ones are validated (and only
// they allocate strings). The lookups share a read lock with other
// decoders; only adding new packages takes the write lock. It returns
// false, having added nothing for this set, when a package is invalid or
// two are duplicates; the caller then takes the full path, which says why.
func (t *Table) internRaw(eco vercmp.Ecosystem, raw []rawPackage, perm []int32, lines []byte, offs []int, ids []uint32) ([]Package, bool) {
	for k := 1; k < len(perm); k++ {
		f, g := &raw[perm[k]].f, &raw[perm[k-1]].f
		if bytes.Equal(f[0], g[0]) && bytes.Equal(f[2], g[2]) && bytes.Equal(f[1], g[1]) {
			return nil, false
		}
	}
	line := func(k int) []byte { return lines[offs[k] : offs[k+1]-1] }
	var miss []int
	t.mu.RLock()
	for k := range perm {
		if id, ok := t.lines[string(line(k))]; ok {
			ids[k] = id
		} else {
			miss = append(miss, k)
		}
	}
	view := t.pkgs[:len(t.pkgs):len(t.pkgs)]
	t.mu.RUnlock()
	if len(miss) == 0 {
		return view, true
	}
	type added struct {
		k    int
		line string
		p    Package
	}
	fresh := make([]added, 0, len(miss))
	for _, k := range miss {
		f := &raw[perm[k]].f
		p := Package{Name: string(f[0]), Version: string(f[1]), Arch: string(f[2]), SourceName: string(f[3]), SourceVersion: string(f[4])}
		var errs fieldErrors
		validatePackage(&errs, eco, 0, &p)
		if errs.err() != nil {
			return nil, false
		}
		fresh = append(fresh, added{k: k, line: string(line(k)), p: p})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range fresh {
		if id, ok := t.lines[a.line]; ok { // added by another decoder meanwhile
			ids[a.k] = id
			continue
		}
		id, ok := t.index[a.p]
		if !ok {
			p := Package{Name: t.str(a.p.Name), Version: t.str(a.p.Version), Arch: t.str(a.p.Arch),
				SourceName: t.str(a.p.SourceName), SourceVersion: t.str(a.p.SourceVersion)}
			id = uint32(len(t.pkgs))
			t.pkgs = append(t.pkgs, p)
			t.index[p] = id
		}
		t.lines[a.line] = id
		ids[a.k] = id
	}
	return t.pkgs[:len(t.pkgs):len(t.pkgs)], true
}

// appendLine appends a package's canonical line (as hashed) without its
// newline.
func appendLine(dst []byte, f *[5][]byte) []byte {
	for k, v := range f {
		if k > 0 {
			dst = append(dst, '\t')
		}
		dst = append(dst, v...)
	}
	return dst
}

// Len returns the number of distinct packages in the table.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pkgs)
}

// intern returns the ids of pkgs (resolving new ones) and a view of the
// table that holds them all.
func (t *Table) intern(pkgs []Package, ids []uint32) ([]Package, []uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range pkgs {
		id, ok := t.index[pkgs[i]]
		if !ok {
			p := Package{Name: t.str(pkgs[i].Name), Version: t.str(pkgs[i].Version), Arch: t.str(pkgs[i].Arch),
				SourceName: t.str(pkgs[i].SourceName), SourceVersion: t.str(pkgs[i].SourceVersion)}
			id = uint32(len(t.pkgs))
			t.pkgs = append(t.pkgs, p)
			t.index[p] = id
		}
		ids[i] = id
	}
	return t.pkgs[:len(t.pkgs):len(t.pkgs)], ids
}

func (t *Table) str(s string) string {
	if v, ok := t.strs[s]; ok {
		return v
	}
	s = strings.Clone(s) // let the decoder's buffer go
	t.strs[s] = s
	return s
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
	ids := make([]uint32, len(pkgs))
	for i := range pkgs {
		p := &pkgs[i]
		hashAdd(h, p.Name, p.Version, p.Arch, p.SourceName, p.SourceVersion)
		ids[i] = uint32(i)
	}
	// The set's own table: its sorted packages, ids 0..n-1. SetCache.Intern
	// moves it into a shared one.
	pkgs = slices.Clip(pkgs)
	return &PackageSet{eco: eco, hash: h.sum(), tab: &Table{pkgs: pkgs}, view: pkgs, ids: ids}, nil
}

// Ecosystem returns the set's ecosystem.
func (s *PackageSet) Ecosystem() vercmp.Ecosystem { return s.eco }

// Hash returns the package-set hash, "sha256:" and 64 hex digits.
func (s *PackageSet) Hash() string { return s.hash }

// Len returns the number of packages.
func (s *PackageSet) Len() int { return len(s.ids) }

// At returns the i-th package in sort order.
func (s *PackageSet) At(i int) Package { return s.view[s.ids[i]] }

// Table returns the table the set's ids index. Sets interned by one
// SetCache share the table of their ecosystem.
func (s *PackageSet) Table() *Table { return s.tab }

// IDs returns the sorted packages as ids into Table; package id's fields
// are At(i) for ids[i]. The slice is shared: callers must not modify it.
func (s *PackageSet) IDs() []uint32 { return s.ids }

// Package returns the package with the given id of the set's table; the id
// must be one of IDs.
func (s *PackageSet) Package(id uint32) Package { return s.view[id] }

// Packages returns the sorted packages in a new slice the caller owns.
// Prefer Len and At, which do not allocate.
func (s *PackageSet) Packages() []Package {
	out := make([]Package, len(s.ids))
	for i, id := range s.ids {
		out[i] = s.view[id]
	}
	return out
}

// Find returns the installed packages named name (one per arch and version,
// sorted), or nil.
func (s *PackageSet) Find(name string) []Package {
	i, j := s.FindRange(name)
	if i == j {
		return nil
	}
	out := make([]Package, j-i)
	for k := i; k < j; k++ {
		out[k-i] = s.view[s.ids[k]]
	}
	return out
}

// FindRange returns the positions [i, j) of the packages named name; i == j
// when there is none.
func (s *PackageSet) FindRange(name string) (int, int) {
	i, _ := slices.BinarySearchFunc(s.ids, name, func(id uint32, n string) int { return cmp.Compare(s.view[id].Name, n) })
	j := i
	for j < len(s.ids) && s.view[s.ids[j]].Name == name {
		j++
	}
	return i, j
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

// setHashHeader starts the canonical form, followed by the ecosystem and a
// newline.
const setHashHeader = "patchbay-packages-v1 "

func newSetHasher(eco vercmp.Ecosystem) *setHasher {
	h := &setHasher{h: sha256.New(), buf: make([]byte, 0, 4096)}
	h.buf = append(h.buf, setHashHeader...)
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
// packages share one PackageSet, and moves new sets into one Table per
// ecosystem so that sets differing in a few packages share the rest. It is
// safe for concurrent use: the hash index and each ecosystem's table have
// their own locks, and interning a new set's packages holds only its
// table's. It never forgets: make one per planning run or per server
// process.
type SetCache struct {
	mu     sync.Mutex
	sets   map[string]*PackageSet
	tables map[vercmp.Ecosystem]*Table
}

// NewSetCache returns an empty cache.
func NewSetCache() *SetCache {
	return &SetCache{sets: make(map[string]*PackageSet), tables: make(map[vercmp.Ecosystem]*Table)}
}

// Intern returns the cached set with s's hash, or caches s and returns it.
// Caching moves s into the cache's table, so pass a set that no other
// goroutine reads yet (as NewPackageSet returns it).
func (c *SetCache) Intern(s *PackageSet) *PackageSet {
	c.mu.Lock()
	if old, ok := c.sets[s.hash]; ok {
		c.mu.Unlock()
		return old
	}
	t := c.tables[s.eco]
	if t == nil {
		t = newTable()
		c.tables[s.eco] = t
	}
	c.mu.Unlock()

	pkgs := s.view // a set of its own: ids are 0..n-1
	if s.tab.index != nil {
		pkgs = s.Packages()
	}
	s.view, s.ids = t.intern(pkgs, s.ids)
	s.tab = t

	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.sets[s.hash]; ok { // another goroutine won
		return old
	}
	c.sets[s.hash] = s
	return s
}

// internRaw makes and caches the set of the decoded packages whose hash
// (computed over them in perm order) is given, in one pass over them. It
// returns nil when the packages need the full path (invalid or
// duplicated).
func (c *SetCache) internRaw(eco vercmp.Ecosystem, hash []byte, raw []rawPackage, perm []int32, lines []byte, offs []int) *PackageSet {
	if err := validEcosystem(eco); err != nil {
		return nil
	}
	c.mu.Lock()
	if old, ok := c.sets[string(hash)]; ok {
		c.mu.Unlock()
		return old
	}
	t := c.tables[eco]
	if t == nil {
		t = newTable()
		c.tables[eco] = t
	}
	c.mu.Unlock()
	ids := make([]uint32, len(perm))
	view, ok := t.internRaw(eco, raw, perm, lines, offs, ids)
	if !ok {
		return nil
	}
	s := &PackageSet{eco: eco, hash: string(hash), tab: t, view: view, ids: ids}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.sets[s.hash]; ok {
		return old
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
	h.buf = appendPackageLine(h.buf, name, version, arch, srcName, srcVersion)
}

// appendPackageLine appends one package's canonical line, newline
// included: the five fields joined by tabs, as the set hash covers them.
func appendPackageLine[T string | []byte](dst []byte, name, version, arch, srcName, srcVersion T) []byte {
	dst = append(dst, name...)
	dst = append(dst, '\t')
	dst = append(dst, version...)
	dst = append(dst, '\t')
	dst = append(dst, arch...)
	dst = append(dst, '\t')
	dst = append(dst, srcName...)
	dst = append(dst, '\t')
	dst = append(dst, srcVersion...)
	return append(dst, '\n')
}

// Equal reports whether two sets have the same ecosystem and packages, in
// whichever tables they are held (go-cmp uses it).
func (s *PackageSet) Equal(o *PackageSet) bool {
	if s == nil || o == nil {
		return s == o
	}
	if s.eco != o.eco || s.hash != o.hash || len(s.ids) != len(o.ids) {
		return false
	}
	for i := range s.ids {
		if s.At(i) != o.At(i) {
			return false
		}
	}
	return true
}
