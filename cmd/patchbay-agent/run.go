package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/inventory"
)

// Exit codes of patchbay-agent.
const (
	exitOK          = 0 // done
	exitFailed      = 1 // an action's post-state does not satisfy it, or another error
	exitUsage       = 2 // bad command line
	exitUnreachable = 3 // the server could not be reached after retries
	exitAuth        = 4 // not enrolled, or the server refused the token
)

// version is the agent's version, reported with every report.
const version = "patchbay-agent 0.1.0"

const usage = `patchbay-agent — the patchbay host agent

Usage:
  patchbay-agent enroll --server URL --token T [--state-dir DIR] [--host-id ID] [--label k=v ...]
  patchbay-agent run [--once] [--interval D] [--executor dry-run|apt|dnf|apk] [--state-dir DIR] [--root DIR]
                     [--reboot-command CMD] [--boot-id-file F] [--pre-reboot-hook CMD] [--post-boot-hook CMD]
                     [--health-check SPEC ...] [--health-timeout D] [--refresh-timeout D] [--pm-arg ARG ...]

enroll exchanges an enrollment token (patchbay token create --enroll) for
this host's own token and stores it in DIR/credentials.json (mode 0600).

run collects the host's packages, reports them (the package-set hash first,
the full list only if the server asks), fetches the assignment and runs it
as one step:

  1. refresh the package indexes once (apt-get update, dnf makecache,
     apk update; bounded by --refresh-timeout; an unreachable repository
     fails the step with that error);
  2. install every package action in one transaction
     (apt-get install -y a=1 b=2, dnf -y install a-1 b-2, apk add a=1 b=2).
     A promotion names the exact versions the previous ring ran (its tested
     set); a version not in that set is never installed ("version not in
     tested set"), and a tested version the repository no longer offers is
     reported per host;
  3. re-collect and judge every action from the post-state (versions
     compared per ecosystem, never the exit status of a command);
  4. run the health checks; a failing check fails the step, and with the
     ring's strategy.rollback "on-failure" the packages return to the
     versions found (or the agent says why it cannot);
  5. reboot when the ring's policy says so: "always", or "if-required"
     when the host reports that it needs one. The agent spools a
     "rebooting" marker, runs --pre-reboot-hook, then --reboot-command.
     After the restart it sees the changed boot id (--boot-id-file), runs
     --post-boot-hook and the health checks, and reports the reboot once.
     It never runs the reboot command twice for one action.

Results are spooled in DIR/spool and delivered exactly once, across
restarts; a step interrupted between installing and spooling is judged
from the post-state at the next start. The dry-run executor (default)
prints the commands it would run and sends no results.

Health checks (--health-check, repeatable; run after patching and after a
reboot until they pass or --health-timeout passes):
  systemd:UNIT            systemctl is-active --quiet UNIT
  http:URL                a 2xx answer; the URL must be on localhost
  cmd:COMMAND             sh -c COMMAND exits 0
Hooks and checks come from this host's own command line: the server never
sends commands.

Examples:
  patchbay-agent run --once --executor apt
  patchbay-agent run --executor apt --health-check systemd:nginx \
      --health-check http:http://127.0.0.1:8080/healthz \
      --pre-reboot-hook 'kubectl drain "$(hostname)" --ignore-daemonsets' \
      --post-boot-hook 'kubectl uncordon "$(hostname)"'
  patchbay-agent run --executor apk --pm-arg=--root --pm-arg=/srv/alpine --root /srv/alpine

Exit codes:
  0  ok (also while waiting for a restart it started)
  1  an action failed, or another error
  2  usage error
  3  server unreachable after retries
  4  not enrolled, or the token was refused
`

func run(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	var err error
	switch args[0] {
	case "enroll":
		err = enroll(ctx, args[1:], stdout, stderr)
	case "run":
		err = runAgent(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version)
	default:
		err = usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	return exitCode(err, stderr)
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "patchbay-agent: %v\n", err)
	var ue usageError
	var ae *agent.APIError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "Run 'patchbay-agent --help' for usage.")
		return exitUsage
	case errors.Is(err, agent.ErrNotEnrolled), errors.As(err, &ae) && (ae.Status == 401 || ae.Status == 403):
		return exitAuth
	case errors.Is(err, agent.ErrUnreachable):
		return exitUnreachable
	}
	return exitFailed
}

type labels map[string]string

func (l labels) String() string { return fmt.Sprint(map[string]string(l)) }
func (l labels) Set(v string) error {
	k, val, ok := cutEq(v)
	if !ok {
		return fmt.Errorf("want key=value")
	}
	l[k] = val
	return nil
}

func cutEq(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return s[:i], s[i+1:], i > 0
		}
	}
	return "", "", false
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func logger(stderr io.Writer) *slog.Logger {
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(stderr, nil))
}

func enroll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("enroll", stderr)
	server := fs.String("server", "", "server base URL, e.g. http://patchbay.example.org:8080 (required)")
	token := fs.String("token", "", "enrollment token (required)")
	stateDir := fs.String("state-dir", agent.DefaultStateDir, "directory for credentials and the result spool")
	hostID := fs.String("host-id", "", "host id (default: /etc/machine-id, else the hostname)")
	root := fs.String("root", "/", "root of the system to collect")
	lb := labels{}
	fs.Var(lb, "label", "a label k=v rings select this host by (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *server == "" || *token == "" {
		return usageError{"enroll: --server and --token are required"}
	}
	rep, err := inventory.Collect(ctx, *root, inventory.CollectOptions{HostID: *hostID, Labels: lb, AgentVersion: version,
		Now: time.Now().UTC(), RPM: lookRPM()})
	if err != nil {
		return err
	}
	c := &agent.Client{Server: *server, Token: *token, Retry: agent.DefaultRetry, UserAgent: version}
	resp, err := c.Enroll(ctx, api.EnrollRequest{HostID: rep.HostID, Hostname: rep.Hostname, Stream: rep.Stream, Arch: rep.Arch, Labels: lb})
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	if err := agent.SaveCredentials(*stateDir, agent.Credentials{Server: *server, HostID: resp.HostID, Token: resp.Token}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "enrolled as %s; credentials in %s/%s\n", resp.HostID, *stateDir, agent.CredentialsFile)
	return nil
}

func lookRPM() string {
	p, err := exec.LookPath("rpm")
	if err != nil {
		return ""
	}
	return p
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ", ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	once := fs.Bool("once", false, "run one pass and exit")
	interval := fs.Duration("interval", 15*time.Minute, "time between passes")
	executor := fs.String("executor", "dry-run", "dry-run|apt|dnf|apk")
	stateDir := fs.String("state-dir", agent.DefaultStateDir, "directory with credentials.json, the result spool and the step markers")
	root := fs.String("root", "/", "root of the system to collect")
	rebootCmd := fs.String("reboot-command", agent.DefaultRebootCommand, "command (sh -c) that restarts the host when a reboot action needs it")
	bootID := fs.String("boot-id-file", agent.DefaultBootIDPath, "file holding the running boot's id; a changed id proves the restart")
	rebootGrace := fs.Duration("reboot-grace", 15*time.Minute, "how long to wait for the boot id to change before the reboot counts as failed")
	preReboot := fs.String("pre-reboot-hook", "", "command (sh -c) run before rebooting, e.g. to drain the host; failure cancels the reboot")
	postBoot := fs.String("post-boot-hook", "", "command (sh -c) run after the restart, before the health checks")
	var checks multi
	fs.Var(&checks, "health-check", "health check after patching and after reboot (repeatable): systemd:UNIT, http://localhost URL as http:URL, or cmd:COMMAND")
	healthTimeout := fs.Duration("health-timeout", time.Minute, "how long the health checks may take to pass")
	refreshTimeout := fs.Duration("refresh-timeout", 5*time.Minute, "bound on the package index refresh (apt-get update, dnf makecache, apk update)")
	var pmArgs multi
	fs.Var(&pmArgs, "pm-arg", "argument inserted after the package manager's name (repeatable), e.g. --pm-arg=--root --pm-arg=/srv/alpine")
	lb := labels{}
	fs.Var(lb, "label", "a label k=v sent with every report (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(stdout, usage)
		fmt.Fprintln(stdout, "\nFlags of run:")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *interval <= 0 {
		return usageError{"run: --interval must be positive"}
	}
	var pm agent.PackageManager
	switch *executor {
	case "dry-run":
	case "apt", "dnf", "apk":
		pm = agent.CommandPM{Tool: agent.Tool(*executor), Extra: pmArgs, Out: stderr, RefreshTimeout: *refreshTimeout}
	default:
		return usageError{fmt.Sprintf("run: --executor %q: want dry-run, apt, dnf or apk", *executor)}
	}
	var health []agent.Check
	for _, spec := range checks {
		c, err := agent.ParseCheck(spec)
		if err != nil {
			return usageError{"run: --health-check: " + err.Error()}
		}
		health = append(health, c)
	}
	creds, err := agent.LoadCredentials(*stateDir)
	if err != nil {
		return err
	}
	var l map[string]string
	if len(lb) > 0 {
		l = lb
	}
	a := &agent.Agent{
		Client:        &agent.Client{Server: creds.Server, Token: creds.Token, Retry: agent.DefaultRetry, UserAgent: version},
		HostID:        creds.HostID,
		Collector:     agent.LocalCollector{Root: *root, Opts: inventory.CollectOptions{HostID: creds.HostID, Labels: l, AgentVersion: version, RPM: lookRPM()}, Now: time.Now},
		PM:            pm,
		Boot:          agent.CommandRebooter{Command: *rebootCmd, BootIDPath: *bootID},
		Hooks:         agent.Hooks{PreReboot: *preReboot, PostBoot: *postBoot},
		Health:        health,
		HealthTimeout: *healthTimeout,
		RebootGrace:   *rebootGrace,
		Spool:         agent.Spool{Dir: *stateDir},
		Out:           stdout,
		Log:           logger(stderr),
	}
	if *once {
		o, err := a.RunOnce(ctx)
		if o.Rebooting {
			fmt.Fprintln(stdout, "reboot started; the next run after the restart reports it")
		}
		if errors.Is(err, agent.ErrRebootPending) {
			fmt.Fprintf(stdout, "%v\n", err)
			return nil
		}
		return err
	}
	return a.Run(ctx, *interval)
}
