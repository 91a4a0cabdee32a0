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
//	apk add --virtual .patchbay-step a=1 b=2   (--upgrade a b for candidates only)
//
// apk records every constraint it is given in its world file, so a plain
// `apk add a=1` would pin a at 1 for good: the host's own `apk upgrade`
// would never move it again, and a rollback would pin the old version. The
// constraints go to a virtual package instead, which FollowUpCommands
// removes after the transaction (the installed versions stay, as apk
// prefers them); a constraint the operator pinned in world still holds,
// and a version that contradicts it fails the transaction.
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
		args = append(args, "add", "--virtual", apkStep)
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

// apkStep is the virtual package that holds a step's apk constraints.
const apkStep = ".patchbay-step"

// FollowUpCommands builds what runs after a successful InstallCommand to
// leave the package manager's record of what the operator asked for as it
// was. Only apk needs it: a package the step newly installs joins world
// (unversioned: it is wanted, not pinned), then the step's virtual package
// goes.
//
//	apk add c                  (only for KindInstall requests)
//	apk del .patchbay-step
func FollowUpCommands(t Tool, reqs []Request, extra ...string) []Command {
	if t != Apk {
		return nil
	}
	var cs []Command
	var installs []string
	for _, r := range reqs {
		if r.Kind == api.KindInstall {
			installs = append(installs, r.Package)
		}
	}
	if len(installs) > 0 {
		cs = append(cs, Command{Args: append(append(append([]string{"apk"}, extra...), "add"), installs...)})
	}
	return append(cs, Command{Args: append(append([]string{"apk"}, extra...), "del", apkStep)})
}

func target(r Request, sep string) string {
	if r.Version == "" {
		return r.Package
	}
	return r.Package + sep + r.Version
}

// RefreshCommand builds the index refresh: apt-get update (any failed
// index is an error), dnf makecache with skip_if_unavailable off (Debian's
// and some distributions' dnf.conf skip an unreachable repository and exit
// 0), apk update (its exit status counts unreachable remote repositories;
// CommandPM.Refresh also reads its warnings about local ones).
func RefreshCommand(t Tool, extra ...string) (Command, error) {
	switch t {
	case Apt:
		args := append([]string{"apt-get"}, extra...)
		return Command{Args: append(args, "update", "-q", "-o", "APT::Update::Error-Mode=any"), Env: []string{"DEBIAN_FRONTEND=noninteractive"}}, nil
	case Dnf:
		args := append([]string{"dnf"}, extra...)
		return Command{Args: append(args, "-y", "--setopt=skip_if_unavailable=False", "makecache", "--refresh")}, nil
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
	if p.Tool == Apk {
		if bad := apkRepoWarnings(out); len(bad) > 0 {
			return fmt.Errorf("%w: %s: a repository could not be read:\n%s", ErrRefresh, c, strings.Join(bad, "\n"))
		}
	}
	return nil
}

// apkRepoWarnings returns apk's warnings about repositories it could not
// read. apk update exits 0 when a repository on a local path is missing or
// its index is not trusted; it only warns ("WARNING: opening
// /srv/repo/Packages.adb: No such file or directory").
func apkRepoWarnings(out string) []string {
	var bad []string
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(l), "WARNING: ")
		if !ok {
			continue
		}
		for _, action := range []string{"opening", "fetching", "updating"} {
			if strings.HasPrefix(rest, action+" ") {
				bad = append(bad, strings.TrimSpace(l))
				break
			}
		}
	}
	return bad
}

// OfferedCommand builds the query of the versions the repositories offer
// of pkgs (what is only installed does not count):
//
//	apt-cache madison a b
//	dnf -q --cacheonly repoquery --showduplicates --available --queryformat '%{name} %{evr}' a b
//	apk policy a b
//
// dnf reads the cache the refresh made; repoquery's format keeps each
// version on one line whatever the terminal width (dnf list wraps long
// names onto two lines).
func OfferedCommand(t Tool, pkgs []string, extra ...string) (Command, error) {
	var args []string
	switch t {
	case Apt:
		args = append(append([]string{"apt-cache"}, extra...), "madison")
	case Dnf:
		args = append(append([]string{"dnf"}, extra...), "-q", "--cacheonly", "repoquery", "--showduplicates", "--available", "--queryformat", "%{name} %{evr}")
	case Apk:
		args = append(append([]string{"apk"}, extra...), "policy")
	default:
		return Command{}, fmt.Errorf("unknown package manager %q", t)
	}
	return Command{Args: append(args, pkgs...)}, nil
}

// ParseOffered reads the output of OfferedCommand: the versions offered of
// each of pkgs, in the order listed. Lines about other packages are
// ignored; so are versions apk lists only from its installed database
// (lib/apk/db/installed), which no repository offers.
func ParseOffered(t Tool, output string, pkgs []string) map[string][]string {
	out := map[string][]string{}
	want := make(map[string]bool, len(pkgs))
	for _, p := range pkgs {
		want[p] = true
	}
	add := func(name, v string) {
		if want[name] && v != "" && !slices.Contains(out[name], v) {
			out[name] = append(out[name], v)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(output))
	cur, curVer := "", ""
	for sc.Scan() {
		line := sc.Text()
		switch t {
		case Apt: // "   pkg | 1.0-1 | file:/repo ./ Packages"
			f := strings.Split(line, "|")
			if len(f) >= 3 {
				add(strings.TrimSpace(f[0]), strings.TrimSpace(f[1]))
			}
		case Dnf: // "pkg 1.0-1" (name, [epoch:]version-release)
			if f := strings.Fields(line); len(f) == 2 {
				add(f[0], f[1])
			}
		case Apk: // "pkg policy:\n  1.0-r0:\n    lib/apk/db/installed\n    /srv/repo/Packages.adb"
			switch {
			case strings.HasSuffix(line, " policy:") && !strings.HasPrefix(line, " "):
				cur, curVer = strings.TrimSuffix(line, " policy:"), ""
			case strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") && strings.HasSuffix(line, ":"):
				curVer = strings.TrimSuffix(strings.TrimSpace(line), ":")
			case strings.HasPrefix(line, "    ") && curVer != "":
				if repo := strings.TrimSpace(line); repo != "lib/apk/db/installed" && !strings.HasSuffix(repo, "/lib/apk/db/installed") {
					add(cur, curVer)
				}
			}
		}
	}
	return out
}

// Offered implements PackageManager with OfferedCommand.
func (p CommandPM) Offered(ctx context.Context, reqs []Request) (map[string][]string, error) {
	var pkgs []string
	for _, r := range reqs {
		if !slices.Contains(pkgs, r.Package) {
			pkgs = append(pkgs, r.Package)
		}
	}
	if len(pkgs) == 0 {
		return map[string][]string{}, nil
	}
	c, err := OfferedCommand(p.Tool, pkgs, p.Extra...)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Env = append(os.Environ(), c.Env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		// Fail closed: an empty answer from a failed query would read as
		// "the repository offers nothing" and skip the transaction or the
		// rollback for the wrong reason. (apt-cache madison, dnf
		// repoquery and apk policy exit 0 when a package is unknown.)
		return nil, fmt.Errorf("%s: %w: %s", c, err, strings.TrimSpace(tail(stderr.String(), 1000)))
	}
	return ParseOffered(p.Tool, string(b), pkgs), nil
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
	for _, f := range FollowUpCommands(p.Tool, reqs, p.Extra...) {
		out, err := p.run(ctx, f)
		detail += "\n" + f.String() + "\n" + tail(out, 1000)
		if err != nil {
			return detail, fmt.Errorf("%s (after the transaction): %w", f, err)
		}
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
