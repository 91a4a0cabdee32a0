package inventory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// ParseOsquery parses osquery results of the table for the ecosystem —
// deb_packages, rpm_packages or apk_packages — and returns the packages in
// input order. The input is either the JSON array `osqueryi --json` prints,
// or one scheduled-query snapshot log entry, an object whose "snapshot"
// member holds the rows. Values may be strings (osquery's default) or
// numbers (--logger_numerics).
//
// Columns read: deb_packages name, version, arch, source ("name" or
// "name (version)", as in dpkg), status (when present, only rows whose state
// is "installed" count); rpm_packages name, epoch, version, release, arch,
// source (the source RPM file name) — an epoch of "" or "0" means none;
// apk_packages name, version, arch, origin. Other columns are ignored. The
// source semantics are those of ParseDpkgStatus, ParseRPMQuery and
// ParseAPKInstalled. A row that breaks them is an error naming its index.
func ParseOsquery(r io.Reader, eco vercmp.Ecosystem) ([]Package, error) {
	data, err := readAllLimited(r)
	if err != nil {
		return nil, fmt.Errorf("read osquery results: %w", err)
	}
	var rows []map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var log struct {
			Snapshot []map[string]any `json:"snapshot"`
		}
		if err := dec.Decode(&log); err != nil {
			return nil, fmt.Errorf("%w: osquery results: %v", ErrSyntax, err)
		}
		if log.Snapshot == nil {
			return nil, fmt.Errorf("%w: osquery results: an object without \"snapshot\" rows (differential logs are not a full inventory)", ErrSyntax)
		}
		rows = log.Snapshot
	} else if err := dec.Decode(&rows); err != nil {
		return nil, fmt.Errorf("%w: osquery results: %v", ErrSyntax, err)
	}
	pkgs := make([]Package, 0, len(rows))
	arches := archInterner{}
	for i, row := range rows {
		p, ok, err := osqueryRow(eco, row, arches)
		if err != nil {
			return nil, fmt.Errorf("osquery row %d: %w", i, err)
		}
		if ok {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, nil
}

func osqueryRow(eco vercmp.Ecosystem, row map[string]any, arches archInterner) (Package, bool, error) {
	col := func(name string) string {
		switch v := row[name].(type) {
		case string:
			return v
		case json.Number:
			return v.String()
		}
		return ""
	}
	var p Package
	switch eco {
	case vercmp.Deb:
		if st := strings.Fields(col("status")); len(st) == 3 && st[2] != "installed" {
			return p, false, nil
		}
		p = Package{Name: col("name"), Version: col("version"), Arch: arches.get([]byte(col("arch")))}
		p.SourceName, p.SourceVersion = p.Name, p.Version
		if src := col("source"); src != "" {
			name, ver, err := parseDebSource(src)
			if err != nil {
				return p, false, fmt.Errorf("%w: %v", ErrSyntax, err)
			}
			p.SourceName = name
			if ver != "" {
				p.SourceVersion = ver
			}
		}
	case vercmp.RPM:
		name := col("name")
		if name == "gpg-pubkey" {
			return p, false, nil
		}
		epoch := col("epoch")
		if epoch == "0" {
			epoch = ""
		}
		line := strings.Join([]string{name, epoch, col("version"), col("release"), col("arch"), col("source")}, "\t")
		return parseRPMLine(line, arches)
	case vercmp.APK:
		p = Package{Name: col("name"), Version: col("version"), Arch: arches.get([]byte(col("arch")))}
		p.SourceName, p.SourceVersion = p.Name, p.Version
		if o := col("origin"); o != "" {
			p.SourceName = o
		}
	default:
		return p, false, fmt.Errorf("ecosystem %q: %w", eco, vercmp.ErrUnknownEcosystem)
	}
	if err := checkParsed(eco, &p); err != nil {
		return p, false, err
	}
	return p, true, nil
}
