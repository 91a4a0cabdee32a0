package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/plural"
)

// rolloutClient calls the server's rollout admin API.
type rolloutClient struct {
	server, token string
	hc            *http.Client
}

// errServer is a refusal from the server (4xx); its message is the
// server's.
var errServer = errors.New("server refused")

func (a *app) rolloutClientFlags(cmd *cobra.Command) func() (*rolloutClient, error) {
	var server, token string
	cmd.PersistentFlags().StringVar(&server, "server", "", "server URL (env "+envServer+")")
	cmd.PersistentFlags().StringVar(&token, "token", "", "admin token (env "+envToken+")")
	return func() (*rolloutClient, error) {
		if server == "" {
			server = a.getenv(envServer)
		}
		if token == "" {
			token = a.getenv(envToken)
		}
		if server == "" {
			return nil, usageError("no server: pass --server URL or set %s", envServer)
		}
		if token == "" {
			return nil, usageError("no admin token: pass --token or set %s", envToken)
		}
		u, err := url.Parse(server)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageError("--server %q: want an http:// or https:// URL", server)
		}
		return &rolloutClient{server: strings.TrimRight(server, "/"), token: token, hc: &http.Client{Timeout: 30 * time.Second}}, nil
	}
}

func (c *rolloutClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return fmt.Errorf("%w: %s %s: %d %s: %s", errServer, method, path, resp.StatusCode, e.Code, e.Message)
		}
		return fmt.Errorf("%w: %s %s: %s", errServer, method, path, resp.Status)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	return nil
}

func (a *app) newRolloutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "List, show, pause, resume and abort rollouts on a patchbay server",
		Long: `Rollout talks to a running patchbay server's admin API. A merge to the main
branch starts one rollout per ring whose pinned baseline changed; the server
releases the ring's hosts in waves (maxConcurrency), inside its maintenance
windows, and halts when failures exceed maxErrors.

The server URL and admin token come from --server/--token or the
environment variables ` + envServer + ` and ` + envToken + `.

Examples:
  patchbay rollout list --server https://patchbay.example --token "$ADMIN"
  patchbay rollout show canary-3f2a9c1d0b7e --watch
  patchbay rollout pause canary-3f2a9c1d0b7e --reason "investigating failures"
  patchbay rollout resume canary-3f2a9c1d0b7e --reason "canary-01 fixed (INC-41)"
  patchbay rollout abort canary-3f2a9c1d0b7e --reason "baseline recalled"
  patchbay rollout approve canary-3f2a9c1d0b7e --reason "hotfix pushed during incident INC-42"

A commit without a passing, signed gate decision or a merged pull request
with counted approvals (a direct push to main) starts no rollout: it waits
as "unreviewed" until an admin approves it (break-glass; the reason and the
admin token's name are recorded in a signed rollout.approved record).

pause, resume, abort and approve require --reason: each is written to the
audit trail with the admin token's name and the reason (exit 2 without).`,
		Args: noArgs,
	}
	client := a.rolloutClientFlags(cmd)
	cmd.AddCommand(a.newRolloutListCmd(client), a.newRolloutShowCmd(client))
	for _, verb := range []string{"pause", "resume", "abort", "approve"} {
		cmd.AddCommand(a.newRolloutActionCmd(client, verb))
	}
	return cmd
}

func (a *app) newRolloutListCmd(client func() (*rolloutClient, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List rollouts, newest first",
		Long: `List prints every rollout the server knows, newest first, with its state,
wave and host counts, and the main-branch commits that failed validation.

Examples:
  patchbay rollout list
  patchbay rollout list --format json`,
		Args: noArgs,
	}
	format := addFormatFlag(cmd, "table", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := format.get()
		if err != nil {
			return err
		}
		c, err := client()
		if err != nil {
			return err
		}
		var l api.RolloutList
		if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/rollouts", nil, &l); err != nil {
			return err
		}
		if f == "json" {
			return writeJSONOut(a.stdout, l)
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRING\tBASELINE\tSTATE\tWAVE\tDONE\tFAILED\tPENDING\tCREATED")
		for _, r := range l.Rollouts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d/%d\t%d\t%d\t%s\n", r.ID, r.Ring, r.BaselineID, r.State, r.Wave,
				r.Hosts.Succeeded+r.Hosts.Failed+r.Hosts.TimedOut, r.Hosts.Total, r.Hosts.Failed+r.Hosts.TimedOut, r.Hosts.Pending,
				r.CreatedAt.UTC().Format(time.RFC3339))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for commit, msg := range l.Invalid {
			fmt.Fprintf(a.stdout, "invalid commit %s (started nothing): %s\n", short12(commit), msg)
		}
		return nil
	}
	return cmd
}

func (a *app) newRolloutShowCmd(client func() (*rolloutClient, error)) *cobra.Command {
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one rollout: waves, hosts done/failed/pending, ETA",
		Long: `Show prints one rollout: its state, the ring's budgets, each wave's hosts and
the transitions recorded for the audit trail.

With --watch it polls until the rollout stops running (or you interrupt
it); on a terminal the view is redrawn in place, otherwise one progress line
is printed per change.

Examples:
  patchbay rollout show canary-3f2a9c1d0b7e
  patchbay rollout show canary-3f2a9c1d0b7e --watch --interval 2s
  patchbay rollout show canary-3f2a9c1d0b7e --format json`,
		Args: rolloutID,
	}
	format := addFormatFlag(cmd, "table", "json")
	cmd.Flags().BoolVar(&watch, "watch", false, "follow the rollout until it is no longer running")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "poll interval of --watch")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := format.get()
		if err != nil {
			return err
		}
		if interval <= 0 {
			return usageError("--interval must be positive")
		}
		c, err := client()
		if err != nil {
			return err
		}
		path := "/api/v1/rollouts/" + url.PathEscape(args[0])
		get := func() (api.Rollout, error) {
			var r api.Rollout
			err := c.do(cmd.Context(), http.MethodGet, path, nil, &r)
			return r, err
		}
		r, err := get()
		if err != nil {
			return err
		}
		if !watch {
			if f == "json" {
				return writeJSONOut(a.stdout, r)
			}
			return renderRollout(a.stdout, r, a.now())
		}
		return a.watchRollout(cmd.Context(), r, get, interval, f, isTerminal(a.stdout))
	}
	return cmd
}

// watchRollout polls until the rollout leaves the running, paused and
// halted states. On a terminal (tty) it redraws the view in place.
func (a *app) watchRollout(ctx context.Context, r api.Rollout, get func() (api.Rollout, error), interval time.Duration, format string, tty bool) error {
	last := ""
	lines := 0
	for {
		switch {
		case format == "json":
			line, _ := json.Marshal(r)
			if string(line) != last {
				fmt.Fprintf(a.stdout, "%s\n", line)
				last = string(line)
			}
		case tty:
			var b bytes.Buffer
			if err := renderRollout(&b, r, a.now()); err != nil {
				return err
			}
			if lines > 0 {
				fmt.Fprintf(a.stdout, "\x1b[%dA\x1b[J", lines) // back to the top of the last view, clear below
			}
			lines = bytes.Count(b.Bytes(), []byte("\n"))
			a.stdout.Write(b.Bytes()) //nolint:errcheck // terminal output
		default:
			line := progressLine(r, a.now())
			if line != last {
				fmt.Fprintln(a.stdout, line)
				last = line
			}
		}
		switch r.State {
		case "running", "paused", "halted":
		default:
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
		var err error
		if r, err = get(); err != nil {
			return err
		}
	}
}

func progressLine(r api.Rollout, now time.Time) string {
	h := r.Hosts
	s := fmt.Sprintf("%s %s wave %d: %d/%d done, %d failed, %d running, %d pending", r.ID, r.State, r.Wave,
		h.Succeeded+h.Failed+h.TimedOut, h.Total, h.Failed+h.TimedOut, h.Running, h.Pending)
	if r.ETA != nil {
		s += ", ETA " + r.ETA.UTC().Format(time.RFC3339)
	}
	if r.Hold != "" {
		s += " (" + r.Hold + ")"
	}
	return s
}

func renderRollout(w io.Writer, r api.Rollout, now time.Time) error {
	h := r.Hosts
	fmt.Fprintf(w, "rollout   %s\n", r.ID)
	fmt.Fprintf(w, "ring      %s, baseline %s (%s)\n", r.Ring, r.BaselineID, short12(strings.TrimPrefix(r.BaselineDigest, "sha256:")))
	pr := ""
	if r.PR > 0 {
		pr = fmt.Sprintf(" (PR #%d)", r.PR)
	}
	fmt.Fprintf(w, "commit    %s%s\n", short12(r.Commit), pr)
	fmt.Fprintf(w, "state     %s\n", r.State)
	if r.Hold != "" {
		fmt.Fprintf(w, "hold      %s\n", r.Hold)
	}
	fmt.Fprintf(w, "budget    %s per wave, %s allowed, ring of %s\n", plural.Count(r.MaxConcurrency, "host"), plural.Count(r.MaxErrors, "error"), plural.Count(r.RingHosts, "host"))
	fmt.Fprintf(w, "hosts     %d total: %d succeeded, %d failed, %d timed out, %d running, %d pending, %d cancelled\n",
		h.Total, h.Succeeded, h.Failed, h.TimedOut, h.Running, h.Pending, h.Cancelled)
	fmt.Fprintf(w, "progress  %s\n", bar(h.Succeeded+h.Failed+h.TimedOut, h.Total, 40))
	if r.ETA != nil {
		fmt.Fprintf(w, "eta       %s (in %s)\n", r.ETA.UTC().Format(time.RFC3339), r.ETA.Sub(now).Round(time.Second))
	}
	if len(r.Waves) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "WAVE\tHOSTS\tSUCCEEDED\tFAILED\tRUNNING\tSTARTED\tENDED")
		for _, wv := range r.Waves {
			ended := "-"
			if wv.EndedAt != nil {
				ended = wv.EndedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\t%s\n", wv.Wave, wv.Hosts.Total, wv.Hosts.Succeeded, wv.Hosts.Failed+wv.Hosts.TimedOut,
				wv.Hosts.Running, wv.StartedAt.UTC().Format(time.RFC3339), ended)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, e := range r.Events {
		audited := "audited"
		if !e.Audited {
			audited = "pending"
		}
		fmt.Fprintf(w, "event     %s %s by %s %s [%s]\n", e.At.UTC().Format(time.RFC3339), e.Kind, e.Actor, e.Detail, audited)
	}
	return nil
}

func bar(done, total, width int) string {
	if total == 0 {
		return "[" + strings.Repeat("#", width) + "] 100%"
	}
	n := done * width / total
	return fmt.Sprintf("[%s%s] %d%%", strings.Repeat("#", n), strings.Repeat(".", width-n), done*100/total)
}

func (a *app) newRolloutActionCmd(client func() (*rolloutClient, error), verb string) *cobra.Command {
	var reason string
	what := map[string]string{
		"pause":  "Pause a running rollout: no new host starts until resume",
		"resume": "Resume a paused or halted rollout; failures so far no longer count against maxErrors",
		"abort":  "Abort a running, paused or halted rollout: pending hosts are cancelled",
		"approve": "Start an unreviewed rollout anyway (break-glass): --reason is required and recorded with the admin token's name " +
			"in a signed rollout.approved record",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: what,
		Long: what + `.
The transition is written to the audit trail (rollout.wave for pause and
resume, rollout.finished for abort, rollout.approved for approve) with the
admin token's name and --reason, which is required (exit 2 without), and
the rollout is printed.

Examples:
  patchbay rollout ` + verb + ` canary-3f2a9c1d0b7e --reason "change CHG-1234"`,
		Args: rolloutID,
	}
	format := addFormatFlag(cmd, "table", "json")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; recorded with the admin token's name in the audit trail)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := format.get()
		if err != nil {
			return err
		}
		if strings.TrimSpace(reason) == "" {
			why := map[string]string{"pause": "why the rollout must stop", "resume": "why it may go on", "abort": "why it must end",
				"approve": "why this unreviewed change may roll out"}[verb]
			return usageError("%s needs --reason: %s (it is recorded with your admin token's name in the audit trail)", verb, why)
		}
		c, err := client()
		if err != nil {
			return err
		}
		var r api.Rollout
		if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/rollouts/"+url.PathEscape(args[0])+"/"+verb, api.RolloutAction{Reason: reason}, &r); err != nil {
			return err
		}
		if f == "json" {
			return writeJSONOut(a.stdout, r)
		}
		return renderRollout(a.stdout, r, a.now())
	}
	return cmd
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func short12(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// rolloutID accepts exactly one argument, the rollout id (usage error, exit
// 2, otherwise).
func rolloutID(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageError("%q takes one rollout ID, got %d arguments", cmd.CommandPath(), len(args))
	}
	return nil
}
