package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// PackageManager is the host's package manager as the agent drives it: one
// index refresh per run, the versions the repositories offer, and one
// transaction for all of a step's packages. Whether a step succeeded is
// decided afterwards from the re-collected post-state (Satisfied), never
// from an exit status.
type PackageManager interface {
	// Refresh updates the package indexes (apt-get update, dnf makecache,
	// apk update). An unreachable repository is an error.
	Refresh(ctx context.Context) error
	// Offered returns the versions the repositories offer of each requested
	// package (a package absent from the map is offered in no version).
	Offered(ctx context.Context, reqs []Request) (map[string][]string, error)
	// Install runs one transaction that brings every request to its
	// version (the candidate when Version is empty) and returns its output.
	Install(ctx context.Context, reqs []Request) (detail string, err error)
}

// Request is one package of a transaction.
type Request struct {
	Package string
	// Version is the exact version; empty means the repository's candidate.
	Version string
	// Kind is api.KindInstall, KindUpgrade or KindDowngrade.
	Kind string
	// Min and MinSource are the action's floors. A real package manager
	// ignores them (it installs its candidate, and the post-state decides);
	// agenttest's simulated repository offers them as its candidate.
	Min, MinSource string
}

// Command is a package-manager invocation.
type Command struct {
	Args []string
	// Env is added to the agent's environment.
	Env []string
}

func (c Command) String() string {
	s := strings.Join(c.Args, " ")
	if len(c.Env) > 0 {
		s = strings.Join(c.Env, " ") + " " + s
	}
	return s
}

// Tool names a package manager family.
type Tool string

// The package managers the agent drives.
const (
	Apt Tool = "apt"
	Dnf Tool = "dnf"
	Apk Tool = "apk"
)

// ToolFor returns the package manager of an ecosystem.
func ToolFor(eco vercmp.Ecosystem) (Tool, error) {
	switch eco {
	case vercmp.Deb:
		return Apt, nil
	case vercmp.RPM:
		return Dnf, nil
	case vercmp.APK:
		return Apk, nil
	}
	return "", fmt.Errorf("no package manager for ecosystem %q", eco)
}

// InstallCommand builds the one invocation that installs reqs:
//
//	apt-get install -y [--only-upgrade] [--allow-downgrades] a=1 b=2
//	dnf -y install a-1 b-2    (dnf -y upgrade a b for candidates only)
//	apk add a=1 b=2           (apk add --upgrade a b for candidates only)
//
// apt keeps configuration files (--force-confold) and never prompts;
// --only-upgrade is passed when every request is an upgrade, so a package
// that vanished is not reinstalled. extra is inserted after the program
// name (e.g. dnf --installroot, apk --root).
func InstallCommand(t Tool, reqs []Request, extra ...string) (Command, error) {
	if len(reqs) == 0 {
		return Command{}, errors.New("install: no packages")
	}
	allUpgrade, anyDown, anyExact := true, false, false
	for _, r := range reqs {
		allUpgrade = allUpgrade && r.Kind == api.KindUpgrade
		anyDown = anyDown || r.Kind == api.KindDowngrade
		anyExact = anyExact || r.Version != ""
	}
	switch t {
	case Apt:
		args := append([]string{"apt-get"}, extra...)
		args = append(args, "install", "-y", "-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef")
		if allUpgrade {
			args = append(args, "--only-upgrade")
		}
		if anyDown {
			args = append(args, "--allow-downgrades")
		}
		for _, r := range reqs {
			args = append(args, target(r, "="))
		}
		return Command{Args: args, Env: []string{"DEBIAN_FRONTEND=noninteractive"}}, nil
	case Dnf:
		args := append([]string{"dnf"}, extra...)
		args = append(args, "-y")
		switch {
		case anyDown && !slices.ContainsFunc(reqs, func(r Request) bool { return r.Kind != api.KindDowngrade }):
			args = append(args, "downgrade")
		case !anyExact && allUpgrade:
			args = append(args, "upgrade")
		default:
			args = append(args, "install")
		}
		for _, r := range reqs {
			args = append(args, target(r, "-"))
		}
		return Command{Args: args}, nil
	case Apk:
		args := append([]string{"apk"}, extra...)
		args = append(args, "add")
		if !anyExact {
			args = append(args, "--upgrade")
		}
		for _, r := range reqs {
			args = append(args, target(r, "="))
		}
		return Command{Args: args}, nil
	}
	return Command{}, fmt.Errorf("unknown package manager %q", t)
}

func target(r Request, sep string) string {
	if r.Version == "" {
		return r.Package
	}
	return r.Package + sep + r.Version
}

// RefreshCommand builds the index refresh: apt-get update (any failed
// index is an error), dnf makecache, apk update.
func RefreshCommand(t Tool, extra ...string) (Command, error) {
	switch t {
	case Apt:
		args := append([]string{"apt-get"}, extra...)
		return Command{Args: append(args, "update", "-q", "-o", "APT::Update::Error-Mode=any"), Env: []string{"DEBIAN_FRONTEND=noninteractive"}}, nil
	case Dnf:
		args := append([]string{"dnf"}, extra...)
		return Command{Args: append(args, "-y", "makecache", "--refresh")}, nil
	case Apk:
		args := append([]string{"apk"}, extra...)
		return Command{Args: append(args, "update")}, nil
	}
	return Command{}, fmt.Errorf("unknown package manager %q", t)
}

// CommandPM drives a real package manager.
type CommandPM struct {
	Tool Tool
	// Extra is inserted after the program name in every invocation, e.g.
	// ["--installroot", "/srv/root"] for dnf or ["--root", R] for apk.
	Extra []string
	// Out receives the commands' output as they run (nil: none).
	Out io.Writer
	// RefreshTimeout bounds the index refresh (default 5 minutes).
	RefreshTimeout time.Duration
}

// Refresh implements PackageManager.
func (p CommandPM) Refresh(ctx context.Context) error {
	c, err := RefreshCommand(p.Tool, p.Extra...)
	if err != nil {
		return err
	}
	d := p.RefreshTimeout
	if d <= 0 {
		d = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	out, err := p.run(ctx, c)
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s did not finish within %s", ErrRefresh, c, d)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v\n%s", ErrRefresh, c, err, tail(out, 2000))
	}
	return nil
}

// Offered implements PackageManager: apt-cache madison, dnf list
// --showduplicates, apk policy.
func (p CommandPM) Offered(ctx context.Context, reqs []Request) (map[string][]string, error) {
	out := map[string][]string{}
	var pkgs []string
	for _, r := range reqs {
		if !slices.Contains(pkgs, r.Package) {
			pkgs = append(pkgs, r.Package)
		}
	}
	if len(pkgs) == 0 {
		return out, nil
	}
	var c Command
	switch p.Tool {
	case Apt:
		c = Command{Args: append(append(append([]string{"apt-cache"}, p.Extra...), "madison"), pkgs...)}
	case Dnf:
		c = Command{Args: append(append(append([]string{"dnf"}, p.Extra...), "-q", "--cacheonly", "list", "--showduplicates", "--available", "--installed"), pkgs...)}
	case Apk:
		c = Command{Args: append(append(append([]string{"apk"}, p.Extra...), "policy"), pkgs...)}
	default:
		return nil, fmt.Errorf("unknown package manager %q", p.Tool)
	}
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Env = append(os.Environ(), c.Env...)
	b, err := cmd.Output()
	if err != nil && len(b) == 0 {
		// apt-cache madison and dnf list fail when no package matches.
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out, nil
		}
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	want := map[string]bool{}
	for _, p := range pkgs {
		want[p] = true
	}
	add := func(name, v string) {
		if want[name] && v != "" && !slices.Contains(out[name], v) {
			out[name] = append(out[name], v)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	cur := ""
	for sc.Scan() {
		line := sc.Text()
		switch p.Tool {
		case Apt: // "   pkg | 1.0-1 | file:/repo ./ Packages"
			f := strings.Split(line, "|")
			if len(f) >= 3 {
				add(strings.TrimSpace(f[0]), strings.TrimSpace(f[1]))
			}
		case Dnf: // "pkg.x86_64   1.0-1   repo"
			f := strings.Fields(line)
			if len(f) >= 3 && strings.Contains(f[0], ".") {
				name := f[0][:strings.LastIndex(f[0], ".")]
				add(name, f[1])
			}
		case Apk: // "pkg policy:\n  1.0-r0:\n    /repo"
			switch {
			case strings.HasSuffix(line, " policy:"):
				cur = strings.TrimSuffix(line, " policy:")
			case strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "    ") && strings.HasSuffix(line, ":"):
				add(cur, strings.TrimSuffix(strings.TrimSpace(line), ":"))
			}
		}
	}
	return out, nil
}

// Install implements PackageManager.
func (p CommandPM) Install(ctx context.Context, reqs []Request) (string, error) {
	c, err := InstallCommand(p.Tool, reqs, p.Extra...)
	if err != nil {
		return "", err
	}
	out, err := p.run(ctx, c)
	detail := c.String() + "\n" + tail(out, 4000)
	if err != nil {
		return detail, fmt.Errorf("%s: %w", c.Args[0], err)
	}
	return detail, nil
}

func (p CommandPM) run(ctx context.Context, c Command) (string, error) {
	if p.Out != nil {
		fmt.Fprintf(p.Out, "$ %s\n", c)
	}
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Env = append(os.Environ(), c.Env...)
	var buf strings.Builder
	w := io.Writer(&buf)
	if p.Out != nil {
		w = io.MultiWriter(&buf, p.Out)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	return buf.String(), err
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
