// Package agenttest gives tests a simulated host: an in-memory package
// database seeded from a real report that collects like a host, a
// simulated repository of offered versions, and a boot id. It implements
// the agent's PackageManager and Rebooter, so the real agent loop (engine/agent)
// drives it with the same rules as on a real host: one transaction per
// step, exact versions from the tested set, a reboot only when the ring's
// policy and the host's reboot-required flag say so, health checks and
// rollback. It imports engine/agent, engine/api, engine/inventory and
// engine/vercmp.
package agenttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// Sim is a simulated host. It is safe for concurrent use.
type Sim struct {
	mu     sync.Mutex
	rep    inventory.Report
	pkgs   []inventory.Package
	now    func() time.Time
	reboot bool
	boot   int
	// repo is the simulated repository: package → offered versions. A
	// package it does not list is offered at exactly what a request names
	// (an unlimited repository), as before repositories were simulated.
	repo map[string][]string
	// Transactions lists each transaction's requests, in order.
	Transactions [][]agent.Request
	// Reboots counts the restarts.
	Reboots int
	// Refreshes counts the index refreshes.
	Refreshes int
	// Fail, when set, makes transactions touching these packages fail and
	// change nothing (as a failed apt-get run does).
	Fail map[string]bool
	// Unreachable makes Refresh fail.
	Unreachable bool
	// RebootPackages are packages whose installation makes the host
	// require a reboot (a kernel, libc); nil means the default set.
	RebootPackages []string
}

// New seeds a Sim from a real report.
func New(r *inventory.Report, now func() time.Time) *Sim {
	return &Sim{rep: *r, pkgs: append([]inventory.Package(nil), r.Packages.Packages()...), now: now, reboot: r.RebootRequired,
		repo: map[string][]string{}}
}

// Publish adds versions of a package to the simulated repository (a new
// candidate, say). Once a package is published, only its published
// versions can be installed.
func (s *Sim) Publish(pkg string, versions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range versions {
		if !slices.Contains(s.repo[pkg], v) {
			s.repo[pkg] = append(s.repo[pkg], v)
		}
	}
}

// Withdraw removes a version from the simulated repository.
func (s *Sim) Withdraw(pkg, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repo[pkg] = slices.DeleteFunc(s.repo[pkg], func(v string) bool { return v == version })
	if len(s.repo[pkg]) == 0 {
		s.repo[pkg] = []string{}
	}
}

// Version returns the installed version of pkg ("" when absent).
func (s *Sim) Version(pkg string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pkgs {
		if p.Name == pkg {
			return p.Version
		}
	}
	return ""
}

// Collect returns the database as a report collected now.
func (s *Sim) Collect(context.Context) (*inventory.Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, err := inventory.NewPackageSet(s.rep.Ecosystem, s.pkgs)
	if err != nil {
		return nil, err
	}
	r := s.rep
	r.Packages, r.RebootRequired, r.CollectedAt = ps, s.reboot, s.now().UTC()
	return &r, nil
}

// Refresh implements agent.PackageManager.
func (s *Sim) Refresh(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Refreshes++
	if s.Unreachable {
		return fmt.Errorf("%w: simulated: the repository is unreachable", agent.ErrRefresh)
	}
	return nil
}

// Offered implements agent.PackageManager: the published versions; a
// package never published is offered at the version asked for (an
// unlimited repository, as Install treats it).
func (s *Sim) Offered(_ context.Context, reqs []agent.Request) (map[string][]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for _, q := range reqs {
		if vs, ok := s.repo[q.Package]; ok {
			out[q.Package] = slices.Clone(vs)
			continue
		}
		if q.Version != "" && !slices.Contains(out[q.Package], q.Version) {
			out[q.Package] = append(out[q.Package], q.Version)
		}
	}
	return out, nil
}

// candidate is what a request without a version installs: the highest
// published version; unpublished, the request's floor (Min, else
// MinSource), or the current version moved just past itself, as an upgrade
// to the next build would.
func (s *Sim) candidate(q agent.Request, cur string) string {
	pkg := q.Package
	if _, ok := s.repo[pkg]; !ok && (q.Min != "" || q.MinSource != "") {
		return cmpOr(q.Min, q.MinSource)
	}
	vs := s.repo[pkg]
	best := ""
	for _, v := range vs {
		if best == "" || vercmp.Compare(s.rep.Ecosystem, v, best) > 0 {
			best = v
		}
	}
	if best != "" || len(vs) > 0 {
		return best
	}
	if cur == "" {
		return ""
	}
	return next(s.rep.Ecosystem, cur)
}

// Install implements agent.PackageManager: one transaction. It fails as a
// whole (changing nothing) when a requested version is not offered or a
// package is in Fail.
func (s *Sim) Install(_ context.Context, reqs []agent.Request) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Transactions = append(s.Transactions, slices.Clone(reqs))
	to := map[string]string{}
	var lines []string
	for _, q := range reqs {
		if s.Fail[q.Package] {
			return "simulated failure", fmt.Errorf("simulated failure for %s", q.Package)
		}
		cur := ""
		for _, p := range s.pkgs {
			if p.Name == q.Package {
				cur = p.Version
				break
			}
		}
		v := q.Version
		if v == "" {
			v = s.candidate(q, cur)
			if v == "" {
				return "", fmt.Errorf("simulated: %s has no installation candidate", q.Package)
			}
		} else if vs, ok := s.repo[q.Package]; ok && !slices.ContainsFunc(vs, func(o string) bool { return vercmp.Compare(s.rep.Ecosystem, o, v) == 0 }) {
			// Compared as versions, as the package managers do (dnf
			// installs foo-0:1.1-1 when its repository lists 1.1-1).
			return "", fmt.Errorf("simulated: version %q for %q was not found", v, q.Package)
		}
		to[q.Package] = v
		lines = append(lines, fmt.Sprintf("%s %s -> %s", q.Package, cmpOr(cur, "(none)"), v))
	}
	arch := ""
	if len(s.pkgs) > 0 {
		arch = s.pkgs[0].Arch
	}
	for name, v := range to {
		found := false
		for i := range s.pkgs {
			p := &s.pkgs[i]
			if p.Name != name {
				continue
			}
			found = true
			if p.SourceName == "" || p.SourceName == p.Name || p.SourceVersion == p.Version {
				p.SourceVersion = v
			} else if vercmp.Compare(s.rep.Ecosystem, p.SourceVersion, v) < 0 {
				p.SourceVersion = v
			}
			p.Version = v
		}
		if !found {
			s.pkgs = append(s.pkgs, inventory.Package{Name: name, Version: v, Arch: arch, SourceName: name, SourceVersion: v})
		}
		if s.needsReboot(name) {
			s.reboot = true
		}
	}
	return "simulated transaction: " + strings.Join(lines, ", "), nil
}

func (s *Sim) needsReboot(pkg string) bool {
	if s.RebootPackages != nil {
		return slices.Contains(s.RebootPackages, pkg)
	}
	for _, p := range []string{"linux-image", "kernel", "libc6", "glibc", "musl", "systemd", "libssl", "openssl"} {
		if strings.HasPrefix(pkg, p) {
			return true
		}
	}
	return false
}

// BootID implements agent.Rebooter.
func (s *Sim) BootID() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("sim-boot-%d", s.boot), nil
}

// Reboot implements agent.Rebooter: the boot id changes and the
// reboot-required flag clears.
func (s *Sim) Reboot(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.boot++
	s.Reboots++
	s.reboot = false
	return nil
}

// RebootRequired reports the host's reboot-required flag.
func (s *Sim) RebootRequired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reboot
}

// ErrUnhealthy is the error of a failing simulated health check.
var ErrUnhealthy = errors.New("simulated service is not active")

// Check is a simulated health check that fails while Healthy is false.
type Check struct {
	mu      sync.Mutex
	healthy bool
	Label   string
}

// NewCheck returns a check in the given state.
func NewCheck(label string, healthy bool) *Check { return &Check{Label: label, healthy: healthy} }

// Set changes the check's state.
func (c *Check) Set(healthy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.healthy = healthy
}

// Name implements agent.Check.
func (c *Check) Name() string { return c.Label }

// Run implements agent.Check.
func (c *Check) Run(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.healthy {
		return ErrUnhealthy
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// next returns a version just above v: a deb "+sim1" suffix, an rpm ".sim1"
// release suffix, an apk revision bump.
func next(eco vercmp.Ecosystem, v string) string {
	switch eco {
	case vercmp.APK:
		if i := strings.LastIndex(v, "-r"); i >= 0 {
			return v + "0"
		}
		return v + "-r1"
	case vercmp.RPM:
		return v + ".sim1"
	}
	return v + "+sim1"
}

var _ agent.PackageManager = (*Sim)(nil)
var _ agent.Rebooter = (*Sim)(nil)
