package advisory

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/ossf/osv-schema/bindings/go/osvschema"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/patchbay/patchbay/engine/vercmp"
)

//go:embed osv-schema.json
var osvSchemaJSON []byte

// osvSchema compiles the embedded official schema once.
var osvSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(osvSchemaJSON))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	const url = "https://raw.githubusercontent.com/ossf/osv-schema/main/validation/schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
})

// OSVOptions tune ParseOSV.
type OSVOptions struct {
	Limits
	// Validate checks the record against the official OSV schema first
	// (sync does; reading the trusted cache does not need to).
	Validate bool
}

// ParseOSV reads one OSV record (https://ossf.github.io/osv-schema/) with
// the OSV project's own Go bindings. Affected entries of operating-system
// ecosystems become Affected statements (see osvStream); others are left
// out. Ranges of type ECOSYSTEM are read: introduced → fixed gives a fixed
// version, introduced without fixed "no fix available yet". A record
// without any ECOSYSTEM range for a package keeps no statement for it.
func ParseOSV(name string, data []byte, opts OSVOptions) (*Advisory, error) {
	if int64(len(data)) > opts.max(MaxRecordBytes) {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", name, ErrTooLarge, opts.max(MaxRecordBytes))
	}
	if !json.Valid(data) {
		var v any
		return nil, decodeJSON(name, data, &v)
	}
	if opts.Validate {
		if err := validateOSV(name, data); err != nil {
			return nil, err
		}
	}
	var v osvschema.Vulnerability
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &v); err != nil {
		return nil, protoError(name, err)
	}
	return fromOSV(name, &v)
}

func validateOSV(name string, data []byte) error {
	sch, err := osvSchema()
	if err != nil {
		return fmt.Errorf("compile OSV schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return jsonError(name, data, err)
	}
	err = sch.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if ok := asValidation(err, &ve); ok {
		leaf := ve
		for len(leaf.Causes) > 0 {
			leaf = leaf.Causes[0]
		}
		path := "/" + strings.Join(leaf.InstanceLocation, "/")
		return &ParseError{File: name, Path: path, Msg: "does not follow the OSV schema: " + strings.TrimSpace(leafMessage(leaf))}
	}
	return &ParseError{File: name, Msg: "does not follow the OSV schema: " + err.Error()}
}

func asValidation(err error, target **jsonschema.ValidationError) bool {
	ve, ok := err.(*jsonschema.ValidationError)
	if ok {
		*target = ve
	}
	return ok
}

func leafMessage(ve *jsonschema.ValidationError) string {
	s := ve.Error()
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimLeft(s, " -")
	if i := strings.Index(s, ": "); i >= 0 && strings.HasPrefix(s, "at '") {
		s = s[i+2:]
	}
	return s
}

// protoLine matches protojson's "(line 3:5)" position.
var protoLine = regexp.MustCompile(`\(line (\d+):(\d+)\)`)

func protoError(name string, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "proto: ")
	pe := &ParseError{File: name, Msg: msg}
	if m := protoLine.FindStringSubmatchIndex(msg); m != nil {
		pe.Line, _ = strconv.Atoi(msg[m[2]:m[3]])
		pe.Col, _ = strconv.Atoi(msg[m[4]:m[5]])
		pe.Msg = strings.TrimLeft(msg[:m[0]]+msg[m[1]:], " :")
	}
	return pe
}

// alsaModule finds "nginx:1.18" in "Important: nginx:1.18 security update".
var alsaModule = regexp.MustCompile(`^(?:[A-Za-z]+: )?([A-Za-z0-9_.+-]+:[A-Za-z0-9_.+-]+) (?:security|bug fix|enhancement)`)

// alsaSeverity finds the "Important:" prefix of Red Hat family summaries.
var alsaSeverity = regexp.MustCompile(`^(Critical|Important|Moderate|Low):`)

func fromOSV(name string, v *osvschema.Vulnerability) (*Advisory, error) {
	if v.GetId() == "" {
		return nil, &ParseError{File: name, Path: "/id", Msg: "missing"}
	}
	a := &Advisory{ID: v.GetId(), Feed: "osv", Summary: v.GetSummary()}
	a.Aliases = append(a.Aliases, v.GetAliases()...)
	for _, r := range append(v.GetUpstream(), v.GetRelated()...) {
		r = strings.TrimPrefix(r, "UBUNTU-") // Ubuntu's per-CVE records
		if strings.HasPrefix(r, "CVE-") && !containsStr(a.Aliases, r) {
			a.Aliases = append(a.Aliases, r)
		}
	}
	if t := v.GetPublished(); t != nil {
		a.Published = t.AsTime().UTC()
	}
	if t := v.GetModified(); t != nil {
		a.Modified = t.AsTime().UTC()
	}
	for _, s := range v.GetSeverity() {
		switch s.GetType() {
		case osvschema.Severity_CVSS_V2, osvschema.Severity_CVSS_V3, osvschema.Severity_CVSS_V4:
			c := CVSS{Type: s.GetType().String(), Vector: s.GetScore()}
			c.Score = cvssScore(c.Vector)
			a.CVSS = append(a.CVSS, c)
		case osvschema.Severity_Ubuntu:
			a.SeverityText = s.GetScore()
			a.Severity = NormalizeSeverity(s.GetScore())
		}
	}
	module := ""
	if m := alsaSeverity.FindStringSubmatch(a.Summary); m != nil {
		a.SeverityText = m[1]
		a.Severity = NormalizeSeverity(m[1])
	}
	if m := alsaModule.FindStringSubmatch(a.Summary); m != nil {
		module = m[1]
	}
	if a.Severity == "" {
		for _, c := range a.CVSS {
			if s := SeverityFromScore(c.Score); SeverityRank(s) > SeverityRank(a.Severity) {
				a.Severity = s
			}
		}
	}
	for i, af := range v.GetAffected() {
		stream, eco, kind, note, ok := osvStream(af.GetPackage().GetEcosystem())
		if !ok {
			continue
		}
		pkg := af.GetPackage().GetName()
		if pkg == "" {
			return nil, &ParseError{File: name, Path: fmt.Sprintf("/affected/%d/package/name", i), Msg: "missing"}
		}
		var bins []string
		if es := af.GetEcosystemSpecific(); es != nil {
			if b := es.GetFields()["binaries"]; b != nil {
				for _, x := range b.GetListValue().GetValues() {
					if n := x.GetStructValue().GetFields()["binary_name"].GetStringValue(); n != "" {
						bins = append(bins, n)
					}
				}
			}
		}
		for j, rg := range af.GetRanges() {
			if rg.GetType() != osvschema.Range_ECOSYSTEM {
				continue
			}
			st := Affected{Stream: stream, Ecosystem: eco, Package: pkg, Kind: kind, Note: note, Binaries: bins, Status: StatusNotFixed}
			for k, ev := range rg.GetEvents() {
				path := fmt.Sprintf("/affected/%d/ranges/%d/events/%d", i, j, k)
				switch {
				case ev.GetIntroduced() != "":
					if ev.GetIntroduced() != "0" {
						if err := checkVersion(name, path+"/introduced", eco, ev.GetIntroduced()); err != nil {
							return nil, err
						}
						st.Introduced = ev.GetIntroduced()
					}
				case ev.GetFixed() != "":
					st.Status, st.Fixed = StatusFixed, ev.GetFixed()
					badVersion(&st, name, path+"/fixed")
				case ev.GetLastAffected() != "":
					// "last_affected" bounds the range from above and
					// names no fix: versions up to it have no fix yet
					// (a finding of its own), later ones are not affected.
					if err := checkVersion(name, path+"/last_affected", eco, ev.GetLastAffected()); err != nil {
						return nil, err
					}
					st.LastAffected = ev.GetLastAffected()
				}
			}
			if st.Status == StatusFixed {
				st.LastAffected = ""
			}
			if eco == vercmp.RPM && isModular(st.Fixed) {
				st.Module = module
			}
			a.Affected = append(a.Affected, st)
		}
	}
	return a, nil
}

// badVersion turns a fixed statement whose version the distribution's own
// tool would refuse into an undetermined one that says why: real feeds carry
// the odd typo (Alpine's "6.6.2p1-r0"), and one bad key must not make a whole
// feed unusable, nor be compared as if it were a version.
func badVersion(st *Affected, name, path string) {
	if err := vercmp.Validate(st.Ecosystem, st.Fixed); err != nil {
		st.Note = fmt.Sprintf("%s: %s: fixed version %q is not a valid %s version; not compared", name, path, st.Fixed, st.Ecosystem)
		st.Status, st.Fixed = StatusUndetermined, ""
	}
}

func checkVersion(name, path string, eco vercmp.Ecosystem, v string) error {
	if err := vercmp.Validate(eco, v); err != nil {
		return &ParseError{File: name, Path: path, Msg: fmt.Sprintf("%q is not a valid %s version: %v", v, eco, err)}
	}
	return nil
}

// isModular reports whether an RPM version belongs to a module stream build.
func isModular(v string) bool {
	return strings.Contains(v, ".module_el") || strings.Contains(v, ".module+el")
}

// osvStream maps an OSV ecosystem to a patchbay stream. The bool is false
// for ecosystems that are not operating-system distributions patchbay
// manages (npm, PyPI, …).
func osvStream(ecosystem string) (stream string, eco vercmp.Ecosystem, kind Kind, note string, ok bool) {
	parts := strings.Split(ecosystem, ":")
	if len(parts) < 2 {
		return "", "", "", "", false
	}
	switch parts[0] {
	case "Debian":
		return "debian-" + parts[1], vercmp.Deb, Source, "", true
	case "Ubuntu":
		rest := parts[1:]
		if rest[0] == "Pro" && len(rest) > 1 {
			rest = rest[1:]
			note = "fix published for Ubuntu Pro (ESM) only"
		}
		if rest[0] == "FIPS" || rest[0] == "FIPS-updates" || rest[0] == "FIPS-preview" {
			return "", "", "", "", false
		}
		return "ubuntu-" + rest[0], vercmp.Deb, Source, note, true
	case "Alpine":
		return "alpine-" + strings.TrimPrefix(parts[1], "v"), vercmp.APK, Source, "", true
	case "AlmaLinux":
		return "almalinux-" + parts[1], vercmp.RPM, Binary, "", true
	case "Rocky Linux":
		return "rocky-" + parts[1], vercmp.RPM, Binary, "", true
	case "Red Hat":
		// "Red Hat:enterprise_linux:9::appstream": the major release.
		for _, p := range parts[1:] {
			if p != "" && p[0] >= '0' && p[0] <= '9' {
				major, _, _ := strings.Cut(p, ".")
				return "rhel-" + major, vercmp.RPM, Binary, "", true
			}
		}
	}
	return "", "", "", "", false
}

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
