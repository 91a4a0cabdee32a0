package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Rebooter restarts the host and tells one boot from the next.
type Rebooter interface {
	// BootID identifies the running boot; it changes with every restart.
	BootID() (string, error)
	// Reboot starts the restart. It may return before the host goes down.
	Reboot(ctx context.Context) error
}

// DefaultBootIDPath is where Linux keeps the running boot's id.
const DefaultBootIDPath = "/proc/sys/kernel/random/boot_id"

// DefaultRebootCommand restarts a systemd host.
const DefaultRebootCommand = "systemctl reboot"

// CommandRebooter reboots by running Command with sh -c and reads the boot
// id from BootIDPath.
type CommandRebooter struct {
	Command    string
	BootIDPath string
}

// BootID implements Rebooter.
func (r CommandRebooter) BootID() (string, error) {
	p := r.BootIDPath
	if p == "" {
		p = DefaultBootIDPath
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("boot id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", fmt.Errorf("boot id: %s is empty", p)
	}
	return id, nil
}

// Reboot implements Rebooter.
func (r CommandRebooter) Reboot(ctx context.Context) error {
	c := r.Command
	if c == "" {
		c = DefaultRebootCommand
	}
	out, err := shell(ctx, c)
	if err != nil {
		return fmt.Errorf("reboot command %q: %w\n%s", c, err, tail(out, 2000))
	}
	return nil
}

// Hooks are commands from the agent's own configuration (the server never
// sends commands), run with sh -c. An empty hook is not run.
type Hooks struct {
	// PreReboot runs before the reboot command (e.g. drain the node); when
	// it fails the host is not rebooted and the reboot action fails.
	PreReboot string
	// PostBoot runs after the restart, before the health checks; when it
	// fails the reboot action fails.
	PostBoot string
}

func shell(ctx context.Context, command string) (string, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// Check is a health check of the host, run after patching and after a
// reboot. Its error says what is unhealthy.
type Check interface {
	Name() string
	Run(ctx context.Context) error
}

// CheckFunc adapts a function to Check.
type CheckFunc struct {
	Label string
	Fn    func(ctx context.Context) error
}

// Name implements Check.
func (c CheckFunc) Name() string { return c.Label }

// Run implements Check.
func (c CheckFunc) Run(ctx context.Context) error { return c.Fn(ctx) }

// commandCheck passes when the command exits 0.
type commandCheck struct{ name, command string }

func (c commandCheck) Name() string { return c.name }
func (c commandCheck) Run(ctx context.Context) error {
	out, err := shell(ctx, c.command)
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(tail(out, 500)))
	}
	return nil
}

// httpCheck passes on a 2xx answer from a local URL.
type httpCheck struct{ url string }

func (c httpCheck) Name() string { return "http:" + c.url }
func (c httpCheck) Run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// ParseCheck parses a health check specification:
//
//	systemd:UNIT   passes while `systemctl is-active --quiet UNIT` does
//	http:URL       passes on a 2xx answer; URL must be on localhost
//	cmd:COMMAND    passes when `sh -c COMMAND` exits 0
func ParseCheck(spec string) (Check, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return nil, fmt.Errorf("health check %q: want systemd:UNIT, http:URL or cmd:COMMAND", spec)
	}
	switch kind {
	case "systemd":
		return commandCheck{name: spec, command: "systemctl is-active --quiet " + shellQuote(arg)}, nil
	case "http":
		u, err := url.Parse(arg)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("health check %q: want an http(s) URL", spec)
		}
		h := u.Hostname()
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("health check %q: the probe must stay on this host (localhost, 127.0.0.1 or ::1)", spec)
		}
		return httpCheck{url: arg}, nil
	case "cmd":
		return commandCheck{name: spec, command: arg}, nil
	}
	return nil, fmt.Errorf("health check %q: unknown kind %q; want systemd, http or cmd", spec, kind)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// runChecks runs every check until all pass or timeout passes (polling
// every poll), and returns the failures of the last round.
func runChecks(ctx context.Context, checks []Check, timeout, poll time.Duration) error {
	if len(checks) == 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		var errs []error
		for _, c := range checks {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := c.Run(cctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.Name(), err))
			}
			cancel()
		}
		if len(errs) == 0 {
			return nil
		}
		if time.Now().Add(poll).After(deadline) || ctx.Err() != nil {
			return errors.Join(errs...)
		}
		select {
		case <-ctx.Done():
			return errors.Join(errs...)
		case <-time.After(poll):
		}
	}
}
