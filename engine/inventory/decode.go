package inventory

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// Decoder decodes and validates reports in the wire format with limits.
// It is a hand-written JSON decoder over the bytes (about 3x faster than
// encoding/json into a plain struct, see BenchmarkDecode) that refuses
// unknown fields, duplicate keys and null values, and names the field path
// or the line and column of every problem. The zero value uses the default
// limits and no cache. A Decoder keeps scratch buffers between calls and is
// not safe for concurrent use; a SetCache may be shared by many Decoders.
type Decoder struct {
	// Cache, when set, makes reports whose package set was seen before
	// share the cached *PackageSet, skipping its allocation and validation.
	Cache *SetCache
	// MaxBytes is the largest report accepted; 0 means DefaultMaxBytes.
	MaxBytes int
	// MaxPackages is the longest package list accepted; 0 means
	// DefaultMaxPackages.
	MaxPackages int
	// Workers, when above 1, makes ReadPath decode JSON-lines files with
	// that many goroutines (each with its own Decoder sharing Cache); the
	// reports still reach the callback in line order.
	Workers int

	raw   []rawPackage
	arena []byte
	perm  []int32
	lines []byte
	offs  []int
	// nonToken is set when a field of d.raw is not a token (see
	// rawTokens).
	nonToken bool
}

// Decode decodes and validates one report with the default limits.
func Decode(data []byte) (*Report, error) {
	var d Decoder
	return d.Decode(data)
}

// DecodeReader reads one report from r, refusing more than MaxBytes before
// parsing, and decodes it.
func (d *Decoder) DecodeReader(r io.Reader) (*Report, error) {
	limit := d.maxBytes()
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	return d.Decode(data)
}

func (d *Decoder) maxBytes() int {
	if d.MaxBytes > 0 {
		return d.MaxBytes
	}
	return DefaultMaxBytes
}

func (d *Decoder) maxPackages() int {
	if d.MaxPackages > 0 {
		return d.MaxPackages
	}
	return DefaultMaxPackages
}

// rawPackage holds a package's fields as bytes of the input (or of the
// unescape arena); nil means absent.
type rawPackage struct {
	f [5][]byte // name, version, arch, sourceName, sourceVersion
}

var pkgFieldNames = [5]string{"name", "version", "arch", "sourceName", "sourceVersion"}

// Report fields, as bits for duplicate and presence checks.
const (
	fHostID = 1 << iota
	fHostname
	fStream
	fEcosystem
	fLabels
	fArch
	fKernel
	fReboot
	fCollectedAt
	fAgentVersion
	fHash
	fPackages
)

// Decode decodes and validates one report. The result is trusted
// downstream; its PackageSet may be shared through the Cache.
func (d *Decoder) Decode(data []byte) (*Report, error) {
	if limit := d.maxBytes(); len(data) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	d.raw = d.raw[:0]
	d.arena = d.arena[:0]
	d.nonToken = false
	p := jsonParser{data: data, arena: &d.arena}
	r := &Report{}
	var (
		seen                                        int
		hostID, hostname, stream, eco, arch, kernel []byte
		collectedAt, agentVersion, hash             []byte
	)
	p.ws()
	if err := p.expect('{'); err != nil {
		return nil, err
	}
	first := true
	for {
		p.ws()
		if p.peek() == '}' && first {
			p.pos++
			break
		}
		first = false
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		p.ws()
		var bit int
		var dst *[]byte
		switch string(key) {
		case "hostId":
			bit, dst = fHostID, &hostID
		case "hostname":
			bit, dst = fHostname, &hostname
		case "stream":
			bit, dst = fStream, &stream
		case "ecosystem":
			bit, dst = fEcosystem, &eco
		case "arch":
			bit, dst = fArch, &arch
		case "kernel":
			bit, dst = fKernel, &kernel
		case "collectedAt":
			bit, dst = fCollectedAt, &collectedAt
		case "agentVersion":
			bit, dst = fAgentVersion, &agentVersion
		case "packageSetHash":
			bit, dst = fHash, &hash
		case "labels":
			bit = fLabels
		case "rebootRequired":
			bit = fReboot
		case "packages":
			bit = fPackages
		default:
			return nil, &FieldError{Path: string(key), Msg: "unknown field"}
		}
		if seen&bit != 0 {
			return nil, &FieldError{Path: string(key), Msg: "duplicate key"}
		}
		seen |= bit
		switch {
		case dst != nil:
			if *dst, err = p.strField(string(key)); err != nil {
				return nil, err
			}
		case bit == fReboot:
			if r.RebootRequired, err = p.boolField("rebootRequired"); err != nil {
				return nil, err
			}
		case bit == fLabels:
			if r.Labels, err = p.labels(); err != nil {
				return nil, err
			}
		case bit == fPackages:
			if err := d.packages(&p); err != nil {
				return nil, err
			}
		}
		p.ws()
		if p.peek() == ',' {
			p.pos++
			continue
		}
		if err := p.expect('}'); err != nil {
			return nil, err
		}
		break
	}
	p.ws()
	if p.pos != len(p.data) {
		return nil, p.syntax("data after the report object")
	}

	var errs fieldErrors
	for _, req := range []struct {
		bit  int
		name string
	}{{fHostID, "hostId"}, {fStream, "stream"}, {fEcosystem, "ecosystem"}, {fReboot, "rebootRequired"}, {fCollectedAt, "collectedAt"}, {fPackages, "packages"}} {
		if seen&req.bit == 0 {
			errs.add(req.name, "missing")
		}
	}
	r.HostID, r.Hostname, r.Stream = string(hostID), string(hostname), string(stream)
	r.Ecosystem = vercmp.Ecosystem(eco)
	r.Arch, r.Kernel, r.AgentVersion = string(arch), string(kernel), string(agentVersion)
	for _, f := range []struct {
		bit  int
		name string
		v    []byte
	}{{fHostname, "hostname", hostname}, {fArch, "arch", arch}, {fKernel, "kernel", kernel}, {fAgentVersion, "agentVersion", agentVersion}} {
		if seen&f.bit != 0 && len(f.v) == 0 {
			errs.add(f.name, "empty (omit the field instead)")
		}
	}
	if collectedAt != nil {
		t, err := time.Parse(time.RFC3339Nano, string(collectedAt))
		if err != nil {
			errs.add("collectedAt", quoteShort(string(collectedAt))+": want RFC 3339, e.g. 2026-11-26T09:00:00Z")
		} else {
			r.CollectedAt = t
		}
	}
	r.validateHeader(&errs)
	if hash != nil && !validHashSyntax(hash) {
		errs.add("packageSetHash", quoteShort(string(hash))+": want sha256: and 64 lowercase hex digits")
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	set, err := d.packageSet(r.Ecosystem)
	if err != nil {
		return nil, err
	}
	if hash != nil && string(hash) != set.hash {
		return nil, &FieldError{Path: "packageSetHash", Msg: fmt.Sprintf("%s does not match the packages (%s)", hash, set.hash)}
	}
	r.Packages = set
	return r, nil
}

// packages parses the packages array into d.raw.
func (d *Decoder) packages(p *jsonParser) error {
	if p.peek() != '[' {
		return p.typeError("packages", "an array")
	}
	p.pos++
	limit := d.maxPackages()
	p.ws()
	if p.peek() == ']' {
		p.pos++
		return nil
	}
	for i := 0; ; i++ {
		if i == limit {
			return fmt.Errorf("%w: more than %d packages", ErrTooManyPackages, limit)
		}
		p.ws()
		if p.peek() != '{' {
			return p.typeError(fmt.Sprintf("packages[%d]", i), "an object")
		}
		// The canonical layout the wire format is written in (all five
		// fields, in order, as non-empty token strings) is read straight
		// into the next element of d.raw.
		n := len(d.raw)
		if n == cap(d.raw) {
			d.raw = append(d.raw, rawPackage{})[:n]
		}
		if end, ok := fastPackage(p.data, p.pos, &d.raw[:n+1][n]); ok {
			p.pos = end
			d.raw = d.raw[:n+1]
		} else if err := d.packageObject(p, i); err != nil {
			return err
		}
		p.ws()
		if p.peek() == ',' {
			p.pos++
			continue
		}
		return p.expect(']')
	}
}

// tokenByte is true for the bytes a token field may hold without making
// the raw form ambiguous (printable ASCII, no space) and that end no JSON
// string or start no escape.
var tokenByte = func() (t [256]bool) {
	for c := 0x21; c <= 0x7e; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// fastPackage reads the package object at data[i] into rp when it is
// written exactly as {"name":"…","version":"…","arch":"…","sourceName":"…",
// "sourceVersion":"…"} with every value non-empty printable ASCII without
// spaces or escapes, and returns the offset after it. For any other object
// it returns false (rp then holds garbage) and the general parser (which
// also reports every error) reads it: the fast path accepts only objects
// the general one reads to the same fields. Each key after the first starts
// with the closing quote of the previous value.
func fastPackage(data []byte, i int, rp *rawPackage) (int, bool) {
	// The keys are compared as constants, which the compiler does with a
	// few word loads instead of a call.
	const (
		kName    = `{"name":"`
		kVersion = `","version":"`
		kArch    = `","arch":"`
		kSrcName = `","sourceName":"`
		kSrcVer  = `","sourceVersion":"`
	)
	ok := len(data)-i > len(kName) && string(data[i:i+len(kName)]) == kName
	if ok {
		i, ok = fastValue(data, i+len(kName), &rp.f[0])
	}
	ok = ok && len(data)-i > len(kVersion) && string(data[i:i+len(kVersion)]) == kVersion
	if ok {
		i, ok = fastValue(data, i+len(kVersion), &rp.f[1])
	}
	ok = ok && len(data)-i > len(kArch) && string(data[i:i+len(kArch)]) == kArch
	if ok {
		i, ok = fastValue(data, i+len(kArch), &rp.f[2])
	}
	ok = ok && len(data)-i > len(kSrcName) && string(data[i:i+len(kSrcName)]) == kSrcName
	if ok {
		i, ok = fastValue(data, i+len(kSrcName), &rp.f[3])
	}
	ok = ok && len(data)-i > len(kSrcVer) && string(data[i:i+len(kSrcVer)]) == kSrcVer
	if ok {
		i, ok = fastValue(data, i+len(kSrcVer), &rp.f[4])
	}
	if !ok || len(data)-i < 2 || data[i+1] != '}' {
		return 0, false
	}
	return i + 2, true
}

// fastValue reads the non-empty token value at data[i] up to its closing
// quote, which it returns the offset of.
func fastValue(data []byte, i int, dst *[]byte) (int, bool) {
	start := i
	i = tokenSpan(data, i)
	if i == start || i >= len(data) || data[i] != '"' {
		return 0, false
	}
	*dst = data[start:i:i]
	return i, true
}

// tokenSpan returns the end of the run of tokenByte bytes that starts at
// data[i], reading eight bytes at a time while it can.
func tokenSpan(data []byte, i int) int {
	for len(data)-i >= 8 {
		if m := nonTokenMask(binary.LittleEndian.Uint64(data[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(data) && tokenByte[data[i]] {
		i++
	}
	return i
}

// nonTokenMask returns x (eight bytes, the first in the low bits) with the
// high bit of its lowest byte that is not a tokenByte set, and possibly of
// higher bytes, or 0 when all eight are tokenBytes. Each test below may
// flag bytes above one it flags rightly (a borrow or carry moves up), never
// one below, so the lowest flagged byte is exact.
func nonTokenMask(x uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	ctl := (x - lo*0x21) &^ x // below 0x21: controls and space
	del := (x + lo) | x       // 0x7f and above
	q := x ^ (lo * '"')
	q = (q - lo) &^ q
	b := x ^ (lo * '\\')
	b = (b - lo) &^ b
	return (ctl | del | q | b) & hi
}

// packageObject reads packages[i], an object at p.pos, into d.raw and
// notes whether its fields are tokens.
func (d *Decoder) packageObject(p *jsonParser, i int) error {
	p.pos++
	var rp rawPackage
	p.ws()
	if p.peek() == '}' {
		p.pos++
	} else {
		for {
			p.ws()
			key, err := p.str()
			if err != nil {
				return err
			}
			k := -1
			switch string(key) {
			case "name":
				k = 0
			case "version":
				k = 1
			case "arch":
				k = 2
			case "sourceName":
				k = 3
			case "sourceVersion":
				k = 4
			default:
				return &FieldError{Path: fmt.Sprintf("packages[%d].%s", i, key), Msg: "unknown field"}
			}
			if rp.f[k] != nil {
				return &FieldError{Path: fmt.Sprintf("packages[%d].%s", i, key), Msg: "duplicate key"}
			}
			p.ws()
			if err := p.expect(':'); err != nil {
				return err
			}
			p.ws()
			if p.peek() != '"' {
				return p.typeError(fmt.Sprintf("packages[%d].%s", i, key), "a string")
			}
			if rp.f[k], err = p.str(); err != nil {
				return err
			}
			p.ws()
			if p.peek() == ',' {
				p.pos++
				continue
			}
			if err := p.expect('}'); err != nil {
				return err
			}
			break
		}
	}
	for k := 0; k < 3; k++ {
		if rp.f[k] == nil {
			return &FieldError{Path: fmt.Sprintf("packages[%d].%s", i, pkgFieldNames[k]), Msg: "missing"}
		}
	}
	for k := 3; k < 5; k++ {
		if rp.f[k] != nil && len(rp.f[k]) == 0 {
			return &FieldError{Path: fmt.Sprintf("packages[%d].%s", i, pkgFieldNames[k]), Msg: "empty (omit the field instead)"}
		}
	}
	if rp.f[3] == nil {
		rp.f[3] = rp.f[0]
	}
	if rp.f[4] == nil {
		rp.f[4] = rp.f[1]
	}
	for _, f := range rp.f {
		if !rawToken(f) {
			d.nonToken = true
		}
	}
	d.raw = append(d.raw, rp)
	return nil
}

// rawToken reports whether f is non-empty printable ASCII without spaces
// (of any length, unlike isToken).
func rawToken(f []byte) bool {
	if len(f) == 0 {
		return false
	}
	for _, c := range f {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// packageSet turns d.raw into a validated PackageSet, or returns the cached
// set with the same hash.
func (d *Decoder) packageSet(eco vercmp.Ecosystem) (*PackageSet, error) {
	if len(d.raw) == 0 {
		return nil, &FieldError{Path: "packages", Msg: "empty: a report lists at least one installed package"}
	}
	if d.Cache != nil && d.rawTokens() {
		// One pass: the hash is computed once, a cached set is shared,
		// and a new one is built from the bytes straight into the
		// cache's table (only packages it does not hold yet are
		// validated and copied).
		var sum [80]byte
		hash := d.rawHash(eco, sum[:0])
		if set := d.Cache.lookup(hash); set != nil {
			return set, nil
		}
		if len(d.raw) <= d.maxPackages() && len(d.raw) <= DefaultMaxPackages {
			if set := d.Cache.internRaw(eco, hash, d.raw, d.perm, d.lines, d.offs); set != nil {
				return set, nil
			}
		}
	}
	pkgs := materialize(d.raw)
	set, err := newPackageSet(eco, pkgs)
	if err != nil {
		return nil, err
	}
	if d.Cache != nil {
		set = d.Cache.Intern(set)
	}
	return set, nil
}

// rawTokens reports whether every raw field is non-empty printable ASCII
// without spaces (as noted while parsing: fastPackage takes only such
// fields, packageObject checks the others). Only then is the canonical form
// of d.raw unambiguous, so that a cache hit proves the packages equal the
// cached, validated ones; otherwise full validation runs and reports the
// problem.
func (d *Decoder) rawTokens() bool { return !d.nonToken }

// rawHash computes the package-set hash of d.raw, appended to dst. It
// sorts d.perm and leaves the canonical text in d.lines, line k (in perm
// order) at d.lines[d.offs[k]:d.offs[k+1]] with its newline, for
// internRaw to look the packages up by; the text is hashed in one call.
func (d *Decoder) rawHash(eco vercmp.Ecosystem, dst []byte) []byte {
	less := func(a, b *rawPackage) int {
		if c := bytes.Compare(a.f[0], b.f[0]); c != 0 {
			return c
		}
		if c := bytes.Compare(a.f[2], b.f[2]); c != 0 {
			return c
		}
		return bytes.Compare(a.f[1], b.f[1])
	}
	d.perm = d.perm[:0]
	sorted := true
	for i := range d.raw {
		d.perm = append(d.perm, int32(i))
		if i > 0 && less(&d.raw[i-1], &d.raw[i]) > 0 {
			sorted = false
		}
	}
	if !sorted {
		slices.SortFunc(d.perm, func(a, b int32) int { return less(&d.raw[a], &d.raw[b]) })
	}
	d.lines = append(d.lines[:0], setHashHeader...)
	d.lines = append(d.lines, eco...)
	d.lines = append(d.lines, '\n')
	d.offs = d.offs[:0]
	for _, i := range d.perm {
		d.offs = append(d.offs, len(d.lines))
		d.lines = appendLine(d.lines, &d.raw[i].f)
		d.lines = append(d.lines, '\n')
	}
	d.offs = append(d.offs, len(d.lines))
	sum := sha256.Sum256(d.lines)
	dst = append(dst, "sha256:"...)
	return hex.AppendEncode(dst, sum[:])
}

func validHashSyntax(h []byte) bool {
	rest, ok := bytes.CutPrefix(h, []byte("sha256:"))
	if !ok || len(rest) != 64 {
		return false
	}
	for _, c := range rest {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// jsonParser reads JSON from data. Strings without escapes are returned as
// slices of data; strings with escapes are unescaped into the arena.
type jsonParser struct {
	data  []byte
	pos   int
	arena *[]byte
}

func (p *jsonParser) ws() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *jsonParser) expect(c byte) error {
	if p.peek() != c {
		return p.syntax("want " + strconv.QuoteRune(rune(c)))
	}
	p.pos++
	return nil
}

// syntax returns a *LineError naming the line and column of p.pos.
func (p *jsonParser) syntax(msg string) error {
	pos := min(p.pos, len(p.data))
	line := 1 + bytes.Count(p.data[:pos], []byte{'\n'})
	start := bytes.LastIndexByte(p.data[:pos], '\n') + 1
	end := pos + 40
	if i := bytes.IndexByte(p.data[pos:], '\n'); i >= 0 && pos+i < end {
		end = pos + i
	}
	end = min(end, len(p.data))
	found := "end of input"
	if pos < len(p.data) {
		found = strconv.QuoteRune(rune(p.data[pos]))
	}
	text := string(p.data[max(start, pos-40):end])
	return &LineError{Line: line, Text: text, Err: fmt.Errorf("%w: column %d: %s, found %s", ErrSyntax, pos-start+1, msg, found)}
}

// strField reads a string value of a named field.
func (p *jsonParser) strField(name string) ([]byte, error) {
	if p.peek() != '"' {
		return nil, p.typeError(name, "a string")
	}
	return p.str()
}

// typeError reports a value of the wrong type at path as a *FieldError, or
// a syntax error when no JSON value starts at p.pos.
func (p *jsonParser) typeError(path, want string) error {
	var found string
	switch c := p.peek(); {
	case c == 'n':
		found = "null"
	case c == 't' || c == 'f':
		found = "a boolean"
	case c == '"':
		found = "a string"
	case c == '{':
		found = "an object"
	case c == '[':
		found = "an array"
	case c == '-' || c >= '0' && c <= '9':
		found = "a number"
	default:
		return p.syntax("want a value")
	}
	return &FieldError{Path: path, Msg: "want " + want + ", found " + found}
}

func (p *jsonParser) boolField(name string) (bool, error) {
	switch {
	case bytes.HasPrefix(p.data[p.pos:], []byte("true")):
		p.pos += 4
		return true, nil
	case bytes.HasPrefix(p.data[p.pos:], []byte("false")):
		p.pos += 5
		return false, nil
	}
	return false, p.typeError(name, "true or false")
}

// labels reads the labels object.
func (p *jsonParser) labels() (map[string]string, error) {
	if p.peek() != '{' {
		return nil, p.typeError("labels", "an object")
	}
	p.pos++
	m := map[string]string{}
	p.ws()
	if p.peek() == '}' {
		p.pos++
		return m, nil
	}
	for {
		p.ws()
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		key := string(k)
		if _, dup := m[key]; dup {
			return nil, &FieldError{Path: "labels." + key, Msg: "duplicate key"}
		}
		if len(m) == MaxLabels {
			return nil, &FieldError{Path: "labels", Msg: fmt.Sprintf("more than %d labels", MaxLabels)}
		}
		p.ws()
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		p.ws()
		v, err := p.strField("labels." + key)
		if err != nil {
			return nil, err
		}
		m[key] = string(v)
		p.ws()
		if p.peek() == ',' {
			p.pos++
			continue
		}
		return m, p.expect('}')
	}
}

// str reads a JSON string at p.pos.
func (p *jsonParser) str() ([]byte, error) {
	if err := p.expect('"'); err != nil {
		return nil, err
	}
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			s := p.data[start:p.pos:p.pos]
			p.pos++
			return s, nil
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return nil, p.syntax("control character in string")
		}
		p.pos++
	}
	return nil, p.syntax("unterminated string")
}

// strEscaped continues str for a string with escapes, from p.pos at the
// first backslash.
func (p *jsonParser) strEscaped(start int) ([]byte, error) {
	a := *p.arena
	from := len(a)
	a = append(a, p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			*p.arena = a
			return a[from:len(a):len(a)], nil
		case c < 0x20:
			return nil, p.syntax("control character in string")
		case c != '\\':
			a = append(a, c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.data) {
			break
		}
		e := p.data[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			a = append(a, e)
		case 'b':
			a = append(a, '\b')
		case 'f':
			a = append(a, '\f')
		case 'n':
			a = append(a, '\n')
		case 'r':
			a = append(a, '\r')
		case 't':
			a = append(a, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, p.syntax("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if bytes.HasPrefix(p.data[p.pos:], []byte(`\u`)) {
					p.pos += 2
					r2, _ = p.hex4()
				}
				r = utf16.DecodeRune(r, r2)
			}
			a = utf8.AppendRune(a, r)
		default:
			p.pos--
			return nil, p.syntax("bad escape")
		}
	}
	return nil, p.syntax("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.pos += 4
	return r, true
}

// materialize turns raw packages into Packages whose strings share one
// allocation; a source field equal to the name or version shares its string.
func materialize(raw []rawPackage) []Package {
	total := 0
	for i := range raw {
		f := &raw[i].f
		total += len(f[0]) + len(f[1]) + len(f[2])
		if !bytes.Equal(f[3], f[0]) {
			total += len(f[3])
		}
		if !bytes.Equal(f[4], f[1]) {
			total += len(f[4])
		}
	}
	buf := make([]byte, 0, total)
	for i := range raw {
		f := &raw[i].f
		buf = append(buf, f[0]...)
		buf = append(buf, f[1]...)
		buf = append(buf, f[2]...)
		if !bytes.Equal(f[3], f[0]) {
			buf = append(buf, f[3]...)
		}
		if !bytes.Equal(f[4], f[1]) {
			buf = append(buf, f[4]...)
		}
	}
	all := string(buf)
	off := 0
	next := func(n int) string {
		s := all[off : off+n]
		off += n
		return s
	}
	pkgs := make([]Package, len(raw))
	for i := range raw {
		f := &raw[i].f
		p := &pkgs[i]
		p.Name, p.Version, p.Arch = next(len(f[0])), next(len(f[1])), next(len(f[2]))
		p.SourceName, p.SourceVersion = p.Name, p.Version
		if !bytes.Equal(f[3], f[0]) {
			p.SourceName = next(len(f[3]))
		}
		if !bytes.Equal(f[4], f[1]) {
			p.SourceVersion = next(len(f[4]))
		}
	}
	return pkgs
}
