package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/cli"
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

// errUsage marks a bad command line (exit 2).
var errUsage = errors.New("usage")

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if len(args) == 0 {
		_ = root.Help()
		return exitUsage
	}
	failed, err := root.ExecuteContextC(ctx)
	return exitCode(err, failed, stderr)
}

func exitCode(err error, failed *cobra.Command, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "patchbay-agent: %s\n", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
	var ae *agent.APIError
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, cli.HelpHint(failed))
		return exitUsage
	case errors.Is(err, agent.ErrNotEnrolled), errors.As(err, &ae) && (ae.Status == 401 || ae.Status == 403):
		return exitAuth
	case errors.Is(err, agent.ErrUnreachable):
		return exitUnreachable
	}
	return exitFailed
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "patchbay-agent",
		Short: "The patchbay host agent",
		Long: `patchbay-agent runs on each host: it enrolls with a patchbay server, reports
the host's package database, applies what it is assigned and reports the
outcome.

Exit codes:
  0  ok
  1  an action failed, or another error
  2  usage error
  3  server unreachable after retries
  4  not enrolled, or the token was refused`,
		Example: `  patchbay-agent enroll --server http://patchbay.example.org:8080 --token "$ENROLL_TOKEN" --label ring=canary
  patchbay-agent run --once                      # one pass, dry-run executor
  patchbay-agent run --executor apt --interval 15m`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown command %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %v", errUsage, err) })
	root.AddCommand(newEnrollCmd(stdout), newRunCmd(stdout, stderr), &cobra.Command{
		Use:   "version",
		Short: "Print the agent version",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(stdout, version)
			return err
		},
	})
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(root.FlagErrorFunc())
	}
	cli.Setup(root, strings.TrimPrefix(version, "patchbay-agent "))
	return root
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("unexpected argument %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

// labels is a repeatable --label k=v flag.
type labels map[string]string

func (l labels) String() string { return fmt.Sprint(map[string]string(l)) }
func (l labels) Type() string   { return "key=value" }
func (l labels) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value")
	}
	l[k] = val
	return nil
}

func logger(stderr io.Writer) *slog.Logger {
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(stderr, nil))
}

// retryNote says, on stderr, what the agent is doing while the server does
// not answer, instead of waiting in silence.
func retryNote(stderr io.Writer, server string) func(attempt, attempts int, wait time.Duration, err error) {
	return func(attempt, attempts int, wait time.Duration, err error) {
		fmt.Fprintf(stderr, "patchbay-agent: %s: attempt %d of %d failed (%v); retrying in %s\n",
			server, attempt, attempts, err, wait.Round(100*time.Millisecond))
	}
}

func newEnrollCmd(stdout io.Writer) *cobra.Command {
	var server, token, stateDir, hostID, root string
	lb := labels{}
	cmd := &cobra.Command{
		Use:   "enroll",
		Short: "Exchange an enrollment token for this host's own token",
		Long: `Enroll exchanges an enrollment token (patchbay token create --enroll) for
this host's own token and stores it in --state-dir/credentials.json (mode
0600). It collects the host's identity and stream first, so it runs on the
host itself (or with --root on a mounted image).`,
		Example: `  patchbay-agent enroll --server http://patchbay.example.org:8080 --token "$ENROLL_TOKEN"
  patchbay-agent enroll --server http://127.0.0.1:8080 --token T --state-dir ./agent --label ring=canary`,
		Args: noArgs,
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "server base URL, e.g. http://patchbay.example.org:8080 (required)")
	f.StringVar(&token, "token", "", "enrollment token (required)")
	f.StringVar(&stateDir, "state-dir", agent.DefaultStateDir, "directory for credentials and the result spool")
	f.StringVar(&hostID, "host-id", "", "host id (default: /etc/machine-id, else the hostname)")
	f.StringVar(&root, "root", "/", "root of the system to collect")
	f.Var(lb, "label", "a label k=v rings select this host by (repeatable)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if server == "" || token == "" {
			return usageError("enroll: --server and --token are required")
		}
		ctx := cmd.Context()
		rep, err := inventory.Collect(ctx, root, inventory.CollectOptions{HostID: hostID, Labels: lb, AgentVersion: version,
			Now: time.Now().UTC(), RPM: lookRPM()})
		if err != nil {
			return err
		}
		c := &agent.Client{Server: server, Token: token, Retry: agent.DefaultRetry, UserAgent: version, OnRetry: retryNote(cmd.ErrOrStderr(), server)}
		resp, err := c.Enroll(ctx, api.EnrollRequest{HostID: rep.HostID, Hostname: rep.Hostname, Stream: rep.Stream, Arch: rep.Arch, Labels: lb})
		if err != nil {
			return fmt.Errorf("enroll: %w", err)
		}
		if err := agent.SaveCredentials(stateDir, agent.Credentials{Server: server, HostID: resp.HostID, Token: resp.Token}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "enrolled as %s; credentials in %s/%s\n", resp.HostID, stateDir, agent.CredentialsFile)
		return nil
	}
	return cmd
}

// rootPMArgs returns the package manager's arguments for --root: the
// package manager must change the system the agent collects, never this
// one while the agent judges another. dnf gets --installroot=ROOT and apk
// --root ROOT unless pmArgs already name them; apt-get has no such option
// (its RootDir does not move dpkg's maintainer scripts), so --root with
// apt is refused unless pmArgs say how.
func rootPMArgs(t agent.Tool, root string, pmArgs []string) ([]string, error) {
	if root == "" || filepath.Clean(root) == "/" {
		return pmArgs, nil
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, usageError("run: --root %s: %v", root, err)
	}
	has := func(names ...string) bool {
		return slices.ContainsFunc(pmArgs, func(a string) bool {
			return slices.ContainsFunc(names, func(n string) bool { return a == n || strings.HasPrefix(a, n+"=") })
		})
	}
	switch t {
	case agent.Dnf:
		if !has("--installroot") {
			return append([]string{"--installroot=" + abs}, pmArgs...), nil
		}
	case agent.Apk:
		if !has("--root", "-p") {
			return append([]string{"--root", abs}, pmArgs...), nil
		}
	case agent.Apt:
		if len(pmArgs) == 0 {
			return nil, usageError("run: --root %s with --executor apt: apt-get cannot install into another root; run patchbay-agent inside it (chroot %s patchbay-agent run …) or give apt's own options with --pm-arg", root, root)
		}
	}
	return pmArgs, nil
}

// checkRPMDBPath refuses to let dnf patch a root whose rpm database is not
// where this machine's rpm (and so dnf, through librpm) looks: dnf would
// see nothing installed there, write a second database and overwrite the
// root's files, while the collector reads the root's own database
// (var/lib/rpm). Debian's rpm keeps its database in ~/.rpmdb, for one.
func checkRPMDBPath(ctx context.Context, root string) error {
	if _, err := os.Lstat(filepath.Join(root, "var/lib/rpm")); err != nil {
		return nil // no database yet: dnf creates one where rpm looks, and the collector finds it there
	}
	rpm := lookRPM()
	if rpm == "" {
		return fmt.Errorf("run: --root %s: no rpm binary here to read its database (install rpm)", root)
	}
	out, err := exec.CommandContext(ctx, rpm, "--eval", "%{_dbpath}").Output()
	if err != nil {
		return fmt.Errorf("run: rpm --eval %%{_dbpath}: %w", err)
	}
	return rpmDBPathMatches(root, strings.TrimSpace(string(out)))
}

// rpmDBPathMatches reports whether dbpath (rpm's %{_dbpath}) names the
// root's var/lib/rpm, itself or as the target of its symbolic link (newer
// distributions link it to /usr/lib/sysimage/rpm).
func rpmDBPathMatches(root, dbpath string) error {
	want := "/var/lib/rpm"
	if target, err := os.Readlink(filepath.Join(root, "var/lib/rpm")); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join("/var/lib", target)
		}
		want = filepath.Clean(target)
	}
	if filepath.Clean(dbpath) == want || filepath.Clean(dbpath) == "/var/lib/rpm" {
		return nil
	}
	return fmt.Errorf("run: --root %s keeps its rpm database in %s, but this machine's rpm and dnf use %s: dnf would see nothing installed and write a second database; put \"%%_dbpath %s\" into ~/.rpmmacros (or /etc/rpm/macros) and run again", root, want, dbpath, want)
}

func lookRPM() string {
	p, err := exec.LookPath("rpm")
	if err != nil {
		return ""
	}
	return p
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		once                          bool
		interval                      time.Duration
		executor, stateDir            string
		root                          string
		rebootCmd, bootID             string
		rebootGrace                   time.Duration
		preReboot, postBoot           string
		checks, pmArgs                []string
		healthTimeout, refreshTimeout time.Duration
		heartbeat                     time.Duration
	)
	lb := labels{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Report, fetch the assignment, apply it, report the outcome",
		Long: `Run collects the host's packages, reports them (the package-set hash first,
the full list only if the server asks), fetches the assignment and runs it
as one step:

  1. refresh the package indexes once (apt-get update, dnf makecache,
     apk update; bounded by --refresh-timeout; an unreachable repository
     fails the step with that error);
  2. install every package action in one transaction
     (apt-get install -y a=1 b=2, dnf -y install a-1 b-2,
     apk add --virtual .patchbay-step a=1 b=2, then apk del .patchbay-step
     so that world pins nothing).
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

Results are spooled in --state-dir/spool and delivered exactly once, across
restarts; a step interrupted between installing and spooling is judged from
the post-state at the next start.

Liveness: while a step runs (refresh, transaction, health checks, rollback,
report, and after a reboot) the agent sends a heartbeat to the server at
least every --heartbeat (default 1m; the server may ask for less). The
server reclaims a step that goes silent for the ring's strategy.stepTimeout
(default 15m) as timed out, freeing its wave slot; a host that keeps
heartbeating keeps its slot (a long apt run is not reclaimed). Before the
reboot command the agent sends a "rebooting" heartbeat: the server then
allows the step timeout plus 15 minutes for the host to come back. A host
must fetch its actions within 30 minutes of its wave starting: keep
--interval at 15m or less.

The dry-run executor (default) prints the commands it would run and sends
no results. It tells the server it is a dry run: such a host never takes a
wave slot (one already in a wave hands it to the next host), is never timed
out, and is counted as "skipped" when the rollout ends.

Health checks (--health-check, repeatable; run after patching and after a
reboot until they pass or --health-timeout passes):
  systemd:UNIT            systemctl is-active --quiet UNIT
  http:URL                a 2xx answer; the URL must be on localhost
  cmd:COMMAND             sh -c COMMAND exits 0
Hooks and checks come from this host's own command line: the server never
sends commands.

--root DIR patches and collects the system in DIR instead of this one (an
image or a container's root): dnf runs with --installroot=DIR and apk with
--root DIR, unless --pm-arg already names them; rpm reads DIR's database.
apt-get cannot install into another root, so --executor apt with --root
needs the agent to run inside DIR (chroot) or apt's own options in --pm-arg.
dnf refuses a root whose rpm database (var/lib/rpm) is not where this
machine's rpm looks (Debian's rpm uses ~/.rpmdb): put
"%_dbpath /var/lib/rpm" into ~/.rpmmacros.

While the server does not answer, each failed attempt and the wait before
the next is printed to stderr; after the last attempt the agent exits 3.
Exit status 0 also while waiting for a restart it started.`,
		Example: `  patchbay-agent run --once
  patchbay-agent run --executor apt --interval 15m --state-dir /var/lib/patchbay-agent
  patchbay-agent run --executor apt --health-check systemd:nginx \
      --health-check http:http://127.0.0.1:8080/healthz \
      --pre-reboot-hook 'kubectl drain "$(hostname)" --ignore-daemonsets' \
      --post-boot-hook 'kubectl uncordon "$(hostname)"'
  patchbay-agent run --executor dnf --root /srv/rocky9 --pm-arg=--releasever=9
  patchbay-agent run --executor apk --root /srv/alpine`,
		Args: noArgs,
	}
	f := cmd.Flags()
	f.BoolVar(&once, "once", false, "run one pass and exit")
	f.DurationVar(&interval, "interval", 15*time.Minute, "time between passes")
	f.StringVar(&executor, "executor", "dry-run", "dry-run|apt|dnf|apk")
	f.StringVar(&stateDir, "state-dir", agent.DefaultStateDir, "directory with credentials.json, the result spool and the step markers")
	f.StringVar(&root, "root", "/", "root of the system to collect and patch (dnf --installroot, apk --root)")
	f.StringVar(&rebootCmd, "reboot-command", agent.DefaultRebootCommand, "command (sh -c) that restarts the host when a reboot action needs it")
	f.StringVar(&bootID, "boot-id-file", agent.DefaultBootIDPath, "file holding the running boot's id; a changed id proves the restart")
	f.DurationVar(&rebootGrace, "reboot-grace", 15*time.Minute, "how long to wait for the boot id to change before the reboot counts as failed")
	f.StringVar(&preReboot, "pre-reboot-hook", "", "command (sh -c) run before rebooting, e.g. to drain the host; failure cancels the reboot")
	f.StringVar(&postBoot, "post-boot-hook", "", "command (sh -c) run after the restart, before the health checks")
	f.StringArrayVar(&checks, "health-check", nil, "health check after patching and after reboot (repeatable): systemd:UNIT, http:URL on localhost, or cmd:COMMAND")
	f.DurationVar(&healthTimeout, "health-timeout", time.Minute, "how long the health checks may take to pass")
	f.DurationVar(&refreshTimeout, "refresh-timeout", 5*time.Minute, "bound on the package index refresh (apt-get update, dnf makecache, apk update)")
	f.DurationVar(&heartbeat, "heartbeat", agent.DefaultHeartbeatEvery, "longest interval between heartbeats while a step runs (the server may ask for less)")
	f.StringArrayVar(&pmArgs, "pm-arg", nil, "argument inserted after the package manager's name (repeatable), e.g. --pm-arg=--root --pm-arg=/srv/alpine")
	f.Var(lb, "label", "a label k=v sent with every report (repeatable)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if interval <= 0 {
			return usageError("run: --interval must be positive")
		}
		if heartbeat < time.Second || heartbeat > 5*time.Minute {
			return usageError("run: --heartbeat %s: want between 1s and 5m (the server reclaims a step silent for its ring's stepTimeout)", heartbeat)
		}
		var pm agent.PackageManager
		switch executor {
		case "dry-run":
		case "apt", "dnf", "apk":
			extra, err := rootPMArgs(agent.Tool(executor), root, pmArgs)
			if err != nil {
				return err
			}
			if executor == "dnf" && filepath.Clean(root) != "/" {
				if err := checkRPMDBPath(cmd.Context(), root); err != nil {
					return err
				}
			}
			pm = agent.CommandPM{Tool: agent.Tool(executor), Extra: extra, Out: stderr, RefreshTimeout: refreshTimeout}
		default:
			return usageError("run: --executor %q: want dry-run, apt, dnf or apk", executor)
		}
		var health []agent.Check
		for _, spec := range checks {
			c, err := agent.ParseCheck(spec)
			if err != nil {
				return usageError("run: --health-check: %v", err)
			}
			health = append(health, c)
		}
		creds, err := agent.LoadCredentials(stateDir)
		if err != nil {
			return err
		}
		var l map[string]string
		if len(lb) > 0 {
			l = lb
		}
		a := &agent.Agent{
			Client: &agent.Client{Server: creds.Server, Token: creds.Token, Retry: agent.DefaultRetry, UserAgent: version,
				OnRetry: retryNote(stderr, creds.Server)},
			HostID:         creds.HostID,
			Collector:      agent.LocalCollector{Root: root, Opts: inventory.CollectOptions{HostID: creds.HostID, Labels: l, AgentVersion: version, RPM: lookRPM()}, Now: time.Now},
			PM:             pm,
			Boot:           agent.CommandRebooter{Command: rebootCmd, BootIDPath: bootID},
			Hooks:          agent.Hooks{PreReboot: preReboot, PostBoot: postBoot},
			Health:         health,
			HealthTimeout:  healthTimeout,
			RebootGrace:    rebootGrace,
			HeartbeatEvery: heartbeat,
			Spool:          agent.Spool{Dir: stateDir},
			Out:            stdout,
			Log:            logger(stderr),
		}
		if once {
			o, err := a.RunOnce(cmd.Context())
			if o.Rebooting {
				fmt.Fprintln(stdout, "reboot started; the next run after the restart reports it")
			}
			if errors.Is(err, agent.ErrRebootPending) {
				fmt.Fprintf(stdout, "%v\n", err)
				return nil
			}
			return err
		}
		return a.Run(cmd.Context(), interval)
	}
	return cmd
}
