package inventory

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// The length limits of report fields, in bytes.
const (
	maxIDLen      = 253
	maxTokenLen   = 256
	maxArchLen    = 32
	maxLabelKey   = 128
	maxLabelValue = 256
)

// Validate checks every rule of a report and returns nil or an error listing
// each broken rule with its field path (each a *FieldError wrapping
// ErrInvalid). Reports built by Decode, Collect and the parsers are already
// valid; call Validate on a Report built by hand.
func (r *Report) Validate() error {
	var errs fieldErrors
	r.validateHeader(&errs)
	if r.Packages == nil {
		errs.add("packages", "missing")
	} else if r.Ecosystem != "" && r.Packages.eco != r.Ecosystem {
		errs.add("packages", fmt.Sprintf("package set of ecosystem %q in a %q report", r.Packages.eco, r.Ecosystem))
	}
	return errs.err()
}

// validateHeader checks every field except the packages.
func (r *Report) validateHeader(errs *fieldErrors) {
	if msg := checkHostID(r.HostID); msg != "" {
		errs.add("hostId", msg)
	}
	if r.Hostname != "" && !isHostname(r.Hostname) {
		errs.add("hostname", "want letters, digits, '.', '-' or '_', at most 253 bytes")
	}
	if err := validEcosystem(r.Ecosystem); err != nil {
		errs.add("ecosystem", err.Error())
	}
	if msg := checkStream(r.Stream, r.Ecosystem); msg != "" {
		errs.add("stream", msg)
	}
	if len(r.Labels) > MaxLabels {
		errs.add("labels", fmt.Sprintf("%d labels, at most %d", len(r.Labels), MaxLabels))
	}
	keys := make([]string, 0, len(r.Labels))
	for k := range r.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if msg := checkLabel(k, r.Labels[k]); msg != "" {
			errs.add("labels."+k, msg)
		}
	}
	if r.Arch != "" && !isArch(r.Arch) {
		errs.add("arch", "want lowercase letters, digits or '_', at most 32 bytes")
	}
	if r.Kernel != "" && !isToken(r.Kernel) {
		errs.add("kernel", "want printable ASCII without spaces, at most 256 bytes")
	}
	if r.AgentVersion != "" && !isText(r.AgentVersion, maxTokenLen) {
		errs.add("agentVersion", "want printable ASCII, at most 256 bytes")
	}
	if r.CollectedAt.IsZero() {
		errs.add("collectedAt", "missing")
	} else if y := r.CollectedAt.Year(); y < 1 || y > 9999 {
		errs.add("collectedAt", "year outside 1-9999")
	}
}

// validEcosystem accepts deb, rpm and apk.
func validEcosystem(eco vercmp.Ecosystem) error {
	switch eco {
	case vercmp.Deb, vercmp.RPM, vercmp.APK:
		return nil
	case "":
		return errors.New("missing")
	}
	return fmt.Errorf("%q: want deb, rpm or apk", string(eco))
}

// validatePackage checks one package whose source fields are resolved. It
// allocates only when it finds a problem.
func validatePackage(errs *fieldErrors, eco vercmp.Ecosystem, i int, p *Package) {
	checkToken(errs, eco, i, "name", p.Name, false)
	checkToken(errs, eco, i, "version", p.Version, true)
	if !isArch(p.Arch) {
		msg := "empty"
		if p.Arch != "" {
			msg = quoteShort(p.Arch) + ": want lowercase letters, digits or '_', at most 32 bytes"
		}
		errs.add(fmt.Sprintf("packages[%d].arch", i), msg)
	}
	checkToken(errs, eco, i, "sourceName", p.SourceName, false)
	checkToken(errs, eco, i, "sourceVersion", p.SourceVersion, true)
}

// checkToken checks a package name or version field.
func checkToken(errs *fieldErrors, eco vercmp.Ecosystem, i int, field, v string, version bool) {
	var msg string
	switch {
	case v == "":
		msg = "empty"
	case !isToken(v):
		msg = quoteShort(v) + ": want printable ASCII without spaces, at most 256 bytes"
	case version:
		if err := vercmp.Validate(eco, v); err != nil {
			msg = quoteShort(v) + ": " + err.Error()
		}
	}
	if msg != "" {
		errs.add(fmt.Sprintf("packages[%d].%s", i, field), msg)
	}
}

func checkHostID(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > maxIDLen {
		return "longer than 253 bytes"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || (i > 0 && strings.IndexByte("._:@-", c) >= 0) {
			continue
		}
		return fmt.Sprintf("%s: want a letter or digit, then letters, digits, '.', '_', ':', '@' or '-'", quoteShort(s))
	}
	return ""
}

func isHostname(s string) bool {
	if s == "" || len(s) > maxIDLen || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func checkLabel(k, v string) string {
	if k == "" || len(k) > maxLabelKey || !isAlnum(k[0]) {
		return "key: want a letter or digit first, at most 128 bytes"
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !isAlnum(c) && strings.IndexByte("._/-", c) < 0 {
			return "key: want letters, digits, '.', '_', '/' or '-'"
		}
	}
	if !isText(v, maxLabelValue) {
		return "value: want printable ASCII, at most 256 bytes"
	}
	return ""
}

// checkStream checks the stream format: a lowercase OS id, '-', and a
// dotted numeric version ("debian-12", "ubuntu-24.04", "opensuse-leap-15.6").
// When the OS id is one patchbay knows, its ecosystem must match.
func checkStream(s string, eco vercmp.Ecosystem) string {
	if s == "" {
		return "empty"
	}
	id, _, ok := splitStream(s)
	if !ok {
		return fmt.Sprintf("%s: want <os id>-<version> such as debian-12, ubuntu-24.04, rhel-9, alpine-3.20", quoteShort(s))
	}
	if known, ok := osEcosystem(id); ok && eco != "" && known != eco {
		return fmt.Sprintf("%s is a %s stream, the report says ecosystem %s", s, known, eco)
	}
	return ""
}

// splitStream splits "ubuntu-24.04" into "ubuntu" and "24.04", checking the
// format ^[a-z][a-z0-9-]*-[0-9]+(\.[0-9]+)*$.
func splitStream(s string) (id, ver string, ok bool) {
	dash := strings.LastIndexByte(s, '-')
	if dash < 1 || dash == len(s)-1 || len(s) > 64 {
		return "", "", false
	}
	id, ver = s[:dash], s[dash+1:]
	if id[0] < 'a' || id[0] > 'z' {
		return "", "", false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "", "", false
		}
	}
	for _, part := range strings.Split(ver, ".") {
		if part == "" {
			return "", "", false
		}
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return "", "", false
			}
		}
	}
	return id, ver, true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isToken reports whether s is 1 to 256 bytes of printable ASCII without
// spaces (0x21-0x7e).
func isToken(s string) bool {
	if s == "" || len(s) > maxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isText reports whether s is at most n bytes of printable ASCII (0x20-0x7e).
func isText(s string, n int) bool {
	if len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func isArch(s string) bool {
	if s == "" || len(s) > maxArchLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// fieldErrors collects up to 20 field errors.
type fieldErrors struct {
	list []error
	more int
}

func (e *fieldErrors) add(path, msg string) {
	if len(e.list) == 20 {
		e.more++
		return
	}
	e.list = append(e.list, &FieldError{Path: path, Msg: msg})
}

func (e *fieldErrors) err() error {
	switch {
	case len(e.list) == 0:
		return nil
	case len(e.list) == 1:
		return e.list[0]
	}
	list := e.list
	if e.more > 0 {
		list = append(list, fmt.Errorf("%w: and %d more", ErrInvalid, e.more))
	}
	return errors.Join(list...)
}
