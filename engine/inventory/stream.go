package inventory

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// OSRelease is what patchbay reads from /etc/os-release.
type OSRelease struct {
	// ID is the distribution id ("debian", "ubuntu", "rhel", "alpine").
	ID string
	// IDLike lists the distributions this one derives from.
	IDLike []string
	// VersionID is the release version ("12", "24.04", "9.4", "3.20.3").
	VersionID string
}

// ParseOSRelease parses an os-release file (freedesktop.org format:
// KEY=value lines, values optionally quoted).
func ParseOSRelease(data []byte) (OSRelease, error) {
	var o OSRelease
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return o, &LineError{File: "os-release", Line: line, Text: t, Err: fmt.Errorf("%w: want KEY=value", ErrSyntax)}
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			if v[0] == '"' {
				if u, err := strconv.Unquote(v); err == nil {
					v = u
				} else {
					v = v[1 : len(v)-1]
				}
			} else {
				v = v[1 : len(v)-1]
			}
		}
		switch k {
		case "ID":
			o.ID = v
		case "ID_LIKE":
			o.IDLike = strings.Fields(v)
		case "VERSION_ID":
			o.VersionID = v
		}
	}
	return o, sc.Err()
}

// Stream derives the stream and ecosystem: ID and VERSION_ID joined by '-',
// with the major version only for the RHEL family (rhel, rocky, almalinux,
// centos, ol) and major.minor for alpine ("debian-12", "ubuntu-24.04",
// "rhel-9", "alpine-3.20"). The ecosystem comes from ID or, for derivatives,
// ID_LIKE.
func (o OSRelease) Stream() (string, vercmp.Ecosystem, error) {
	eco, ok := osEcosystem(o.ID)
	for _, like := range o.IDLike {
		if ok {
			break
		}
		eco, ok = osEcosystem(like)
	}
	if !ok {
		return "", "", fmt.Errorf("%w: os-release ID %q (ID_LIKE %q)", ErrUnknownOS, o.ID, strings.Join(o.IDLike, " "))
	}
	if o.VersionID == "" {
		return "", "", fmt.Errorf("%w: os-release of %q has no VERSION_ID (a rolling release such as testing or sid has no stream)", ErrUnknownOS, o.ID)
	}
	ver := o.VersionID
	switch o.ID {
	case "rhel", "rocky", "almalinux", "centos", "ol":
		ver, _, _ = strings.Cut(ver, ".")
	case "alpine":
		if parts := strings.Split(ver, "."); len(parts) > 2 {
			ver = parts[0] + "." + parts[1]
		}
	}
	stream := o.ID + "-" + ver
	if _, _, ok := splitStream(stream); !ok {
		return "", "", fmt.Errorf("%w: os-release gives stream %q, want <os id>-<version>", ErrUnknownOS, stream)
	}
	return stream, eco, nil
}

// osEcosystem maps an os-release ID to its ecosystem.
func osEcosystem(id string) (vercmp.Ecosystem, bool) {
	switch id {
	case "debian", "ubuntu", "raspbian", "linuxmint", "pop", "kali", "devuan":
		return vercmp.Deb, true
	case "rhel", "rocky", "almalinux", "centos", "ol", "fedora", "amzn", "sles", "opensuse-leap", "suse", "azurelinux", "mariner":
		return vercmp.RPM, true
	case "alpine":
		return vercmp.APK, true
	}
	return "", false
}

// EcosystemOfStream returns the ecosystem of a stream whose OS id patchbay
// knows ("debian-12" → deb), and false otherwise.
func EcosystemOfStream(stream string) (vercmp.Ecosystem, bool) {
	id, _, ok := splitStream(stream)
	if !ok {
		return "", false
	}
	return osEcosystem(id)
}
