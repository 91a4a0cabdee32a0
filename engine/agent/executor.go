package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// Executor applies one action to the host. Its error says the attempt
// failed to run; whether the action succeeded is decided afterwards from
// the post-state (Satisfied), never from the executor.
type Executor interface {
	Apply(ctx context.Context, a api.Action) (detail string, err error)
}

// ErrSkipped is returned by executors for actions they do not perform
// (reboots, dry runs): no result is sent for them.
var ErrSkipped = errors.New("skipped")

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

// AptCommand builds the apt-get invocation for a: an exact version as
// name=version, a floor as the bare name (apt installs the candidate);
// upgrades pass --only-upgrade so a package that vanished is not
// reinstalled, downgrades --allow-downgrades; configuration files are kept
// (--force-confold) and nothing prompts (DEBIAN_FRONTEND=noninteractive).
func AptCommand(a api.Action) (Command, error) {
	if a.Package == "" {
		return Command{}, fmt.Errorf("apt: %s action without a package: %w", a.Kind, ErrSkipped)
	}
	args := []string{"apt-get", "install", "-y", "-o", "Dpkg::Options::=--force-confold", "-o", "Dpkg::Options::=--force-confdef"}
	switch a.Kind {
	case api.KindUpgrade:
		args = append(args, "--only-upgrade")
	case api.KindDowngrade:
		args = append(args, "--allow-downgrades")
	}
	target := a.Package
	if a.Version != "" {
		target += "=" + a.Version
	}
	return Command{Args: append(args, target), Env: []string{"DEBIAN_FRONTEND=noninteractive"}}, nil
}

// DnfCommand builds the dnf invocation: `dnf -y upgrade name` for floors,
// `dnf -y install name-version` (or downgrade) for exact versions.
func DnfCommand(a api.Action) (Command, error) {
	if a.Package == "" {
		return Command{}, fmt.Errorf("dnf: %s action without a package: %w", a.Kind, ErrSkipped)
	}
	switch {
	case a.Version != "" && a.Kind == api.KindDowngrade:
		return Command{Args: []string{"dnf", "-y", "downgrade", a.Package + "-" + a.Version}}, nil
	case a.Version != "":
		return Command{Args: []string{"dnf", "-y", "install", a.Package + "-" + a.Version}}, nil
	case a.Kind == api.KindInstall:
		return Command{Args: []string{"dnf", "-y", "install", a.Package}}, nil
	}
	return Command{Args: []string{"dnf", "-y", "upgrade", a.Package}}, nil
}

// ApkCommand builds the apk invocation: `apk add --upgrade name` for
// floors, `apk add name=version` for exact versions.
func ApkCommand(a api.Action) (Command, error) {
	if a.Package == "" {
		return Command{}, fmt.Errorf("apk: %s action without a package: %w", a.Kind, ErrSkipped)
	}
	if a.Version != "" {
		return Command{Args: []string{"apk", "add", a.Package + "=" + a.Version}}, nil
	}
	return Command{Args: []string{"apk", "add", "--upgrade", a.Package}}, nil
}

// CommandFor returns the command builder of an ecosystem's package manager.
func CommandFor(eco vercmp.Ecosystem) (func(api.Action) (Command, error), error) {
	switch eco {
	case vercmp.Deb:
		return AptCommand, nil
	case vercmp.RPM:
		return DnfCommand, nil
	case vercmp.APK:
		return ApkCommand, nil
	}
	return nil, fmt.Errorf("no package manager for ecosystem %q", eco)
}

// CommandExecutor runs a package manager. Reboot actions are skipped: the
// agent never reboots a host on its own.
type CommandExecutor struct {
	Build func(api.Action) (Command, error)
	// DryRun prints the commands to Out instead of running them.
	DryRun bool
	// Out receives the dry run's lines and the commands' output.
	Out io.Writer
}

// Apply runs (or prints) the command for a.
func (e CommandExecutor) Apply(ctx context.Context, a api.Action) (string, error) {
	if a.Kind == api.KindReboot {
		if e.DryRun {
			fmt.Fprintf(e.Out, "dry-run: would leave reboot to the operator (reboot required by %s)\n", strings.Join(a.Rules, ", "))
		}
		return "reboot left to the operator", ErrSkipped
	}
	c, err := e.Build(a)
	if err != nil {
		return "", err
	}
	if e.DryRun {
		fmt.Fprintf(e.Out, "dry-run: would run: %s\n", c)
		return "dry run: " + c.String(), ErrSkipped
	}
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Env = append(os.Environ(), c.Env...)
	var buf strings.Builder
	w := io.Writer(&buf)
	if e.Out != nil {
		w = io.MultiWriter(&buf, e.Out)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Run()
	out := buf.String()
	if len(out) > 4000 {
		out = "…" + out[len(out)-4000:]
	}
	detail := c.String() + "\n" + out
	if err != nil {
		return detail, fmt.Errorf("%s: %w", c.Args[0], err)
	}
	return detail, nil
}
