package advisory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// KEV is the CISA Known Exploited Vulnerabilities catalogue.
type KEV struct {
	// CatalogVersion and Released are the catalogue's own ("2025.08.25").
	CatalogVersion string    `json:"catalogVersion,omitempty"`
	Released       time.Time `json:"dateReleased,omitzero"`
	// Entries by CVE id.
	Entries map[string]KEVEntry `json:"entries"`
}

// KEVEntry is one catalogue entry.
type KEVEntry struct {
	CVE        string    `json:"cveID"`
	Vendor     string    `json:"vendorProject"`
	Product    string    `json:"product"`
	Name       string    `json:"vulnerabilityName"`
	DateAdded  time.Time `json:"dateAdded"`
	DueDate    time.Time `json:"dueDate"`
	Ransomware bool      `json:"knownRansomwareCampaignUse"`
}

type kevWire struct {
	CVE        string `json:"cveID"`
	Vendor     string `json:"vendorProject"`
	Product    string `json:"product"`
	Name       string `json:"vulnerabilityName"`
	DateAdded  string `json:"dateAdded"`
	DueDate    string `json:"dueDate"`
	Ransomware string `json:"knownRansomwareCampaignUse"`
}

var cveID = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

// ParseKEV reads the KEV catalogue JSON
// (known_exploited_vulnerabilities.json), or a bare JSON array of its
// entries. Every entry needs a CVE id and dateAdded/dueDate as YYYY-MM-DD.
func ParseKEV(name string, data []byte, lim Limits) (*KEV, error) {
	if int64(len(data)) > lim.max(MaxKEVBytes) {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", name, ErrTooLarge, lim.max(MaxKEVBytes))
	}
	var doc struct {
		Title           string    `json:"title"`
		CatalogVersion  string    `json:"catalogVersion"`
		DateReleased    string    `json:"dateReleased"`
		Vulnerabilities []kevWire `json:"vulnerabilities"`
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		if err := decodeJSON(name, data, &doc.Vulnerabilities); err != nil {
			return nil, err
		}
	} else {
		if err := decodeJSON(name, data, &doc); err != nil {
			return nil, err
		}
		if doc.Vulnerabilities == nil {
			return nil, &ParseError{File: name, Path: "vulnerabilities", Msg: "missing: not a KEV catalogue"}
		}
	}
	k := &KEV{CatalogVersion: doc.CatalogVersion, Entries: make(map[string]KEVEntry, len(doc.Vulnerabilities))}
	if doc.DateReleased != "" {
		t, err := time.Parse(time.RFC3339Nano, doc.DateReleased)
		if err != nil {
			return nil, &ParseError{File: name, Path: "dateReleased", Msg: fmt.Sprintf("%q is not an RFC 3339 time", doc.DateReleased)}
		}
		k.Released = t.UTC()
	}
	for i, w := range doc.Vulnerabilities {
		path := fmt.Sprintf("vulnerabilities[%d]", i)
		if !cveID.MatchString(w.CVE) {
			return nil, &ParseError{File: name, Path: path + ".cveID", Msg: fmt.Sprintf("%q is not a CVE id", w.CVE)}
		}
		e := KEVEntry{CVE: w.CVE, Vendor: w.Vendor, Product: w.Product, Name: w.Name, Ransomware: w.Ransomware == "Known"}
		var err error
		if e.DateAdded, err = time.Parse(time.DateOnly, w.DateAdded); err != nil {
			return nil, &ParseError{File: name, Path: path + ".dateAdded", Msg: fmt.Sprintf("%q is not a date (YYYY-MM-DD)", w.DateAdded)}
		}
		if e.DueDate, err = time.Parse(time.DateOnly, w.DueDate); err != nil {
			return nil, &ParseError{File: name, Path: path + ".dueDate", Msg: fmt.Sprintf("%q is not a date (YYYY-MM-DD)", w.DueDate)}
		}
		k.Entries[w.CVE] = e
	}
	return k, nil
}

// MarshalJSON writes dates as YYYY-MM-DD.
func (e KEVEntry) MarshalJSON() ([]byte, error) {
	type plain KEVEntry
	return json.Marshal(struct {
		plain
		DateAdded string `json:"dateAdded"`
		DueDate   string `json:"dueDate"`
	}{plain(e), e.DateAdded.Format(time.DateOnly), e.DueDate.Format(time.DateOnly)})
}
