package inventory

import (
	"strconv"
	"time"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// Limits of a report. Decoders refuse anything larger.
const (
	// DefaultMaxBytes is the largest report accepted: 16 MiB.
	DefaultMaxBytes = 16 << 20
	// DefaultMaxPackages is the largest package list accepted.
	DefaultMaxPackages = 100_000
	// MaxLabels is the largest number of labels a report may carry.
	MaxLabels = 64
)

// Report is one host's reported state. A Report returned by this package has
// been validated; code downstream trusts it and must not modify it (its
// package set may be shared with other reports).
type Report struct {
	// HostID identifies the host across reports.
	HostID string
	// Hostname is the host's name, when known.
	Hostname string
	// Stream is the OS line, e.g. "debian-12", "rhel-9", "alpine-3.20".
	Stream string
	// Ecosystem is the package ecosystem of the stream.
	Ecosystem vercmp.Ecosystem
	// Labels are free key/value facts rings select hosts by.
	Labels map[string]string
	// Arch is the host's architecture, e.g. "amd64" or "x86_64".
	Arch string
	// Kernel is the running kernel release (uname -r), when known.
	Kernel string
	// RebootRequired says the host must reboot to run what is installed.
	RebootRequired bool
	// CollectedAt is when the report was collected.
	CollectedAt time.Time
	// AgentVersion names the tool that collected the report.
	AgentVersion string
	// Packages is the installed package set, possibly shared.
	Packages *PackageSet
}

// Package is one installed binary package. All fields are set: the source
// fields are resolved by the parsers (see the package documentation).
type Package struct {
	// Name is the binary package name.
	Name string
	// Version is the full version, with its epoch when it has one
	// (deb "1:2.38.1-5", rpm "2:9.0-1.cm2", apk "1.36.1-r2").
	Version string
	// Arch is the package architecture ("amd64", "all", "x86_64", "noarch").
	Arch string
	// SourceName is the source package (dpkg Source:, rpm SOURCERPM name,
	// apk origin).
	SourceName string
	// SourceVersion is the source package's version.
	SourceVersion string
}

// String returns name=version/arch.
func (p Package) String() string { return p.Name + "=" + p.Version + "/" + p.Arch }

func itoa(i int) string { return strconv.Itoa(i) }

// quoteShort quotes s, cut to 120 bytes.
func quoteShort(s string) string {
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return strconv.Quote(s)
}
