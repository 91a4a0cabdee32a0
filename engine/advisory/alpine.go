package advisory

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/patchbay/patchbay/engine/vercmp"
)

type secdbPackage struct {
	Name     string              `json:"name" yaml:"name"`
	Secfixes map[string][]string `json:"secfixes" yaml:"secfixes"`
}

type secdbFile struct {
	DistroVersion string `json:"distroversion" yaml:"distroversion"`
	RepoName      string `json:"reponame" yaml:"reponame"`
	Packages      []struct {
		Pkg secdbPackage `json:"pkg" yaml:"pkg"`
	} `json:"packages" yaml:"packages"`
	// Name and Secfixes are set in the per-package form vuln-list writes.
	Name     string              `json:"name" yaml:"name"`
	Secfixes map[string][]string `json:"secfixes" yaml:"secfixes"`
}

// ParseAlpineSecdb reads an Alpine secdb file (https://secdb.alpinelinux.org/
// v3.20/main.json, the older YAML form, or the one-package form of
// vuln-list). secfixes maps the first fixed apk version to the ids it fixes;
// key "0" means never affected. Each id becomes one Advisory (a value
// "CVE-2024-28834 GNUTLS-SA-2023-12-04" gives the CVE with the vendor id as
// alias) with a statement per package. secdb names aports, so statements
// are about the apk origin (Kind Source). secdb lists fixes only: a CVE not
// named there says nothing about a package.
func ParseAlpineSecdb(name string, data []byte, lim Limits) ([]*Advisory, error) {
	if int64(len(data)) > lim.max(MaxSecdbBytes) {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", name, ErrTooLarge, lim.max(MaxSecdbBytes))
	}
	var f secdbFile
	trim := bytes.TrimSpace(data)
	if len(trim) > 0 && trim[0] == '{' {
		if err := decodeJSON(name, data, &f); err != nil {
			return nil, err
		}
	} else {
		if err := yaml.Unmarshal(data, &f); err != nil {
			return nil, yamlError(name, err)
		}
	}
	if f.DistroVersion == "" {
		return nil, &ParseError{File: name, Path: "distroversion", Msg: "missing"}
	}
	if !strings.HasPrefix(f.DistroVersion, "v") && f.DistroVersion != "edge" {
		return nil, &ParseError{File: name, Path: "distroversion", Msg: fmt.Sprintf("%q is not an Alpine release (want v3.NN)", f.DistroVersion)}
	}
	stream := "alpine-" + strings.TrimPrefix(f.DistroVersion, "v")
	pkgs := make([]secdbPackage, 0, len(f.Packages)+1)
	for _, p := range f.Packages {
		pkgs = append(pkgs, p.Pkg)
	}
	if f.Name != "" {
		pkgs = append(pkgs, secdbPackage{Name: f.Name, Secfixes: f.Secfixes})
	}
	byID := map[string]*Advisory{}
	for i, p := range pkgs {
		if p.Name == "" {
			return nil, &ParseError{File: name, Path: fmt.Sprintf("packages/%d/pkg/name", i), Msg: "missing"}
		}
		keys := make([]string, 0, len(p.Secfixes))
		for k := range p.Secfixes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, fixed := range keys {
			path := fmt.Sprintf("packages/%d/pkg(%s)/secfixes/%s", i, p.Name, fixed)
			st := Affected{Stream: stream, Ecosystem: vercmp.APK, Package: p.Name, Kind: Source}
			if fixed == "0" {
				st.Status = StatusNotAffected
			} else {
				st.Status, st.Fixed = StatusFixed, fixed
				badVersion(&st, name, path)
			}
			for _, v := range p.Secfixes[fixed] {
				fields := strings.Fields(v)
				if len(fields) == 0 {
					continue
				}
				id := fields[0]
				a := byID[id]
				if a == nil {
					a = &Advisory{ID: id, Feed: "alpine-secdb"}
					byID[id] = a
				}
				for _, alias := range fields[1:] {
					if !containsStr(a.Aliases, alias) {
						a.Aliases = append(a.Aliases, alias)
					}
				}
				a.Affected = append(a.Affected, st)
			}
		}
	}
	out := make([]*Advisory, 0, len(byID))
	for _, a := range byID {
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y *Advisory) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

// yamlError keeps the line number yaml reports.
func yamlError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pe := &ParseError{File: name, Msg: msg}
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		pe.Line, pe.Col = line, 1
		_, rest, _ := strings.Cut(msg, ": ")
		pe.Msg = rest
	} else if te, ok := err.(*yaml.TypeError); ok && len(te.Errors) > 0 {
		if _, scanErr := fmt.Sscanf(te.Errors[0], "line %d:", &line); scanErr == nil {
			pe.Line, pe.Col = line, 1
			_, rest, _ := strings.Cut(te.Errors[0], ": ")
			pe.Msg = rest
		}
	}
	return pe
}
