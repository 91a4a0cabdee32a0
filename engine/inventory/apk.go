package inventory

import (
	"fmt"
	"io"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// ParseAPKInstalled parses Alpine's installed database (lib/apk/db/installed)
// and returns its packages in file order. Stanzas are separated by blank
// lines; each line is "X:value" with a one-letter key: P name, V version,
// A arch, o origin (the source package; the package is its own origin when
// absent). The source version is the package version.
//
// A stanza without P: or V: (Trivy's test database has one) or a line not
// of the form "X:value" is an error naming the line number and text (a
// *LineError); no partial list is returned.
func ParseAPKInstalled(r io.Reader) ([]Package, error) {
	data, err := readAllLimited(r)
	if err != nil {
		return nil, fmt.Errorf("read apk installed db: %w", err)
	}
	var pkgs []Package
	arches := archInterner{}
	var st struct {
		start                       int
		first                       string
		name, version, arch, origin []byte
	}
	lineNo := 0
	for len(data) > 0 || st.start > 0 {
		var line []byte
		if len(data) > 0 {
			lineNo++
			line, data = cutLine(data)
		}
		if len(line) == 0 {
			if st.start > 0 {
				fail := func(msg string) error {
					return &LineError{Line: st.start, Text: st.first, Err: fmt.Errorf("%w: %s", ErrSyntax, msg)}
				}
				switch {
				case st.name == nil:
					return nil, fail("stanza without P: (package name)")
				case st.version == nil:
					return nil, fail(fmt.Sprintf("package %s: stanza without V: (version)", st.name))
				case st.arch == nil:
					return nil, fail(fmt.Sprintf("package %s: stanza without A: (architecture)", st.name))
				}
				p := Package{Name: string(st.name), Version: string(st.version), Arch: arches.get(st.arch)}
				p.SourceName, p.SourceVersion = p.Name, p.Version
				if len(st.origin) > 0 {
					p.SourceName = string(st.origin)
				}
				if err := checkParsed(vercmp.APK, &p); err != nil {
					return nil, &LineError{Line: st.start, Text: st.first, Err: err}
				}
				pkgs = append(pkgs, p)
				st.start, st.first, st.name, st.version, st.arch, st.origin = 0, "", nil, nil, nil, nil
			}
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			return nil, &LineError{Line: lineNo, Text: string(line), Err: fmt.Errorf("%w: want \"X:value\"", ErrSyntax)}
		}
		if st.start == 0 {
			st.start, st.first = lineNo, string(line)
		}
		switch val := line[2:]; line[0] {
		case 'P':
			st.name = val
		case 'V':
			st.version = val
		case 'A':
			st.arch = val
		case 'o':
			st.origin = val
		}
	}
	return pkgs, nil
}
