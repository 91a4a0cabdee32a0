package inventory

import (
	"bytes"
	"fmt"
	"io"
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
	pkgs := make([]Package, 0, bytes.Count(data, []byte("\nPackage:"))+1)
	var st dpkgStanza
	arches := archInterner{}
	lineNo := 0
	for len(data) > 0 || st.start > 0 {
		var line []byte
		if len(data) > 0 {
			lineNo++
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				line, data = data[:i], data[i+1:]
			} else {
				line, data = data, nil
			}
			line = bytes.TrimSuffix(line, []byte{'\r'})
		}
		if len(bytes.TrimSpace(line)) == 0 {
			// A blank line (or the end of the file) ends a stanza.
			if st.start > 0 {
				p, ok, err := st.pkg(&arches)
				if err != nil {
					return nil, &LineError{Line: st.start, Text: st.first, Err: err}
				}
				if ok {
					pkgs = append(pkgs, p)
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
			st.start, st.first = lineNo, string(line)
		}
		key, val := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case string(key) == "Package":
			st.name = val
		case string(key) == "Status":
			st.status = val
		case string(key) == "Version":
			st.version = val
		case string(key) == "Architecture":
			st.arch = val
		case string(key) == "Source":
			st.source = val
		}
	}
	return pkgs, nil
}

// dpkgStanza holds the fields of one stanza that matter, as slices of the
// file's bytes.
type dpkgStanza struct {
	start                               int
	first                               string
	name, status, version, arch, source []byte
}

// pkg returns the stanza's package and whether it is installed.
func (s *dpkgStanza) pkg(arches *archInterner) (Package, bool, error) {
	if s.name == nil {
		return Package{}, false, fmt.Errorf("%w: stanza without a Package field", ErrSyntax)
	}
	f := bytes.Fields(s.status)
	if len(f) != 3 {
		return Package{}, false, fmt.Errorf("%w: package %s: Status %q: want \"<want> <flag> <state>\"", ErrSyntax, s.name, s.status)
	}
	if string(f[2]) != "installed" {
		return Package{}, false, nil
	}
	if s.version == nil {
		return Package{}, false, fmt.Errorf("%w: installed package %s without a Version field", ErrSyntax, s.name)
	}
	if s.arch == nil {
		return Package{}, false, fmt.Errorf("%w: installed package %s without an Architecture field", ErrSyntax, s.name)
	}
	p := Package{Name: string(s.name), Version: string(s.version), Arch: arches.get(s.arch)}
	p.SourceName, p.SourceVersion = p.Name, p.Version
	if len(s.source) > 0 {
		name, ver, err := parseDebSource(string(s.source))
		if err != nil {
			return Package{}, false, fmt.Errorf("%w: package %s: %v", ErrSyntax, s.name, err)
		}
		p.SourceName = name
		if ver != "" {
			p.SourceVersion = ver
		}
	}
	if err := checkParsed(vercmp.Deb, &p); err != nil {
		return Package{}, false, err
	}
	return p, true, nil
}

// parseDebSource splits a Source: value "name" or "name (version)".
func parseDebSource(s string) (name, version string, err error) {
	name, rest, ok := strings.Cut(s, " ")
	if !ok {
		return name, "", nil
	}
	rest = strings.TrimSpace(rest)
	if len(rest) < 3 || rest[0] != '(' || rest[len(rest)-1] != ')' {
		return "", "", fmt.Errorf("source field %q: want \"name\" or \"name (version)\"", s)
	}
	return name, strings.TrimSpace(rest[1 : len(rest)-1]), nil
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
	data, err := io.ReadAll(io.LimitReader(r, maxDBBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDBBytes {
		return nil, fmt.Errorf("%w: over %d MiB", ErrTooLarge, maxDBBytes>>20)
	}
	return data, nil
}
