package advisory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// debianReleases maps Debian codenames to patchbay streams.
var debianReleases = map[string]string{
	"squeeze": "debian-6", "wheezy": "debian-7", "jessie": "debian-8", "stretch": "debian-9",
	"buster": "debian-10", "bullseye": "debian-11", "bookworm": "debian-12", "trixie": "debian-13",
	"forky": "debian-14", "duke": "debian-15", "sid": "debian-sid",
}

// DebianStream returns the stream of a Debian codename ("bookworm" →
// "debian-12"); unknown codenames become "debian-<codename>".
func DebianStream(codename string) string {
	if s, ok := debianReleases[codename]; ok {
		return s
	}
	return "debian-" + codename
}

// trackerRelease is one release's entry in the tracker JSON.
type trackerRelease struct {
	Status       string            `json:"status"`
	Repositories map[string]string `json:"repositories"`
	FixedVersion *string           `json:"fixed_version"`
	Urgency      string            `json:"urgency"`
	NoDSA        string            `json:"nodsa"`
	NoDSAReason  string            `json:"nodsa_reason"`
}

type trackerCVE struct {
	Description string          `json:"description"`
	Scope       string          `json:"scope"`
	DebianBug   int             `json:"debianbug"`
	Releases    trackerReleases `json:"releases"`
}

// trackerReleases accepts the tracker's "[]" for an empty object (its JSON
// is written by a PHP-like encoder that turns empty maps into arrays).
type trackerReleases map[string]trackerRelease

func (r *trackerReleases) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) >= 2 && t[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(t, &arr); err != nil {
			return err
		}
		if len(arr) != 0 {
			return &json.UnmarshalTypeError{Value: "non-empty array", Type: reflect.TypeFor[map[string]trackerRelease]()}
		}
		*r = trackerReleases{}
		return nil
	}
	m := map[string]trackerRelease{}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*r = m
	return nil
}

// ParseDebianTracker reads the Debian security tracker's JSON
// (https://security-tracker.debian.org/tracker/data/json): source package →
// CVE → release → status. It returns one Advisory per CVE (or TEMP- id)
// holding a statement per source package and release, sorted by id:
//
//   - resolved with fixed_version "0": not affected;
//   - resolved with a fixed version: fixed in that version;
//   - open with nodsa_reason "ignored": will not fix; otherwise open: no
//     fix available yet (postponed and no-DSA issues included);
//   - undetermined: undetermined.
func ParseDebianTracker(name string, data []byte, lim Limits) ([]*Advisory, error) {
	if int64(len(data)) > lim.max(MaxTrackerBytes) {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", name, ErrTooLarge, lim.max(MaxTrackerBytes))
	}
	var doc map[string]map[string]trackerCVE
	if err := decodeJSON(name, data, &doc); err != nil {
		return nil, err
	}
	byID := map[string]*Advisory{}
	pkgs := make([]string, 0, len(doc))
	for p := range doc {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		cves := doc[pkg]
		ids := make([]string, 0, len(cves))
		for id := range cves {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			c := cves[id]
			a := byID[id]
			if a == nil {
				a = &Advisory{ID: id, Feed: "debian-tracker", Summary: firstLine(c.Description)}
				byID[id] = a
			}
			rels := make([]string, 0, len(c.Releases))
			for r := range c.Releases {
				rels = append(rels, r)
			}
			sort.Strings(rels)
			for _, rel := range rels {
				r := c.Releases[rel]
				path := pkg + "/" + id + "/releases/" + rel
				st := Affected{Stream: DebianStream(rel), Ecosystem: vercmp.Deb, Package: pkg, Kind: Source, Urgency: r.Urgency}
				switch r.Status {
				case "resolved":
					if r.FixedVersion == nil || *r.FixedVersion == "" {
						return nil, &ParseError{File: name, Path: path + "/fixed_version", Msg: "missing for a resolved issue"}
					}
					if *r.FixedVersion == "0" {
						st.Status = StatusNotAffected
						break
					}
					st.Status, st.Fixed = StatusFixed, *r.FixedVersion
					badVersion(&st, name, path+"/fixed_version")
				case "open":
					st.Status = StatusNotFixed
					if r.NoDSAReason == "ignored" {
						st.Status = StatusWillNotFix
					}
					st.Note = r.NoDSA
				case "undetermined":
					st.Status = StatusUndetermined
				default:
					return nil, &ParseError{File: name, Path: path + "/status", Msg: fmt.Sprintf("unknown status %q (want resolved, open or undetermined)", r.Status)}
				}
				a.Affected = append(a.Affected, st)
				if s := NormalizeSeverity(r.Urgency); SeverityRank(s) > SeverityRank(a.Severity) {
					a.Severity, a.SeverityText = s, r.Urgency
				}
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

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// listRecord is one entry of the tracker's data/CVE/list, data/DSA/list or
// data/DLA/list in the parsed form of aquasecurity/vuln-list-debian.
type listRecord struct {
	Header *struct {
		Original    string `json:"Original"`
		ID          string `json:"ID"`
		Description string `json:"Description"`
	} `json:"Header"`
	Annotations []struct {
		Original    string   `json:"Original"`
		Type        string   `json:"Type"`
		Release     string   `json:"Release"`
		Package     string   `json:"Package"`
		Kind        string   `json:"Kind"`
		Version     string   `json:"Version"`
		Description string   `json:"Description"`
		Severity    string   `json:"Severity"`
		Bugs        []string `json:"Bugs"`
	} `json:"Annotations"`
}

// listDate finds "[11 Oct 2023]" at the start of a DSA header.
var listDate = regexp.MustCompile(`^\[(\d{1,2} [A-Z][a-z]{2} \d{4})\]`)

// ParseDebianList reads one record of the tracker's source lists
// (data/CVE/list, data/DSA/list, data/DLA/list) in the parsed JSON form
// that vuln-list-debian publishes: a header and annotation lines. A package
// line without a release speaks of unstable ("debian-sid"); the matcher lets
// releases without a line of their own inherit it, as the tracker does.
func ParseDebianList(name string, data []byte, lim Limits) (*Advisory, error) {
	if int64(len(data)) > lim.max(MaxRecordBytes) {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", name, ErrTooLarge, lim.max(MaxRecordBytes))
	}
	var rec listRecord
	if err := decodeJSON(name, data, &rec); err != nil {
		return nil, err
	}
	if rec.Header == nil || rec.Header.ID == "" {
		return nil, &ParseError{File: name, Path: "Header/ID", Msg: "missing"}
	}
	a := &Advisory{ID: rec.Header.ID, Feed: "debian-list", Summary: rec.Header.Description}
	if m := listDate.FindStringSubmatch(rec.Header.Original); m != nil {
		if t, err := time.Parse("2 Jan 2006", m[1]); err == nil {
			a.Published = t
		}
	}
	for i, an := range rec.Annotations {
		path := fmt.Sprintf("Annotations/%d", i)
		switch an.Type {
		case "xref":
			for _, b := range an.Bugs {
				if b != a.ID && !containsStr(a.Aliases, b) {
					a.Aliases = append(a.Aliases, b)
				}
			}
			continue
		case "package":
		default:
			continue
		}
		if an.Package == "" {
			return nil, &ParseError{File: name, Path: path + "/Package", Msg: "missing in a package line"}
		}
		rel := an.Release
		if rel == "" {
			rel = "sid"
		}
		st := Affected{Stream: DebianStream(rel), Ecosystem: vercmp.Deb, Package: an.Package, Kind: Source, Urgency: an.Severity, Note: an.Description}
		switch an.Kind {
		case "fixed":
			if an.Version == "" {
				return nil, &ParseError{File: name, Path: path + "/Version", Msg: "missing for a fixed package line"}
			}
			if an.Version == "0" {
				st.Status = StatusNotAffected
				break
			}
			st.Status, st.Fixed = StatusFixed, an.Version
			badVersion(&st, name, path+"/Version")
		case "unfixed", "no-dsa", "postponed":
			st.Status = StatusNotFixed
			if st.Note == "" {
				st.Note = an.Kind
			} else {
				st.Note = an.Kind + ": " + st.Note
			}
		case "ignored", "end-of-life":
			st.Status = StatusWillNotFix
			if st.Note == "" {
				st.Note = an.Kind
			}
		case "not-affected":
			st.Status = StatusNotAffected
		case "undetermined":
			st.Status = StatusUndetermined
		case "removed", "itp":
			continue // the package is gone from (or not yet in) the release
		default:
			return nil, &ParseError{File: name, Path: path + "/Kind", Msg: fmt.Sprintf("unknown kind %q", an.Kind)}
		}
		a.Affected = append(a.Affected, st)
		if s := NormalizeSeverity(an.Severity); SeverityRank(s) > SeverityRank(a.Severity) {
			a.Severity, a.SeverityText = s, an.Severity
		}
	}
	return a, nil
}
