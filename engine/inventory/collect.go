package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// CollectOptions are the inputs of Collect that do not come from the root.
type CollectOptions struct {
	// HostID overrides the host id; by default it is the root's
	// /etc/machine-id, else the hostname.
	HostID string
	// Labels are attached to the report as given.
	Labels map[string]string
	// AgentVersion names the collecting tool.
	AgentVersion string
	// Now is the collection time.
	Now time.Time
	// RPM is the path of the rpm binary used to read an rpm database; the
	// caller looks it up (this package reads no environment). Empty means
	// none: an rpm root is then read from its container manifest, if any.
	RPM string
}

// Collect builds the report of the machine, image or chroot mounted at root,
// reading only files under root (symbolic links that leave it are not
// followed):
//
//   - stream and ecosystem from etc/os-release (else usr/lib/os-release);
//   - packages from var/lib/dpkg/status and var/lib/dpkg/status.d/* (deb),
//     lib/apk/db/installed (apk), or for rpm the output of
//     `rpm -qa --root ROOT --queryformat RPMQueryFormat [--dbpath /var/lib/rpm]`
//     (--dbpath when ROOT/var/lib/rpm exists; the rpm database
//     is a Berkeley DB, NDB or SQLite file that only rpm reads reliably),
//     falling back to var/lib/rpmmanifest/container-manifest-2 for
//     distroless images when no rpm binary is given;
//   - hostname and kernel: when root is "/", the running system's
//     (os.Hostname, /proc/sys/kernel/osrelease = uname -r); otherwise
//     etc/hostname and no kernel, since an image runs none;
//   - reboot-required: on deb, the file run/reboot-required or
//     var/run/reboot-required exists; on rpm and apk, when the running
//     kernel is known, the newest installed kernel package is not the
//     running one;
//   - arch: the most common package architecture other than all/noarch.
func Collect(ctx context.Context, root string, opts CollectOptions) (*Report, error) {
	rt, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	defer rt.Close()
	rfs := rt.FS()
	osr, err := readFirst(rfs, "etc/os-release", "usr/lib/os-release")
	if err != nil {
		return nil, fmt.Errorf("collect: os-release: %w", err)
	}
	o, err := ParseOSRelease(osr)
	if err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	stream, eco, err := o.Stream()
	if err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	live := isSystemRoot(root)
	r := &Report{Stream: stream, Ecosystem: eco, Labels: opts.Labels, AgentVersion: opts.AgentVersion, CollectedAt: opts.Now.UTC()}
	if live {
		r.Hostname, _ = os.Hostname()
		if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
			r.Kernel = strings.TrimSpace(string(k))
		}
	} else if h, err := fs.ReadFile(rfs, "etc/hostname"); err == nil {
		r.Hostname = strings.TrimSpace(string(h))
	}
	if !isHostname(r.Hostname) {
		r.Hostname = ""
	}
	r.HostID = opts.HostID
	if r.HostID == "" {
		if id, err := fs.ReadFile(rfs, "etc/machine-id"); err == nil {
			r.HostID = strings.TrimSpace(string(id))
		}
	}
	if r.HostID == "" {
		r.HostID = r.Hostname
	}

	var pkgs []Package
	switch eco {
	case vercmp.Deb:
		pkgs, err = collectDeb(rfs)
	case vercmp.APK:
		pkgs, err = collectFile(rfs, "lib/apk/db/installed", ParseAPKInstalled)
	case vercmp.RPM:
		pkgs, err = collectRPM(ctx, rfs, root, opts.RPM)
	}
	if err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	set, err := NewPackageSet(eco, pkgs)
	if err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	r.Packages = set
	r.Arch = hostArch(set.Packages())
	switch {
	case eco == vercmp.Deb:
		for _, p := range []string{"run/reboot-required", "var/run/reboot-required"} {
			if _, err := fs.Stat(rfs, p); err == nil {
				r.RebootRequired = true
			}
		}
	case r.Kernel != "":
		r.RebootRequired = kernelRebootRequired(eco, set.Packages(), r.Kernel)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	return r, nil
}

// isSystemRoot reports whether root is the running system's root.
func isSystemRoot(root string) bool {
	a, err1 := os.Stat(root)
	b, err2 := os.Stat("/")
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func readFirst(fsys fs.FS, names ...string) ([]byte, error) {
	var first error
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err == nil {
			return data, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// collectDeb reads the dpkg status database and the status.d directory of
// distroless images.
func collectDeb(fsys fs.FS) ([]Package, error) {
	var pkgs []Package
	found := false
	files := []string{"var/lib/dpkg/status"}
	if entries, err := fs.ReadDir(fsys, "var/lib/dpkg/status.d"); err == nil {
		for _, e := range entries {
			if e.Type().IsRegular() && !strings.HasSuffix(e.Name(), ".md5sums") {
				files = append(files, path.Join("var/lib/dpkg/status.d", e.Name()))
			}
		}
	}
	for _, f := range files {
		got, err := collectFile(fsys, f, ParseDpkgStatus)
		if errors.Is(err, ErrNoPackageDB) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		pkgs = append(pkgs, got...)
	}
	if !found {
		return nil, fmt.Errorf("%w: no var/lib/dpkg/status", ErrNoPackageDB)
	}
	return pkgs, nil
}

// collectFile parses one package database file under the root.
func collectFile(fsys fs.FS, name string, parse func(io.Reader) ([]Package, error)) ([]Package, error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s", ErrNoPackageDB, name)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pkgs, err := parse(f)
	if err != nil {
		var le *LineError
		if errors.As(err, &le) && le.File == "" {
			le.File = name
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return pkgs, nil
}

// collectRPM runs rpm against the root, or reads the container manifest.
func collectRPM(ctx context.Context, fsys fs.FS, root, rpm string) ([]Package, error) {
	if rpm == "" {
		pkgs, err := collectFile(fsys, "var/lib/rpmmanifest/container-manifest-2", ParseRPMQuery)
		if errors.Is(err, ErrNoPackageDB) {
			return nil, fmt.Errorf("%w: reading an rpm database needs the rpm binary, and there is no var/lib/rpmmanifest/container-manifest-2", ErrNoPackageDB)
		}
		return pkgs, err
	}
	args := []string{"-qa", "--root", root, "--queryformat", RPMQueryFormat}
	if fi, err := fs.Stat(fsys, "var/lib/rpm"); err == nil && fi.IsDir() {
		// The distributions' database path (a link to usr/lib/sysimage/rpm
		// on newer ones); an rpm built for another system (Debian's) may
		// default elsewhere.
		args = append(args, "--dbpath", "/var/lib/rpm")
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, rpm, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("rpm -qa: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	pkgs, err := ParseRPMQuery(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("rpm -qa output: %w", err)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%w: rpm -qa --root %s lists no packages", ErrNoPackageDB, root)
	}
	return pkgs, nil
}

// HostArch returns the most common package architecture of the set other
// than the architecture-independent all and noarch: the host's architecture
// when nothing better is known.
func HostArch(s *PackageSet) string { return hostArch(s.Packages()) }

func hostArch(pkgs []Package) string {
	count := map[string]int{}
	for _, p := range pkgs {
		if p.Arch != "all" && p.Arch != "noarch" {
			count[p.Arch]++
		}
	}
	best := ""
	for a, n := range count {
		if n > count[best] || n == count[best] && a < best {
			best = a
		}
	}
	return best
}

// kernelRebootRequired reports whether the newest installed kernel package
// is not the running kernel (uname -r). rpm: "kernel-core" 5.14.0-362.8.1.el9_3
// x86_64 runs as "5.14.0-362.8.1.el9_3.x86_64". apk: "linux-lts" 6.6.31-r0
// runs as "6.6.31-0-lts". No kernel package (a container) means false.
func kernelRebootRequired(eco vercmp.Ecosystem, pkgs []Package, running string) bool {
	switch eco {
	case vercmp.RPM:
		release := func(p Package) string {
			v := p.Version
			if i := strings.IndexByte(v, ':'); i >= 0 {
				v = v[i+1:]
			}
			return v + "." + p.Arch
		}
		// The RHEL-family kernel package names, in the order tried when
		// the running kernel belongs to none.
		var family []Package
		for _, name := range [...]string{"kernel-core", "kernel", "kernel-uek-core", "kernel-uek"} {
			var ks []Package
			for _, p := range pkgs {
				if p.Name == name {
					ks = append(ks, p)
				}
			}
			if slices.ContainsFunc(ks, func(p Package) bool { return release(p) == running }) {
				family = ks
				break
			}
			if family == nil {
				family = ks
			}
		}
		if len(family) == 0 {
			return false
		}
		newest := slices.MaxFunc(family, func(a, b Package) int { return vercmp.Compare(vercmp.RPM, a.Version, b.Version) })
		return release(newest) != running
	case vercmp.APK:
		i := strings.LastIndexByte(running, '-')
		if i < 0 {
			return false
		}
		flavor := running[i+1:]
		for _, p := range pkgs {
			if p.Name == "linux-"+flavor {
				return strings.Replace(p.Version, "-r", "-", 1)+"-"+flavor != running
			}
		}
	}
	return false
}
