package inventory

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// The bulk inventory format holds many reports in a compact binary file
// that `patchbay inventory convert --out` writes and every reader of
// inventories (ReadPath) recognises by its magic. Version 1, all integers
// unsigned varints (encoding/binary) unless noted:
//
//	header    the 14 bytes "patchbay-bulk\x00", then the version (1)
//	strings   count, then per string: length, bytes (at most 4,096)
//	packages  count, then per package five string indexes: name, version,
//	          arch, sourceName, sourceVersion (the source fields resolved);
//	          strictly sorted by name, arch, version, sourceName,
//	          sourceVersion (bytes)
//	sets      count, then per set: ecosystem string index, package count
//	          (1 to 100,000), then the package indexes in increasing order,
//	          the first as is and each next one as its difference (≥ 1) to
//	          the previous
//	hosts     count, then per host: hostId, hostname+1, stream, ecosystem
//	          (string indexes; +1 marks an optional field, 0 is absent),
//	          label count (at most 64) and per label key and value, arch+1,
//	          kernel+1, rebootRequired (0 or 1), collectedAt (the string
//	          index of its RFC 3339 text), agentVersion+1, set index
//	trailer   the 4 bytes "end\x00", then the CRC-32C (Castagnoli) of every
//	          byte before the trailer, 4 bytes little-endian; nothing after
//
// Nothing in the file is trusted: every count and length is checked against
// the bytes left and the limits before anything is allocated, the package
// table's order is checked (which proves every set sorted and free of
// duplicate name/arch/version), each package is validated once per
// ecosystem that uses it (as the JSON decoder validates a package), every
// host is validated as a JSON report is, and the package-set hash is
// computed from the packages, never read. A problem is a *BulkError naming
// the byte offset.

// bulkMagic starts every bulk inventory file.
const bulkMagic = "patchbay-bulk\x00"

const (
	bulkVersion   = 1
	bulkTrailer   = "end\x00"
	maxBulkString = 4096
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// IsBulk reports whether data (the start of a file, at least 14 bytes for a
// yes) is a bulk inventory.
func IsBulk(data []byte) bool { return bytes.HasPrefix(data, []byte(bulkMagic)) }

// BulkError is a problem in a bulk inventory file at a byte offset. It wraps
// ErrSyntax (the file is truncated, damaged or not of this format version)
// or a *FieldError (a report in it breaks a rule).
type BulkError struct {
	// File is the file name, when known.
	File string
	// Offset is the byte offset where the problem was found.
	Offset int64
	// Err is the cause.
	Err error
}

func (e *BulkError) Error() string {
	s := ""
	if e.File != "" {
		s = e.File + ": "
	}
	return s + "bulk inventory: byte " + itoa(int(e.Offset)) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *BulkError) Unwrap() error { return e.Err }

// WriteBulk writes reports in the bulk format, in the order given. Equal
// package sets and strings are written once. Reports are validated first;
// an invalid one is an error naming its host.
func WriteBulk(w io.Writer, reports []*Report) error {
	for i, r := range reports {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("report %d (%s): %w", i+1, r.HostID, err)
		}
	}
	// Distinct sets, by pointer and then by hash.
	setIndex := map[*PackageSet]int{}
	byHash := map[string]int{}
	var sets []*PackageSet
	hostSet := make([]int, len(reports))
	for i, r := range reports {
		k, ok := setIndex[r.Packages]
		if !ok {
			if k, ok = byHash[r.Packages.hash]; !ok {
				k = len(sets)
				sets = append(sets, r.Packages)
				byHash[r.Packages.hash] = k
			}
			setIndex[r.Packages] = k
		}
		hostSet[i] = k
	}
	// Distinct packages: once per (table, id), then by value.
	pkgIndex := map[Package]int32{}
	seen := map[*Table][]int32{}
	var pkgs []Package
	setPkgs := make([][]int32, len(sets)) // first as indexes into pkgs
	for k, s := range sets {
		ids := make([]int32, len(s.ids))
		m := seen[s.tab]
		if old := len(m); old < len(s.view) {
			m = append(m, make([]int32, len(s.view)-old)...)
			for j := old; j < len(m); j++ {
				m[j] = -1
			}
			seen[s.tab] = m
		}
		for i, id := range s.ids {
			x := m[id]
			if x < 0 {
				p := s.view[id]
				var ok bool
				if x, ok = pkgIndex[p]; !ok {
					x = int32(len(pkgs))
					pkgs = append(pkgs, p)
					pkgIndex[p] = x
				}
				m[id] = x
			}
			ids[i] = x
		}
		setPkgs[k] = ids
	}
	// File order of the packages.
	order := make([]int32, len(pkgs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return compareFull(&pkgs[a], &pkgs[b]) })
	fileID := make([]uint32, len(pkgs))
	for i, x := range order {
		fileID[x] = uint32(i)
	}

	var st bulkStrings
	st.index = map[string]uint32{}
	for _, x := range order {
		p := &pkgs[x]
		st.add(p.Name)
		st.add(p.Version)
		st.add(p.Arch)
		st.add(p.SourceName)
		st.add(p.SourceVersion)
	}
	for _, s := range sets {
		st.add(string(s.eco))
	}
	stamps := make([]string, len(reports))
	for i, r := range reports {
		st.add(r.HostID)
		st.add(r.Hostname)
		st.add(r.Stream)
		st.add(string(r.Ecosystem))
		for _, k := range sortedKeys(r.Labels) {
			st.add(k)
			st.add(r.Labels[k])
		}
		st.add(r.Arch)
		st.add(r.Kernel)
		stamps[i] = r.CollectedAt.Format(time.RFC3339Nano)
		st.add(stamps[i])
		st.add(r.AgentVersion)
	}

	cw := &crcWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	var b []byte
	flush := func() {
		if len(b) > 32<<10 {
			bw.Write(b)
			b = b[:0]
		}
	}
	b = append(b, bulkMagic...)
	b = binary.AppendUvarint(b, bulkVersion)
	b = binary.AppendUvarint(b, uint64(len(st.list)))
	for _, s := range st.list {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
		flush()
	}
	b = binary.AppendUvarint(b, uint64(len(pkgs)))
	for _, x := range order {
		p := &pkgs[x]
		for _, f := range [5]string{p.Name, p.Version, p.Arch, p.SourceName, p.SourceVersion} {
			b = binary.AppendUvarint(b, uint64(st.index[f]))
		}
		flush()
	}
	b = binary.AppendUvarint(b, uint64(len(sets)))
	ids := []uint32{}
	for k, s := range sets {
		b = binary.AppendUvarint(b, uint64(st.index[string(s.eco)]))
		b = binary.AppendUvarint(b, uint64(len(setPkgs[k])))
		ids = ids[:0]
		for _, x := range setPkgs[k] {
			ids = append(ids, fileID[x])
		}
		slices.Sort(ids) // already sorted: the set has no duplicate name/arch/version
		prev := uint32(0)
		for i, id := range ids {
			if i == 0 {
				b = binary.AppendUvarint(b, uint64(id))
			} else {
				b = binary.AppendUvarint(b, uint64(id-prev))
			}
			prev = id
			flush()
		}
	}
	opt := func(s string) uint64 {
		if s == "" {
			return 0
		}
		return uint64(st.index[s]) + 1
	}
	b = binary.AppendUvarint(b, uint64(len(reports)))
	for i, r := range reports {
		b = binary.AppendUvarint(b, uint64(st.index[r.HostID]))
		b = binary.AppendUvarint(b, opt(r.Hostname))
		b = binary.AppendUvarint(b, uint64(st.index[r.Stream]))
		b = binary.AppendUvarint(b, uint64(st.index[string(r.Ecosystem)]))
		b = binary.AppendUvarint(b, uint64(len(r.Labels)))
		for _, k := range sortedKeys(r.Labels) {
			b = binary.AppendUvarint(b, uint64(st.index[k]))
			b = binary.AppendUvarint(b, uint64(st.index[r.Labels[k]]))
		}
		b = binary.AppendUvarint(b, opt(r.Arch))
		b = binary.AppendUvarint(b, opt(r.Kernel))
		if r.RebootRequired {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(st.index[stamps[i]]))
		b = binary.AppendUvarint(b, opt(r.AgentVersion))
		b = binary.AppendUvarint(b, uint64(hostSet[i]))
		flush()
	}
	bw.Write(b)
	if err := bw.Flush(); err != nil {
		return err
	}
	if cw.err != nil {
		return cw.err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32([]byte(bulkTrailer), cw.crc))
	return err
}

// compareFull orders packages by name, arch, version, sourceName and
// sourceVersion as bytes: the order of a bulk file's package table.
func compareFull(a, b *Package) int {
	if c := comparePackages(*a, *b); c != 0 {
		return c
	}
	if c := cmp.Compare(a.SourceName, b.SourceName); c != 0 {
		return c
	}
	return cmp.Compare(a.SourceVersion, b.SourceVersion)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

type bulkStrings struct {
	list  []string
	index map[string]uint32
}

func (s *bulkStrings) add(v string) {
	if v == "" {
		return // optional fields only; required ones are validated non-empty
	}
	if _, ok := s.index[v]; !ok {
		s.index[v] = uint32(len(s.list))
		s.list = append(s.list, v)
	}
}

type crcWriter struct {
	w   io.Writer
	crc uint32
	err error
}

func (c *crcWriter) Write(p []byte) (int, error) {
	c.crc = crc32.Update(c.crc, crcTable, p)
	n, err := c.w.Write(p)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// bulkIn reads a bulk file through its own buffer, knowing its size, and
// keeps the CRC of the bytes consumed.
type bulkIn struct {
	r    io.Reader
	name string
	size int64
	buf  []byte
	pos  int
	end  int
	base int64 // file offset of buf[0]
	crc  uint32
}

func (b *bulkIn) off() int64  { return b.base + int64(b.pos) }
func (b *bulkIn) left() int64 { return b.size - b.off() }

func (b *bulkIn) errf(off int64, format string, args ...any) error {
	return &BulkError{File: b.name, Offset: off, Err: fmt.Errorf("%w: "+format, append([]any{ErrSyntax}, args...)...)}
}

// fill makes n bytes available at b.pos, or fails naming the offset.
func (b *bulkIn) fill(n int, what string) error {
	if b.end-b.pos >= n {
		return nil
	}
	if int64(n) > b.left() {
		return b.errf(b.off(), "truncated: want %d bytes of %s, the file has %d left (the file is cut short or damaged; convert it again)", n, what, max(b.left(), 0))
	}
	b.crc = crc32.Update(b.crc, crcTable, b.buf[:b.pos])
	copy(b.buf, b.buf[b.pos:b.end])
	b.base += int64(b.pos)
	b.end -= b.pos
	b.pos = 0
	if n > len(b.buf) {
		nb := make([]byte, max(n, 2*len(b.buf)))
		copy(nb, b.buf[:b.end])
		b.buf = nb
	}
	for b.end < n {
		k, err := b.r.Read(b.buf[b.end:])
		b.end += k
		if err != nil {
			if b.end >= n {
				break
			}
			if errors.Is(err, io.EOF) {
				return b.errf(b.base+int64(b.end), "truncated: want %d bytes of %s, found end of file (the file is cut short; convert it again)", n, what)
			}
			return &BulkError{File: b.name, Offset: b.base + int64(b.end), Err: fmt.Errorf("read: %w", err)}
		}
	}
	return nil
}

// uvarint reads an unsigned varint no larger than limit.
func (b *bulkIn) uvarint(what string, limit uint64) (uint64, error) {
	off := b.off()
	if b.end-b.pos < binary.MaxVarintLen64 {
		if err := b.fill(min(binary.MaxVarintLen64, int(max(b.left(), 0))), what); err != nil {
			return 0, err
		}
	}
	v, n := binary.Uvarint(b.buf[b.pos:b.end])
	if n <= 0 {
		if n == 0 {
			return 0, b.errf(off, "truncated %s", what)
		}
		return 0, b.errf(off, "%s: bad varint", what)
	}
	if v > limit {
		return 0, b.errf(off, "%s %d is out of range (at most %d)", what, v, limit)
	}
	b.pos += n
	return v, nil
}

// count reads a count of items of at least minSize bytes each, bounded by
// the bytes left and by limit.
func (b *bulkIn) count(what string, minSize int64, limit uint64) (int, error) {
	off := b.off()
	v, err := b.uvarint(what, limit)
	if err != nil {
		return 0, err
	}
	if int64(v) > b.left()/minSize {
		return 0, b.errf(off, "%s %d does not fit in the %d bytes left (the file is cut short or damaged)", what, v, b.left())
	}
	return int(v), nil
}

// ReadBulk reads a bulk inventory of size bytes from r and calls fn with
// each report in file order, stopping at the first error. name labels
// errors. dec carries the package limit, the cache (new sets are interned
// into it, as Decode does) and Workers (the set hashes are computed by that
// many goroutines); nil means a fresh Decoder.
func ReadBulk(ctx context.Context, r io.Reader, size int64, name string, dec *Decoder, fn func(*Report) error) error {
	if dec == nil {
		dec = &Decoder{}
	}
	cache := dec.Cache
	if cache == nil {
		cache = NewSetCache()
	}
	b := &bulkIn{r: r, name: name, size: size, buf: make([]byte, max(min(size, 256<<10), 64))}
	if err := b.fill(len(bulkMagic), "the header"); err != nil || !IsBulk(b.buf[b.pos:b.end]) {
		return b.errf(0, "not a bulk inventory (want the header %q)", bulkMagic)
	}
	b.pos += len(bulkMagic)
	off := b.off()
	if v, err := b.uvarint("format version", 1<<32); err != nil {
		return err
	} else if v != bulkVersion {
		return b.errf(off, "format version %d, this patchbay reads version %d (convert the inventory again with this patchbay)", v, bulkVersion)
	}

	// Strings: one arena, one string, sliced.
	n, err := b.count("string count", 1, 1<<31)
	if err != nil {
		return err
	}
	bounds := make([]uint32, 0, min(n+1, 1<<16))
	arena := make([]byte, 0, min(int64(n)*16, b.left()))
	bounds = append(bounds, 0)
	for range n {
		l, err := b.uvarint("string length", maxBulkString)
		if err != nil {
			return err
		}
		if err := b.fill(int(l), "a string"); err != nil {
			return err
		}
		arena = append(arena, b.buf[b.pos:b.pos+int(l)]...)
		b.pos += int(l)
		if len(arena) > 1<<32-1 {
			return b.errf(b.off(), "string table larger than 4 GiB")
		}
		bounds = append(bounds, uint32(len(arena)))
	}
	all := string(arena)
	arena = nil
	str := func(i uint64) string { return all[bounds[i]:bounds[i+1]] }
	nstr := uint64(n)
	strIdx := func(what string) (string, error) {
		if nstr == 0 {
			return "", b.errf(b.off(), "%s: the string table is empty", what)
		}
		i, err := b.uvarint(what, nstr-1)
		if err != nil {
			return "", err
		}
		return str(i), nil
	}
	optStr := func(what string) (string, error) {
		i, err := b.uvarint(what, nstr)
		if err != nil || i == 0 {
			return "", err
		}
		return str(i - 1), nil
	}

	// Packages: sorted, with the canonical line of each and its
	// name/arch/version group.
	k, err := b.count("package count", 5, 1<<31)
	if err != nil {
		return err
	}
	// Slices grow with what is read: a forged count allocates nothing.
	pkgs := make([]Package, 0, min(k, 1<<16))
	group := make([]uint32, 0, min(k, 1<<16))
	for i := range k {
		off := b.off()
		var p Package
		for j, dst := range [5]*string{&p.Name, &p.Version, &p.Arch, &p.SourceName, &p.SourceVersion} {
			if *dst, err = strIdx("package " + pkgFieldNames[j]); err != nil {
				return err
			}
		}
		g := uint32(0)
		if i > 0 {
			if compareFull(&pkgs[i-1], &p) >= 0 {
				return b.errf(off, "package %d (%s) is not after package %d (%s): the package table must be sorted without repeats", i, p, i-1, pkgs[i-1])
			}
			g = group[i-1]
			if comparePackages(pkgs[i-1], p) != 0 {
				g++
			}
		}
		pkgs = append(pkgs, p)
		group = append(group, g)
	}
	// The canonical hash line of each package, made when first used.
	lineOff := make([]uint32, k)
	lineLen := make([]uint16, k)
	var lines []byte

	// Sets: read in order, hashed by workers.
	ns, err := b.count("set count", 3, 1<<31)
	if err != nil {
		return err
	}
	sets := make([]*PackageSet, 0, min(ns, 1<<16))
	type mapping struct {
		tab  *Table
		ids  []uint32 // table id + 1 per file package; 0 = not yet
		view []Package
		ok   []bool // validated for this ecosystem
	}
	maps := map[vercmp.Ecosystem]*mapping{}
	type job struct {
		set   *PackageSet
		file  []uint32
		lines []byte
	}
	workers := max(dec.Workers, 1)
	jobs := make(chan job, workers*2)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sum [80]byte
			for j := range jobs {
				h := newSetHasher(j.set.eco)
				for _, id := range j.file {
					if len(h.buf) > 3072 {
						h.h.Write(h.buf)
						h.buf = h.buf[:0]
					}
					o := lineOff[id]
					h.buf = append(h.buf, j.lines[o:o+uint32(lineLen[id])]...)
				}
				j.set.hash = string(h.sumBytes(sum[:0]))
			}
		}()
	}
	hashErr := func(err error) error {
		close(jobs)
		wg.Wait()
		return err
	}
	maxPkgs := uint64(min(dec.maxPackages(), DefaultMaxPackages))
	var fresh []Package
	var freshAt []int
	for si := range ns {
		off := b.off()
		ecoS, err := strIdx("set ecosystem")
		if err != nil {
			return hashErr(err)
		}
		eco := vercmp.Ecosystem(ecoS)
		if err := validEcosystem(eco); err != nil {
			return hashErr(&BulkError{File: name, Offset: off, Err: &FieldError{Path: fmt.Sprintf("set %d: ecosystem", si), Msg: err.Error()}})
		}
		offN := b.off()
		m, err := b.uvarint("set package count", maxPkgs)
		if err != nil {
			return hashErr(err)
		}
		if m == 0 || int64(m) > b.left() {
			return hashErr(b.errf(offN, "set %d: package count %d: want 1 to %d, within the %d bytes left", si, m, maxPkgs, b.left()))
		}
		mp := maps[eco]
		if mp == nil {
			mp = &mapping{ids: make([]uint32, k), ok: make([]bool, k)}
			cache.mu.Lock()
			mp.tab = cache.tables[eco]
			if mp.tab == nil {
				mp.tab = newTable()
				cache.tables[eco] = mp.tab
			}
			cache.mu.Unlock()
			maps[eco] = mp
		}
		file := make([]uint32, m)
		ids := make([]uint32, m)
		fresh, freshAt = fresh[:0], freshAt[:0]
		var prev uint64
		for i := range file {
			offI := b.off()
			d, err := b.uvarint("package index", uint64(k))
			if err != nil {
				return hashErr(err)
			}
			id := d
			if i > 0 {
				id = prev + d
				if d == 0 {
					return hashErr(b.errf(offI, "set %d: package %d repeats package index %d (indexes must increase)", si, i, prev))
				}
			}
			if id >= uint64(k) {
				return hashErr(b.errf(offI, "set %d: package index %d, the table has %d", si, id, k))
			}
			if i > 0 && group[id] == group[prev] {
				return hashErr(&BulkError{File: name, Offset: offI, Err: &FieldError{Path: fmt.Sprintf("set %d: packages[%d]", si, i),
					Msg: fmt.Sprintf("duplicate of packages[%d] (%s)", i-1, pkgs[id])}})
			}
			prev = id
			file[i] = uint32(id)
			if !mp.ok[id] {
				var errs fieldErrors
				validatePackage(&errs, eco, i, &pkgs[id])
				if err := errs.err(); err != nil {
					return hashErr(&BulkError{File: name, Offset: offI, Err: fmt.Errorf("set %d: %w", si, err)})
				}
				mp.ok[id] = true
				if lineLen[id] == 0 {
					p := &pkgs[id]
					start := len(lines)
					lines = appendPackageLine(lines, p.Name, p.Version, p.Arch, p.SourceName, p.SourceVersion)
					if len(lines) > 1<<32-1 {
						return hashErr(b.errf(offI, "packages larger than 4 GiB"))
					}
					lineOff[id], lineLen[id] = uint32(start), uint16(len(lines)-start)
				}
			}
			if mp.ids[id] == 0 {
				fresh = append(fresh, pkgs[id])
				freshAt = append(freshAt, i)
			}
		}
		if len(fresh) > 0 {
			tids := make([]uint32, len(fresh))
			mp.view, _ = mp.tab.intern(fresh, tids)
			for j, i := range freshAt {
				mp.ids[file[i]] = tids[j] + 1
			}
		}
		for i, id := range file {
			ids[i] = mp.ids[id] - 1
		}
		s := &PackageSet{eco: eco, tab: mp.tab, view: mp.view, ids: ids}
		sets = append(sets, s)
		// lines only grows by appends before this job is sent and the
		// worker reads only lines of packages already added; pass the
		// slice header as it is now.
		jobs <- job{set: s, file: file, lines: lines}
		if si%256 == 0 {
			if err := ctx.Err(); err != nil {
				return hashErr(err)
			}
		}
	}
	close(jobs)
	wg.Wait()
	for si, s := range sets {
		sets[si] = cache.add(s)
	}

	// Hosts.
	nh, err := b.count("host count", 11, 1<<40)
	if err != nil {
		return err
	}
	labelSets := map[string]map[string]string{}
	var lkey []byte
	for hi := range nh {
		off := b.off()
		r := &Report{}
		if r.HostID, err = strIdx("hostId"); err != nil {
			return err
		}
		if r.Hostname, err = optStr("hostname"); err != nil {
			return err
		}
		if r.Stream, err = strIdx("stream"); err != nil {
			return err
		}
		var eco string
		if eco, err = strIdx("ecosystem"); err != nil {
			return err
		}
		r.Ecosystem = vercmp.Ecosystem(eco)
		nl, err := b.uvarint("label count", MaxLabels)
		if err != nil {
			return err
		}
		lkey = lkey[:0]
		var labels map[string]string
		if nl > 0 {
			labels = make(map[string]string, nl)
			for range nl {
				k, err := strIdx("label key")
				if err != nil {
					return err
				}
				v, err := strIdx("label value")
				if err != nil {
					return err
				}
				if _, dup := labels[k]; dup {
					return &BulkError{File: name, Offset: off, Err: &FieldError{Path: fmt.Sprintf("host %d (%s): labels.%s", hi, r.HostID, k), Msg: "duplicate key"}}
				}
				labels[k] = v
				lkey = append(lkey, k...)
				lkey = append(lkey, 0)
				lkey = append(lkey, v...)
				lkey = append(lkey, 0)
			}
			if shared, ok := labelSets[string(lkey)]; ok && len(shared) == len(labels) {
				labels = shared
			} else {
				labelSets[string(lkey)] = labels
			}
		}
		r.Labels = labels
		if r.Arch, err = optStr("arch"); err != nil {
			return err
		}
		if r.Kernel, err = optStr("kernel"); err != nil {
			return err
		}
		if err := b.fill(1, "rebootRequired"); err != nil {
			return err
		}
		if c := b.buf[b.pos]; c > 1 {
			return b.errf(b.off(), "rebootRequired: want the byte 0 or 1, found %d", c)
		}
		r.RebootRequired = b.buf[b.pos] == 1
		b.pos++
		stamp, err := strIdx("collectedAt")
		if err != nil {
			return err
		}
		if r.AgentVersion, err = optStr("agentVersion"); err != nil {
			return err
		}
		offS := b.off()
		si, err := b.uvarint("set index", uint64(max(ns-1, 0)))
		if err != nil {
			return err
		}
		if ns == 0 {
			return b.errf(offS, "host %d: set index, but the file has no sets", hi)
		}
		var errs fieldErrors
		if t, err := time.Parse(time.RFC3339Nano, stamp); err != nil {
			errs.add("collectedAt", quoteShort(stamp)+": want RFC 3339, e.g. 2026-11-26T09:00:00Z")
		} else {
			r.CollectedAt = t
		}
		r.validateHeader(&errs)
		r.Packages = sets[si]
		if errs.err() == nil && r.Packages.eco != r.Ecosystem {
			errs.add("packages", fmt.Sprintf("set %d of ecosystem %q in a %q report", si, r.Packages.eco, r.Ecosystem))
		}
		if err := errs.err(); err != nil {
			return &BulkError{File: name, Offset: off, Err: fmt.Errorf("host %d (%s): %w", hi, quoteShort(r.HostID), err)}
		}
		if hi%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(r); err != nil {
			return err
		}
	}

	// Trailer.
	off = b.off()
	if err := b.fill(len(bulkTrailer)+4, "the trailer"); err != nil {
		return err
	}
	if string(b.buf[b.pos:b.pos+len(bulkTrailer)]) != bulkTrailer {
		return b.errf(off, "want the trailer %q after the last host (the file is damaged)", bulkTrailer)
	}
	crc := crc32.Update(b.crc, crcTable, b.buf[:b.pos])
	b.pos += len(bulkTrailer)
	if got := binary.LittleEndian.Uint32(b.buf[b.pos:]); got != crc {
		return b.errf(b.off(), "checksum %08x, the content gives %08x (the file is damaged; convert it again)", got, crc)
	}
	b.pos += 4
	if b.left() != 0 {
		return b.errf(b.off(), "%d bytes after the trailer", b.left())
	}
	return nil
}

// add caches a set built and hashed elsewhere, or returns the cached one
// with its hash.
func (c *SetCache) add(s *PackageSet) *PackageSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.sets[s.hash]; ok {
		return old
	}
	c.sets[s.hash] = s
	return s
}

// isBulkFile reports whether the file at the reader's start is a bulk
// inventory, reading its first bytes with ReadAt.
func isBulkFile(r io.ReaderAt) bool {
	var hdr [len(bulkMagic)]byte
	n, _ := r.ReadAt(hdr[:], 0)
	return IsBulk(hdr[:n])
}

// BulkExt is the file name extension `inventory convert` suggests; files
// are recognised by their header, not by this name.
const BulkExt = ".pbinv"
