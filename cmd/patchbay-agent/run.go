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

enroll exchanges an enrollment token (patchbay token create --enroll) for
this host's own token and stores it in DIR/credentials.json (mode 0600).

run collects the host's packages, reports them (the package-set hash first,
the full list only if the server asks), fetches the assignment, applies it
with the executor, re-collects, reports the post-state and sends per-action
results. An action succeeded when the post-state satisfies it (versions
compared per ecosystem), not when the command exited 0. Results are spooled
in DIR/spool and delivered exactly once, across restarts. The dry-run
executor (default) prints the package-manager commands it would run and
sends no results. Reboots are never performed by the agent.

Exit codes:
  0  ok
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

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	once := fs.Bool("once", false, "run one pass and exit")
	interval := fs.Duration("interval", 15*time.Minute, "time between passes")
	executor := fs.String("executor", "dry-run", "dry-run|apt|dnf|apk")
	stateDir := fs.String("state-dir", agent.DefaultStateDir, "directory with credentials.json and the result spool")
	root := fs.String("root", "/", "root of the system to collect")
	lb := labels{}
	fs.Var(lb, "label", "a label k=v sent with every report (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *interval <= 0 {
		return usageError{"run: --interval must be positive"}
	}
	var ex agent.Executor
	switch *executor {
	case "dry-run":
	case "apt":
		ex = agent.CommandExecutor{Build: agent.AptCommand, Out: stderr}
	case "dnf":
		ex = agent.CommandExecutor{Build: agent.DnfCommand, Out: stderr}
	case "apk":
		ex = agent.CommandExecutor{Build: agent.ApkCommand, Out: stderr}
	default:
		return usageError{fmt.Sprintf("run: --executor %q: want dry-run, apt, dnf or apk", *executor)}
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
		Client:    &agent.Client{Server: creds.Server, Token: creds.Token, Retry: agent.DefaultRetry, UserAgent: version},
		HostID:    creds.HostID,
		Collector: agent.LocalCollector{Root: *root, Opts: inventory.CollectOptions{HostID: creds.HostID, Labels: l, AgentVersion: version, RPM: lookRPM()}, Now: time.Now},
		Executor:  ex,
		Spool:     agent.Spool{Dir: *stateDir},
		Out:       stdout,
		Log:       logger(stderr),
	}
	if *once {
		_, err := a.RunOnce(ctx)
		return err
	}
	return a.Run(ctx, *interval)
}
