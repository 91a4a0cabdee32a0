// Package agenttest gives tests a simulated host: an in-memory package
// database seeded from a real report that collects like a host and
// "installs" by moving package versions to whatever satisfies an action.
// It is a simulation for tests of the agent loop and the server, not a
// package manager. It imports engine/api, engine/inventory and engine/vercmp.
package agenttest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// Sim is a simulated host: a Collector and an Executor over one package
// database. It is safe for concurrent use.
type Sim struct {
	mu     sync.Mutex
	rep    inventory.Report
	pkgs   []inventory.Package
	now    func() time.Time
	reboot bool
	// Applied lists the actions applied, in order.
	Applied []api.Action
	// Fail, when set, makes Apply leave these packages unchanged.
	Fail map[string]bool
}

// New seeds a Sim from a real report.
func New(r *inventory.Report, now func() time.Time) *Sim {
	s := &Sim{rep: *r, pkgs: append([]inventory.Package(nil), r.Packages.Packages()...), now: now, reboot: r.RebootRequired}
	return s
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

// Apply moves every package named by a to the version a asks for: the
// exact Version, else the Min floor, else the MinSource floor (binary and
// source versions both, as a rebuilt source package would); an install adds
// the package. A reboot clears the reboot flag.
func (s *Sim) Apply(_ context.Context, a api.Action) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Applied = append(s.Applied, a)
	if a.Kind == api.KindReboot {
		s.reboot = false
		return "simulated reboot", nil
	}
	if s.Fail[a.Package] {
		return "simulated failure", fmt.Errorf("simulated failure for %s", a.Package)
	}
	target := a.Version
	if target == "" {
		target = a.Min
	}
	if target == "" {
		target = a.MinSource
	}
	found := false
	if target == "" && len(a.Avoid) > 0 {
		// Only recalled versions to avoid: move past them, as an upgrade
		// to the next build would.
		for _, p := range s.pkgs {
			if p.Name == a.Package {
				target = next(s.rep.Ecosystem, p.Version)
				break
			}
		}
		for i := range s.pkgs {
			if s.pkgs[i].Name == a.Package {
				s.pkgs[i].Version = target
				found = true
			}
		}
		return fmt.Sprintf("simulated: %s -> %s", a.Package, target), nil
	}
	for i := range s.pkgs {
		p := &s.pkgs[i]
		if p.Name != a.Package {
			continue
		}
		found = true
		if a.Version != "" || a.Min != "" {
			p.Version = target
			if a.MinSource == "" && p.SourceVersion != "" && p.SourceName == p.Name {
				p.SourceVersion = target
			}
		}
		if a.MinSource != "" {
			p.SourceVersion = a.MinSource
			if a.Version == "" && a.Min == "" {
				p.Version = a.MinSource
			}
		}
	}
	if !found {
		arch := ""
		if len(s.pkgs) > 0 {
			arch = s.pkgs[0].Arch
		}
		s.pkgs = append(s.pkgs, inventory.Package{Name: a.Package, Version: target, Arch: arch, SourceName: a.Package, SourceVersion: target})
	}
	return fmt.Sprintf("simulated: %s -> %s", a.Package, target), nil
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
