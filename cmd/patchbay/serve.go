package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/history"
	"github.com/patchbay/patchbay/engine/notify"
	"github.com/patchbay/patchbay/engine/plural"
	"github.com/patchbay/patchbay/engine/rollout"
	"github.com/patchbay/patchbay/engine/server"
	"github.com/patchbay/patchbay/engine/store"
)

// defaultDB is the store used when --db is not given.
const defaultDB = "sqlite://./patchbay.db"

func (a *app) newServeCmd() *cobra.Command {
	var (
		dir, repoURL, branch, db, listen, cacheDir string
		interval                                   time.Duration
		rateLimit                                  float64
		histRetention                              string
		histEvery, notifyEvery                     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the patchbay server (agent and admin API)",
		Long: `Serve runs the HTTP API agents and admins talk to (/api/v1, described in
engine/api/openapi.yaml), with /healthz, /readyz and /metrics.

The patch repository is read at the head of its main branch: with -C DIR, the
head commit of --branch when DIR is the top of a Git repository, else the
directory as it is; with --repo URL, a clone fetched every --interval. It is
reloaded when it changes; a revision that does not load is logged and shown
in /readyz, and the last good one stays in use.

With --repo and --signing-key the controller's leader publishes every audit
record to the repository's refs/notes/patchbay (re-chaining after records CI
pushed first); /readyz shows the backlog and the last push error. It needs
write access: --git-token-file (GitHub: a fine-grained token or App with
Contents: write) or --git-ssh-key. Two deployments on different databases
pointed at one repository do not both run rollouts: the second waits for the
first's repository lease (refs/patchbay/controller-lease) to expire.

With --github-repo OWNER/NAME (and the GitHub settings) the server runs the
proposal cycles of config.cycles: when a cycle is due it syncs the advisory
feeds of config.advisories into --advisories-cache (or, with
--advisories-offline, uses the cache as it is), matches the stored host
reports, proposes a baseline and opens its pull request on the branch
patchbay/cycle/<name>/<period>, once per period (a restart finds the pull
request). Each run is a signed cycle.proposal record in the audit trail
(with --repo and --signing-key; otherwise it is only logged).

--db is sqlite://PATH (created when missing) or postgres://... . Logs are
JSON on stderr unless stderr is a terminal. SIGTERM or Ctrl-C shuts down
gracefully: requests in flight finish, then pending plan snapshots are
written.`,
		Example: `  patchbay serve -C examples/quickstart
  patchbay serve -C /srv/patches --db postgres://patchbay@db/patchbay --listen :8080
  patchbay serve --repo https://github.com/acme/patches.git --interval 1m
  patchbay serve --repo https://github.com/acme/patches.git --git-token-file /run/secrets/git-token \
      --signing-key /run/secrets/patchbay.key --db postgres://patchbay@db/patchbay
  # proposal cycles: a GitHub App opens the pull requests
  patchbay serve --repo https://github.com/acme/patches.git --signing-key /run/secrets/patchbay.key \
      --github-webhook-secret-file /run/secrets/hook --github-app-id 123 --github-installation-id 456 \
      --github-app-key /run/secrets/app.pem --github-repo acme/patches`,
		Args: noArgs,
	}
	addRepoFlag(cmd, &dir)
	cmd.Flags().StringVar(&repoURL, "repo", "", "patch repository URL to clone and fetch (instead of -C)")
	cmd.Flags().StringVar(&branch, "branch", "main", "branch whose head is served (Git sources)")
	cmd.Flags().StringVar(&db, "db", defaultDB, "store: sqlite://PATH or postgres://...")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().DurationVar(&interval, "interval", 30*time.Second, "how often the patch repository is checked for changes")
	cmd.Flags().StringVar(&cacheDir, "cache-dir", ".patchbay-cache", "where --repo clones are kept")
	cmd.Flags().Float64Var(&rateLimit, "rate", server.DefaultRate, "requests per second per host (token bucket; negative: no limit)")
	cmd.Flags().StringVar(&histRetention, "history-retention", "400d", "how long compliance history is kept (days: 400d)")
	cmd.Flags().DurationVar(&histEvery, "history-every", history.DefaultEvery, "how often today's compliance roll-ups are recomputed")
	cmd.Flags().DurationVar(&notifyEvery, "notify-every", 5*time.Minute, "how often notifications (config.notify) are checked and sent; a commit changing config.notify applies from the next check, no restart")
	var trustProto bool
	cmd.Flags().BoolVar(&trustProto, "trust-forwarded-proto", false, "trust X-Forwarded-Proto: https from the TLS proxy in front (marks the dashboard's session cookie Secure)")
	rf := addRolloutServeFlags(cmd)
	gh := addGitHubServeFlags(cmd)
	cyc := addCycleServeFlags(cmd)
	gc := addGitCredFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if interval <= 0 {
			return usageError("--interval must be positive")
		}
		if err := rf.check(); err != nil {
			return err
		}
		retention, err := baseline.ParseDuration(histRetention)
		if err != nil || retention <= 0 || histEvery <= 0 || notifyEvery <= 0 {
			return usageError("--history-retention must be a positive duration such as 400d, --history-every and --notify-every positive")
		}
		ctx := cmd.Context()
		if err := cyc.validate(); err != nil {
			return err
		}
		if cyc.repo != "" && !gh.used(cmd, a) {
			return usageError("--github-repo needs the GitHub settings (an App or --github-token-file, and the webhook secret) to open pull requests")
		}
		log := newLogger(a.stderr)
		auth, err := gc.auth(a)
		if err != nil {
			return err
		}
		gh.gitAuth = auth
		src, closeSrc, err := a.source(ctx, cmd, dir, repoURL, branch, cacheDir, auth)
		if err != nil {
			return err
		}
		defer closeSrc()
		st, err := store.Open(ctx, db, store.Options{Now: a.now})
		if err != nil {
			return fmt.Errorf("open store: %w", err)
		}
		defer st.Close()
		// Every background loop (reloader, controller, history,
		// notifications, proposal cycles) ends before the store and the
		// repository close: deferred last, this runs first. A fetch still
		// reading the clone when it closed was a data race.
		ctx, stopBackground := context.WithCancel(ctx)
		var bg sync.WaitGroup
		defer func() { stopBackground(); bg.Wait() }()
		rl := server.NewReloader(src, log, a.now)
		if err := rl.Check(ctx); err != nil {
			fmt.Fprintf(a.stderr, "patchbay: warning: the patch repository does not load yet (%v); serving, /readyz is 503 until it does\n", firstLine(err))
		}
		cfg := server.Config{Store: st, Models: rl, Logger: log, Now: a.now, Rate: rateLimit, TrustForwardedProto: trustProto}
		rf.remote = ""
		if repoURL != "" && gc.publish {
			rf.remote = "origin"
		}
		if cfg.History, err = history.New(history.Config{Store: st, Retention: time.Duration(retention), Every: histEvery, Now: a.now, Log: log}); err != nil {
			return err
		}
		sr, err := a.serveRollouts(ctx, rf, src, branch, st, log)
		if err != nil {
			return err
		}
		if sr != nil {
			cfg.Assigner = sr.Controller
		}
		srv, err := server.New(cfg)
		if err != nil {
			return err
		}
		if sr != nil {
			sr.Attach(ctx, srv, &bg)
			srv.EnablePublishing(sr.Controller)
			srv.EnableDashboard(sr.Controller)
		} else {
			srv.EnableDashboard(nil)
		}
		if gs, ok := src.(server.GitSource); ok {
			// Rollout pages show the gate decision and approvals from
			// the audit notes of the served clone.
			var keys []audit.TrustedKey
			if sr != nil {
				keys = sr.keys
			}
			srv.EnableGitTrail(gs.Repo, keys)
		}
		svc, err := gh.mountService(cmd, a, srv, sr, st, log, dir, repoURL, branch, cacheDir)
		if err != nil {
			return err
		}
		if svc != nil {
			if err := cyc.start(ctx, &bg, a, svc, svc.Git, sr, srv, log, branch, cacheDir); err != nil {
				return err
			}
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		bg.Go(func() { rl.Run(ctx, interval) })
		bg.Go(func() { srv.RunHistory(ctx) })
		// Notifications follow config.notify: a commit that changes it is
		// applied at the next sync, without a restart.
		srv.EnableNotify(func(c *baseline.Notify) (*notify.Notifier, error) { return notifier(c, st, log) })
		if m, _ := rl.Status(); m != nil {
			if _, err := srv.SyncNotify(); err != nil {
				return err
			}
		}
		bg.Go(func() { srv.RunNotify(ctx, notifyEvery) })
		url := "http://" + ln.Addr().String()
		fmt.Fprintf(a.stderr, `patchbay serving %s on %s (store %s)
Create an enrollment token (printed once), then enroll hosts:
  patchbay token create --enroll --reason "enroll the first hosts" --db %s
  patchbay-agent enroll --server %s --token TOKEN --state-dir ./agent-state
  patchbay-agent run --once --executor dry-run --state-dir ./agent-state
Admin token for the admin API (rollouts, plan, hosts):
  patchbay token create --admin --name ops --reason "operations team" --db %s
Read-only dashboard token for managers and auditors:
  patchbay token create --viewer --name board --reason "compliance dashboard" --db %s
`, src, url, st.Backend(), shellQuote(db), url, shellQuote(db), shellQuote(db))
		log.Info("serving", "addr", ln.Addr().String(), "store", st.Backend(), "source", src.String())
		err = srv.Serve(ctx, ln, 30*time.Second)
		log.Info("stopped")
		return err
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain
// characters, so that a printed hint can be pasted as is (a PostgreSQL URL's
// "?sslmode=disable&search_path=x" would otherwise start a background job).
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// newLogger logs JSON unless w is a terminal.
func newLogger(w io.Writer) *slog.Logger {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// source picks the patch repository source from -C / --repo.
func (a *app) source(ctx context.Context, cmd *cobra.Command, dir, repoURL, branch, cacheDir string, auth gitrepo.Auth) (server.Source, func(), error) {
	if repoURL != "" {
		if cmd.Flags().Changed("dir") {
			return nil, nil, usageError("-C and --repo exclude each other")
		}
		r, err := gitrepo.CloneOrFetch(ctx, gitrepo.Remote{URL: repoURL, CacheDir: cacheDir, Auth: auth})
		if err != nil {
			return nil, nil, errors.New(strings.ReplaceAll(err.Error(), repoURL, redactURL(repoURL)))
		}
		return server.GitSource{Repo: r, Branch: branch, Remote: "origin", Name: redactURL(repoURL)}, func() { r.Close() }, nil
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		r, err := gitrepo.Open(dir)
		if err != nil {
			return nil, nil, err
		}
		return server.GitSource{Repo: r, Branch: branch, Name: dir}, func() { r.Close() }, nil
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, nil, usageError("-C %s: not a directory", dir)
	}
	return server.DirSource{Dir: dir}, func() {}, nil
}

func (a *app) newTokenCmd() *cobra.Command {
	token := &cobra.Command{Use: "token", Short: "Create and revoke enrollment, admin, viewer and host tokens (each is an audit record)", Args: noArgs,
		Long: `Token creates and revokes credentials directly in the store (--db). Every
create and revoke is evidence: it needs --reason, and a signed token.changed
record naming the operator, the action and the reason is put into the store's
outbox in the same transaction; the server's controller (the lease holder)
signs it and publishes it to the patch repository like its own records
(patchbay audit log lists them under TOKENS).

The operator recorded is the operating-system account that ran the command,
as user@host (looked up from the process's user id, not from $USER): it is
what the machine attests, where a typed name would be whatever anyone typed.
Run token commands under your own account, not a shared one.`,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() }}
	token.AddCommand(a.newTokenCreateCmd(), a.newTokenRevokeCmd())
	return token
}

// osActor names the operator of a CLI token command: the account of the
// process's user id and the host name, user@host.
func osActor() (string, error) {
	u, err := user.Current()
	if err != nil {
		return "", fmt.Errorf("who is running this (it is recorded): %w", err)
	}
	name := u.Username
	if name == "" {
		name = "uid " + u.Uid
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name, nil
}

// tokenRecord is the outbox entry of a token.changed record.
func (a *app) tokenRecord(kind, name, action, reason string, uses int, expires *time.Time) (store.RolloutEvent, error) {
	actor, err := osActor()
	if err != nil {
		return store.RolloutEvent{}, err
	}
	now := a.now().UTC()
	p := &audit.TokenChanged{Token: kind, Name: name, Uses: uses, ExpiresAt: expires,
		Operator: audit.Operator{Actor: actor, Action: action, Reason: reason}, ChangedAt: now}
	return rollout.RepositoryEvent(p, actor, now)
}

func (a *app) newTokenCreateCmd() *cobra.Command {
	var (
		db, name, reason    string
		enroll, adm, viewer bool
		uses                int
		ttl                 time.Duration
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a token (printed once; only its hash is stored)",
		Long: `Create writes a new token's hash to the store and prints the token once.

--enroll makes an enrollment token: agents exchange it for their own host
token (patchbay-agent enroll); it works --uses times until --ttl passes. Its
id (the first 12 hex digits of its hash) is printed on stderr; revoke it
with 'patchbay token revoke --enroll ID'.
--admin --name N makes an admin token for the admin API (rollouts, plan,
hosts); its name is recorded with every action taken with it.
--viewer --name N makes a read-only token that signs in to the dashboard
(managers, auditors) and is refused by the admin API.

--reason is required: the creation is written to the audit trail as a
token.changed record with your account (user@host) and the reason.`,
		Example: `  patchbay token create --enroll --uses 50 --ttl 24h --reason "rack 12 onboarding (CHG-1201)"
  patchbay token create --admin --name ops --reason "on-call admin" --db postgres://patchbay@db/patchbay
  patchbay token create --viewer --name board --reason "quarterly compliance review"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n := btoi(enroll) + btoi(adm) + btoi(viewer); n != 1 {
				return usageError("give exactly one of --enroll, --admin and --viewer")
			}
			if (adm || viewer) && name == "" {
				return usageError("--admin and --viewer need --name")
			}
			if uses <= 0 || ttl <= 0 {
				return usageError("--uses and --ttl must be positive")
			}
			if strings.TrimSpace(reason) == "" {
				return usageError("token create needs --reason: why this credential is made (it is recorded with your account in the audit trail)")
			}
			st, err := store.Open(cmd.Context(), db, store.Options{Now: a.now})
			if err != nil {
				return fmt.Errorf("open store: %w", err)
			}
			defer st.Close()
			tok, err := store.NewToken()
			if err != nil {
				return err
			}
			if enroll {
				exp := a.now().Add(ttl).UTC()
				rec, err := a.tokenRecord(audit.TokenEnroll, store.EnrollmentID(tok), audit.TokenCreate, reason, uses, &exp)
				if err != nil {
					return err
				}
				if err := st.CreateEnrollmentTokenRecorded(cmd.Context(), tok, exp, uses, rec); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, tok)
				fmt.Fprintf(a.stderr, "enrollment token %s: %s, expires %s; shown once\n", store.EnrollmentID(tok), plural.Count(uses, "use"), exp.Format(time.RFC3339))
				return nil
			}
			role := store.RoleAdmin
			if viewer {
				role = store.RoleViewer
			}
			rec, err := a.tokenRecord(role, name, audit.TokenCreate, reason, 0, nil)
			if err != nil {
				return err
			}
			if err := st.CreateRoleTokenRecorded(cmd.Context(), name, tok, role, rec); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("a token named %q exists (revoke it first: patchbay token revoke --name %s --reason ...)", name, name)
				}
				return err
			}
			fmt.Fprintln(a.stdout, tok)
			fmt.Fprintf(a.stderr, "%s token %q; shown once\n", role, name)
			return nil
		},
	}
	create.Flags().StringVar(&db, "db", defaultDB, "store: sqlite://PATH or postgres://...")
	create.Flags().BoolVar(&enroll, "enroll", false, "create an enrollment token")
	create.Flags().BoolVar(&adm, "admin", false, "create an admin token")
	create.Flags().BoolVar(&viewer, "viewer", false, "create a read-only dashboard token")
	create.Flags().StringVar(&name, "name", "", "admin or viewer token name")
	create.Flags().StringVar(&reason, "reason", "", "why (required; recorded with your account in the audit trail)")
	create.Flags().IntVar(&uses, "uses", 1, "how many hosts may enroll with the token")
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the enrollment token is valid")
	create.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %v", errUsage, err) })
	return create
}

func (a *app) newTokenRevokeCmd() *cobra.Command {
	var db, name, enrollID, host, reason string
	revoke := &cobra.Command{
		Use:   "revoke (--name N | --enroll ID | --host ID) --reason TEXT",
		Short: "Revoke an admin, viewer, enrollment or host token (an audit record)",
		Long: `Revoke removes a credential from the store (--db); it stops working at once on
every server replica using that store.

--name N revokes the admin or viewer token called N.
--enroll ID revokes an unused enrollment token by the id 'token create
--enroll' printed (12 hex digits); hosts already enrolled with it keep their
own tokens.
--host ID revokes an enrolled host's token: the agent is refused from then
on, while the host's reports, history and rollout state stay. It may enroll
again under the same id with a new enrollment token (patchbay-agent enroll).

--reason is required: the revocation is written to the audit trail as a
token.changed record with your account (user@host) and the reason. An
unknown name, id or host is exit 1 and records nothing.`,
		Example: `  patchbay token revoke --name ops --reason "left the team" --db postgres://patchbay@db/patchbay
  patchbay token revoke --enroll 3f2a9c1d0b7e --reason "leaked in a ticket"
  patchbay token revoke --host web-07 --reason "decommissioned"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n := btoi(name != "") + btoi(enrollID != "") + btoi(host != ""); n != 1 {
				return usageError("give exactly one of --name, --enroll and --host")
			}
			if strings.TrimSpace(reason) == "" {
				return usageError("token revoke needs --reason: why this credential is revoked (it is recorded with your account in the audit trail)")
			}
			st, err := store.Open(cmd.Context(), db, store.Options{Now: a.now})
			if err != nil {
				return fmt.Errorf("open store: %w", err)
			}
			defer st.Close()
			ctx := cmd.Context()
			switch {
			case name != "":
				var recErr error
				err = st.RevokeRoleToken(ctx, name, func(role string) store.RolloutEvent {
					rec, err := a.tokenRecord(role, name, audit.TokenRevoke, reason, 0, nil)
					recErr = err
					return rec
				})
				if recErr != nil {
					return recErr
				}
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no admin or viewer token named %q; nothing revoked", name)
				}
				if err == nil {
					fmt.Fprintf(a.stderr, "token %q revoked\n", name)
				}
			case enrollID != "":
				rec, rerr := a.tokenRecord(audit.TokenEnroll, strings.ToLower(enrollID), audit.TokenRevoke, reason, 0, nil)
				if rerr != nil {
					return rerr
				}
				err = st.RevokeEnrollmentToken(ctx, enrollID, rec)
				if errors.Is(err, store.ErrInvalid) {
					return usageError("--enroll %q: want the 12 hex digits 'token create --enroll' printed", enrollID)
				}
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no enrollment token %s (expired and pruned, or never made); nothing revoked", enrollID)
				}
				if err == nil {
					fmt.Fprintf(a.stderr, "enrollment token %s revoked\n", strings.ToLower(enrollID))
				}
			default:
				rec, rerr := a.tokenRecord(audit.TokenHost, host, audit.TokenRevoke, reason, 0, nil)
				if rerr != nil {
					return rerr
				}
				err = st.RevokeHostToken(ctx, host, rec)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no enrolled host %q; nothing revoked", host)
				}
				if err == nil {
					fmt.Fprintf(a.stderr, "host %s's token revoked; it may enroll again with a new enrollment token\n", host)
				}
			}
			return err
		},
	}
	revoke.Flags().StringVar(&db, "db", defaultDB, "store: sqlite://PATH or postgres://...")
	revoke.Flags().StringVar(&name, "name", "", "the admin or viewer token's name")
	revoke.Flags().StringVar(&enrollID, "enroll", "", "the enrollment token's id (12 hex digits, printed by token create --enroll)")
	revoke.Flags().StringVar(&host, "host", "", "the enrolled host's id")
	revoke.Flags().StringVar(&reason, "reason", "", "why (required; recorded with your account in the audit trail)")
	revoke.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %v", errUsage, err) })
	return revoke
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
