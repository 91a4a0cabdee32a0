package advisory

import (
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// Advisory is one security advisory or vulnerability record as a feed
// states it: a DSA, a USN, an ALSA, or a CVE entry of a tracker.
type Advisory struct {
	// ID is the feed's identifier ("DSA-5523-1", "USN-6859-1", "CVE-2024-6387").
	ID string `json:"id"`
	// Aliases are the other identifiers of the same issue, CVEs first.
	Aliases []string `json:"aliases,omitempty"`
	// Feed names the format it was read from ("osv", "debian-tracker", "alpine-secdb").
	Feed string `json:"feed"`
	// Published and Modified are zero when the feed does not say.
	Published time.Time `json:"published,omitzero"`
	Modified  time.Time `json:"modified,omitzero"`
	// Summary is a one-line title, when given.
	Summary string `json:"summary,omitempty"`
	// Severity is the feed's severity mapped to patchbay's scale (see Severity);
	// empty when the feed gives none.
	Severity string `json:"severity,omitempty"`
	// SeverityText is the feed's own word for it ("Important", "high**").
	SeverityText string `json:"severityText,omitempty"`
	// CVSS lists the CVSS vectors given, with their base scores when computable.
	CVSS []CVSS `json:"cvss,omitempty"`
	// Affected lists, per stream and package, what the feed says.
	Affected []Affected `json:"affected"`
}

// CVSS is one CVSS vector.
type CVSS struct {
	// Type is "CVSS_V2", "CVSS_V3" or "CVSS_V4".
	Type string `json:"type"`
	// Vector is the vector string.
	Vector string `json:"vector"`
	// Score is the base score, 0 when it could not be computed.
	Score float64 `json:"score,omitempty"`
}

// Status is what a feed says about one package in one stream.
type Status string

// The statuses. They are distinct findings: NotFixed and WillNotFix are
// vulnerable, never compliant.
const (
	// StatusFixed: fixed in Affected.Fixed; versions below it are affected.
	StatusFixed Status = "fixed"
	// StatusNotFixed: vulnerable and no fix is available yet.
	StatusNotFixed Status = "not-fixed"
	// StatusWillNotFix: vulnerable, and the distribution will not fix it.
	StatusWillNotFix Status = "will-not-fix"
	// StatusNotAffected: this package in this stream was never affected.
	StatusNotAffected Status = "not-affected"
	// StatusUndetermined: not assessed yet by the distribution.
	StatusUndetermined Status = "undetermined"
)

// Kind says whether Affected.Package names a source or a binary package.
type Kind string

// The package kinds.
const (
	// Source: a Debian/Ubuntu source package or an Alpine aport (apk origin).
	Source Kind = "source"
	// Binary: an installed package name (RPM).
	Binary Kind = "binary"
)

// Affected is a feed's statement about one package in one stream.
type Affected struct {
	// Stream is the distribution stream in patchbay's form: "debian-12",
	// "ubuntu-24.04", "alpine-3.20", "almalinux-9", "rocky-9", "rhel-9".
	// "debian-sid" is Debian unstable.
	Stream string `json:"stream"`
	// Ecosystem orders the versions.
	Ecosystem vercmp.Ecosystem `json:"ecosystem"`
	// Package is the package name the feed speaks of.
	Package string `json:"package"`
	// Kind says whether Package is a source or a binary package.
	Kind Kind `json:"kind"`
	// Status is the feed's verdict for the stream.
	Status Status `json:"status"`
	// Fixed is the distribution's fixed version when Status is StatusFixed.
	Fixed string `json:"fixed,omitempty"`
	// Introduced is the first affected version; empty means all versions.
	Introduced string `json:"introduced,omitempty"`
	// LastAffected is the last affected version of a range without a fix
	// (OSV's "last_affected"); later versions are not affected.
	LastAffected string `json:"lastAffected,omitempty"`
	// Module is the RHEL module stream ("nginx:1.18") a modular fix belongs
	// to; empty for non-modular packages.
	Module string `json:"module,omitempty"`
	// Urgency is the distribution's own urgency or priority word, when given.
	Urgency string `json:"urgency,omitempty"`
	// Note is the feed's reason text (why not affected, why no fix).
	Note string `json:"note,omitempty"`
	// Binaries are the binary packages built from Package, when the feed lists them.
	Binaries []string `json:"binaries,omitempty"`
	// Inherited says the statement is the unstable one that the tracker
	// applies to a release with no line of its own.
	Inherited bool `json:"inherited,omitempty"`
}

// CVEs returns the CVE identifiers among the advisory's id and aliases.
func (a *Advisory) CVEs() []string {
	var out []string
	if strings.HasPrefix(a.ID, "CVE-") {
		out = append(out, a.ID)
	}
	for _, x := range a.Aliases {
		if strings.HasPrefix(x, "CVE-") && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// Severity levels, highest first, as the baseline schema spells them.
var severities = []string{"critical", "high", "medium", "low", "negligible"}

// SeverityRank returns 4 for critical down to 0 for negligible, -1 for none.
func SeverityRank(s string) int {
	i := slices.Index(severities, s)
	if i < 0 {
		return -1
	}
	return len(severities) - 1 - i
}

// NormalizeSeverity maps a feed's severity word to patchbay's scale:
// critical, high, medium, low, negligible, or "" when unknown. It knows Red
// Hat's (Critical/Important/Moderate/Low), Debian's urgencies (with a
// trailing "**" for ones not set by the security team), Ubuntu's priorities
// and CVSS qualitative ratings.
func NormalizeSeverity(s string) string {
	s = strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "**")))
	switch s {
	case "critical":
		return "critical"
	case "important", "high":
		return "high"
	case "moderate", "medium":
		return "medium"
	case "low":
		return "low"
	case "negligible", "unimportant", "none":
		return "negligible"
	}
	return ""
}

// SeverityFromScore maps a CVSS base score to its qualitative rating.
func SeverityFromScore(score float64) string {
	switch {
	case score >= 9:
		return "critical"
	case score >= 7:
		return "high"
	case score >= 4:
		return "medium"
	case score > 0:
		return "low"
	}
	return ""
}
