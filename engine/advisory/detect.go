package advisory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Format names a feed file format.
type Format string

// The formats Detect recognises.
const (
	FormatOSV           Format = "osv"
	FormatDebianTracker Format = "debian-tracker"
	FormatDebianList    Format = "debian-list"
	FormatAlpineSecdb   Format = "alpine-secdb"
	FormatKEV           Format = "kev"
	FormatEPSS          Format = "epss"
)

var epssRow = regexp.MustCompile(`^CVE-\d{4}-\d+[,;][0-9.]+[,;][0-9.]+\r?$`)

// Detect recognises a feed file by its content, never by its name. Files it
// cannot place give an error wrapping ErrUnknownFormat that says what it saw.
func Detect(data []byte) (Format, error) {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(t) == 0 {
		return "", fmt.Errorf("%w: empty file", ErrUnknownFormat)
	}
	first, _, _ := bytes.Cut(t, []byte{'\n'})
	switch {
	case bytes.HasPrefix(first, []byte("#model_version")), bytes.EqualFold(bytes.TrimSpace(first), []byte("cve,epss,percentile")), epssRow.Match(first):
		return FormatEPSS, nil
	case t[0] == '[':
		var arr []map[string]json.RawMessage
		head := t
		if len(head) > 1<<20 {
			head = head[:1<<20]
		}
		dec := json.NewDecoder(bytes.NewReader(head))
		if _, err := dec.Token(); err == nil && dec.More() {
			var one map[string]json.RawMessage
			if dec.Decode(&one) == nil {
				arr = append(arr, one)
			}
		}
		if len(arr) == 1 {
			if _, ok := arr[0]["cveID"]; ok {
				return FormatKEV, nil
			}
			if _, ok := arr[0]["pkg_name"]; ok {
				return "", fmt.Errorf("%w: osv.dev's intermediate \"parts\" format, not an OSV record", ErrUnknownFormat)
			}
		}
		return "", fmt.Errorf("%w: a JSON array that is not a list of KEV entries", ErrUnknownFormat)
	case t[0] == '{':
		keys, firstVal := topKeys(t)
		has := func(k string) bool { _, ok := keys[k]; return ok }
		switch {
		case has("vulnerabilities") && (has("catalogVersion") || has("title")):
			return FormatKEV, nil
		case has("Header") && has("Annotations"):
			return FormatDebianList, nil
		case has("distroversion"):
			return FormatAlpineSecdb, nil
		case has("id") && (has("modified") || has("affected") || has("schema_version")):
			return FormatOSV, nil
		case len(firstVal) > 0 && looksTracker(firstVal):
			return FormatDebianTracker, nil
		}
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, k)
			if len(names) == 5 {
				break
			}
		}
		return "", fmt.Errorf("%w: a JSON object with keys %s", ErrUnknownFormat, strings.Join(names, ", "))
	case bytes.Contains(t[:min(len(t), 4096)], []byte("distroversion:")):
		return FormatAlpineSecdb, nil
	}
	return "", fmt.Errorf("%w: neither JSON, YAML secdb nor EPSS CSV (starts %q)", ErrUnknownFormat, string(first[:min(len(first), 40)]))
}

// topKeys returns the top-level keys of a JSON object, reading at most the
// first 64 keys, and the raw value of the first key. It stops early on big
// documents such as the tracker JSON.
func topKeys(data []byte) (map[string]struct{}, json.RawMessage) {
	keys := map[string]struct{}{}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return keys, nil
	}
	var first json.RawMessage
	for dec.More() && len(keys) < 64 {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		k, _ := tok.(string)
		keys[k] = struct{}{}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			break
		}
		if first == nil {
			first = v
		}
		if len(keys) == 1 && len(v) > 0 && v[0] == '{' && looksTracker(v) {
			break
		}
	}
	return keys, first
}

// looksTracker says whether v is a tracker JSON package entry: an object of
// CVE (or TEMP-) ids to objects with "releases".
func looksTracker(v json.RawMessage) bool {
	var m map[string]struct {
		Releases json.RawMessage `json:"releases"`
	}
	if json.Unmarshal(v, &m) != nil || len(m) == 0 {
		return false
	}
	for k, e := range m {
		if !strings.HasPrefix(k, "CVE-") && !strings.HasPrefix(k, "TEMP-") || e.Releases == nil {
			return false
		}
	}
	return true
}
