package inventory

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// RPMQueryFormat is the rpm --queryformat whose output ParseRPMQuery reads:
// one package per line, six TAB-separated fields — name, epoch (empty when
// none), version, release, arch, source RPM file name. Collect runs
//
//	rpm -qa --root ROOT --queryformat "$RPMQueryFormat"
const RPMQueryFormat = `%{NAME}\t%|EPOCH?{%{EPOCH}}:{}|\t%{VERSION}\t%{RELEASE}\t%|ARCH?{%{ARCH}}:{}|\t%|SOURCERPM?{%{SOURCERPM}}:{}|\n`

// ParseRPMQuery parses rpm query output and returns the installed packages
// in input order. It reads three line formats, chosen per line:
//
//   - the six TAB-separated fields of RPMQueryFormat;
//   - the '¶'-separated fields of go-rpmdb's test dumps, which start
//     epoch¶name¶version¶release¶arch¶sourcerpm¶…;
//   - the ten TAB-separated fields of /var/lib/rpmmanifest/container-manifest-2
//     (CBL-Mariner/Azure Linux distroless images): name, version-release,
//     install time, build time, vendor, epoch or "(none)", size, arch,
//     epoch number, source RPM.
//
// An epoch of "" or "(none)" means none; the version is "[epoch:]version-release".
// gpg-pubkey entries (imported signing keys, not packages) are skipped. The
// source package name and version come from the source RPM file name
// (name-version-release.src.rpm) with the binary's epoch; without a source
// RPM the package is its own source. Any other line is an error naming its
// line number and text.
func ParseRPMQuery(r io.Reader) ([]Package, error) {
	data, err := readAllLimited(r)
	if err != nil {
		return nil, fmt.Errorf("read rpm query output: %w", err)
	}
	var pkgs []Package
	arches := archInterner{}
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var line []byte
		line, data = cutLine(data)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		p, ok, err := parseRPMLine(string(line), arches)
		if err != nil {
			return nil, &LineError{Line: lineNo, Text: string(line), Err: err}
		}
		if ok {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, nil
}

// parseRPMLine parses one line in any of the three formats.
func parseRPMLine(line string, arches archInterner) (Package, bool, error) {
	var name, epoch, version, release, arch, srpm string
	switch f := strings.Split(line, "\t"); {
	case strings.Contains(line, "¶"):
		f := strings.Split(line, "¶")
		if len(f) < 6 {
			return Package{}, false, fmt.Errorf("%w: %d ¶-separated fields, want at least 6", ErrSyntax, len(f))
		}
		epoch, name, version, release, arch, srpm = f[0], f[1], f[2], f[3], f[4], f[5]
	case len(f) == 6:
		name, epoch, version, release, arch, srpm = f[0], f[1], f[2], f[3], f[4], f[5]
	case len(f) == 10:
		var ok bool
		name, epoch, arch, srpm = f[0], f[5], f[7], f[9]
		if version, release, ok = cutLast(f[1], "-"); !ok {
			return Package{}, false, fmt.Errorf("%w: version-release %q without '-'", ErrSyntax, f[1])
		}
	default:
		return Package{}, false, fmt.Errorf("%w: %d TAB-separated fields, want 6 (name, epoch, version, release, arch, sourcerpm)", ErrSyntax, len(f))
	}
	if name == "gpg-pubkey" {
		return Package{}, false, nil
	}
	if version == "" || release == "" {
		return Package{}, false, fmt.Errorf("%w: package %s: empty version or release", ErrSyntax, name)
	}
	if epoch == "(none)" {
		epoch = ""
	}
	evr := version + "-" + release
	if epoch != "" {
		evr = epoch + ":" + evr
	}
	p := Package{Name: name, Version: evr, Arch: arches.get([]byte(arch)), SourceName: name, SourceVersion: evr}
	if srpm != "" && srpm != "(none)" {
		sn, sv, err := parseSourceRPM(srpm)
		if err != nil {
			return Package{}, false, fmt.Errorf("%w: package %s: %v", ErrSyntax, name, err)
		}
		p.SourceName, p.SourceVersion = sn, sv
		if epoch != "" {
			p.SourceVersion = epoch + ":" + sv
		}
	}
	if err := checkParsed(vercmp.RPM, &p); err != nil {
		return Package{}, false, err
	}
	return p, true, nil
}

// parseSourceRPM splits "util-linux-2.37.4-15.el9.src.rpm" into
// "util-linux" and "2.37.4-15.el9".
func parseSourceRPM(s string) (name, version string, err error) {
	base, ok := strings.CutSuffix(s, ".src.rpm")
	if !ok {
		base, ok = strings.CutSuffix(s, ".nosrc.rpm")
	}
	if !ok {
		return "", "", fmt.Errorf("source RPM %q: want name-version-release.src.rpm", s)
	}
	nv, rel, ok1 := cutLast(base, "-")
	n, ver, ok2 := cutLast(nv, "-")
	if !ok1 || !ok2 || n == "" || ver == "" || rel == "" {
		return "", "", fmt.Errorf("source RPM %q: want name-version-release.src.rpm", s)
	}
	return n, ver + "-" + rel, nil
}

// cutLast cuts s around the last sep.
func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
