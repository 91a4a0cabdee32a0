package inventory

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// maxDBBytes bounds the package database files the parsers read.
const maxDBBytes = 512 << 20

// ParseDpkgStatus parses a dpkg status database (/var/lib/dpkg/status, or a
// file of /var/lib/dpkg/status.d/) and returns the installed packages in
// file order.
//
// A package counts when its Status names the current state "installed":
// "install ok installed", and also "hold ok installed" (held by apt-mark) and
// "deinstall ok installed" (selected for removal, still on disk) — the
// packages `dpkg-query` lists as "ii", "hi" and "ri". Removed packages whose
// configuration files remain ("deinstall ok config-files") and half-installed
// or unpacked packages do not count.
//
// Source version semantics: without Source:, the source package is the
// package itself at its own version; with "Source: name (ver)", the source
// version is ver; with "Source: name", the source version is the binary's
// Version. The binary Version keeps its epoch ("1:2.38.1-5+deb12u3").
//
// A malformed line or an installed stanza lacking Package, Version or
// Architecture, or with an invalid value, is an error naming the line number
// and text (a *LineError); no partial list is returned.
func ParseDpkgStatus(r io.Reader) ([]Package, error) {
	data, err := readAllLimited(r)
	if err != nil {
		return nil, fmt.Errorf("read dpkg status: %w", err)
	}
	return parseDpkgStatus(data)
}

func parseDpkgStatus(data []byte) ([]Package, error) {
	n := bytes.Count(data, []byte("\nPackage:")) + 1
	raw := make([]rawPackage, 0, n)
	where := make([]dpkgStanza, 0, n) // the stanza of each raw package, for errors
	var st dpkgStanza
	lineNo := 0
	for len(data) > 0 || st.start > 0 {
		var line []byte
		if len(data) > 0 {
			lineNo++
			line, data = cutLine(data)
		}
		if len(line) == 0 || len(bytes.TrimSpace(line)) == 0 {
			// A blank line (or the end of the file) ends a stanza.
			if st.start > 0 {
				rp, ok, err := st.raw()
				if err != nil {
					return nil, &LineError{Line: st.start, Text: string(st.first), Err: err}
				}
				if ok {
					raw = append(raw, rp)
					where = append(where, st)
				}
				st = dpkgStanza{}
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if st.start == 0 {
				return nil, &LineError{Line: lineNo, Text: string(line), Err: fmt.Errorf("%w: continuation line outside a stanza", ErrSyntax)}
			}
			continue // continuation of a multi-line field (Description, Conffiles)
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return nil, &LineError{Line: lineNo, Text: string(line), Err: fmt.Errorf("%w: want \"Field: value\"", ErrSyntax)}
		}
		if st.start == 0 {
			st.start, st.first = lineNo, line
		}
		key, val := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch string(key) {
		case "Package":
			st.name = val
		case "Status":
			st.status = val
		case "Version":
			st.version = val
		case "Architecture":
			st.arch = val
		case "Source":
			st.source = val
		}
	}
	pkgs := materialize(raw)
	for i := range pkgs {
		if err := checkParsed(vercmp.Deb, &pkgs[i]); err != nil {
			return nil, &LineError{Line: where[i].start, Text: string(where[i].first), Err: err}
		}
	}
	return pkgs, nil
}

// dpkgStanza holds the fields of one stanza that matter, as slices of the
// file's bytes.
type dpkgStanza struct {
	start                                      int
	first, name, status, version, arch, source []byte
}

// raw returns the stanza's package and whether it is installed.
func (s *dpkgStanza) raw() (rawPackage, bool, error) {
	if s.name == nil {
		return rawPackage{}, false, fmt.Errorf("%w: stanza without a Package field", ErrSyntax)
	}
	f := bytes.Fields(s.status)
	if len(f) != 3 {
		return rawPackage{}, false, fmt.Errorf("%w: package %s: Status %q: want \"<want> <flag> <state>\"", ErrSyntax, s.name, s.status)
	}
	if string(f[2]) != "installed" {
		return rawPackage{}, false, nil
	}
	if s.version == nil {
		return rawPackage{}, false, fmt.Errorf("%w: installed package %s without a Version field", ErrSyntax, s.name)
	}
	if s.arch == nil {
		return rawPackage{}, false, fmt.Errorf("%w: installed package %s without an Architecture field", ErrSyntax, s.name)
	}
	rp := rawPackage{f: [5][]byte{s.name, s.version, s.arch, s.name, s.version}}
	if len(s.source) > 0 {
		name, ver, err := parseDebSource(s.source)
		if err != nil {
			return rawPackage{}, false, fmt.Errorf("%w: package %s: %v", ErrSyntax, s.name, err)
		}
		rp.f[3] = name
		if len(ver) > 0 {
			rp.f[4] = ver
		}
	}
	return rp, true, nil
}

// parseDebSource splits a Source: value "name" or "name (version)".
func parseDebSource[T string | []byte](s T) (name, version T, err error) {
	i := 0
	for i < len(s) && s[i] != ' ' {
		i++
	}
	name = s[:i]
	rest := s[i:]
	for len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	for len(rest) > 0 && rest[len(rest)-1] == ' ' {
		rest = rest[:len(rest)-1]
	}
	if len(rest) == 0 {
		return name, rest, nil
	}
	if len(rest) < 3 || rest[0] != '(' || rest[len(rest)-1] != ')' {
		return name, rest, fmt.Errorf("source field %q: want \"name\" or \"name (version)\"", string(s))
	}
	version = rest[1 : len(rest)-1]
	for len(version) > 0 && version[0] == ' ' {
		version = version[1:]
	}
	for len(version) > 0 && version[len(version)-1] == ' ' {
		version = version[:len(version)-1]
	}
	return name, version, nil
}

// checkParsed validates a package a parser produced, as a syntax error.
func checkParsed(eco vercmp.Ecosystem, p *Package) error {
	var errs fieldErrors
	validatePackage(&errs, eco, 0, p)
	if err := errs.err(); err != nil {
		msg := strings.ReplaceAll(err.Error(), "packages[0].", "")
		return fmt.Errorf("%w: package %s: %s", ErrSyntax, p.Name, strings.ReplaceAll(msg, "\n", "; "))
	}
	return nil
}

// cutLine returns the first line of data without its line ending, and the
// rest.
func cutLine(data []byte) (line, rest []byte) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		line, rest = data[:i], data[i+1:]
	} else {
		line = data
	}
	return bytes.TrimSuffix(line, []byte{'\r'}), rest
}

// archInterner shares the few architecture strings of a database.
type archInterner map[string]string

func (a archInterner) get(b []byte) string {
	if s, ok := a[string(b)]; ok {
		return s
	}
	s := string(b)
	a[s] = s
	return s
}

// readAllLimited reads r up to maxDBBytes.
func readAllLimited(r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	if l, ok := r.(interface{ Len() int }); ok {
		buf.Grow(min(l.Len(), maxDBBytes) + 1)
	} else if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			buf.Grow(int(min(fi.Size(), maxDBBytes)) + 1)
		}
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, maxDBBytes+1)); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	if len(data) > maxDBBytes {
		return nil, fmt.Errorf("%w: over %d MiB", ErrTooLarge, maxDBBytes>>20)
	}
	return data, nil
}
