package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/history"
	"github.com/patchbay/patchbay/engine/plural"
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
	cmd.Flags().DurationVar(&notifyEvery, "notify-every", 5*time.Minute, "how often notifications (config.notify) are checked and sent")
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
			sr.Attach(ctx, srv)
			srv.EnablePublishing(sr.Controller)
			srv.EnableDashboard(sr.Controller)
		} else {
			srv.EnableDashboard(nil)
		}
		svc, err := gh.mountService(cmd, a, srv, sr, st, log, dir, repoURL, branch, cacheDir)
		if err != nil {
			return err
		}
		if svc != nil {
			if err := cyc.start(ctx, a, svc, svc.Git, sr, srv, log, branch, cacheDir); err != nil {
				return err
			}
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		go rl.Run(ctx, interval)
		go srv.RunHistory(ctx)
		if m, _ := rl.Status(); m != nil {
			n, err := notifier(m.Repo.Config.Notify, st, log)
			if err != nil {
				return err
			}
			if n != nil {
				go srv.RunNotify(ctx, n, notifyEvery)
			}
		}
		url := "http://" + ln.Addr().String()
		fmt.Fprintf(a.stderr, `patchbay serving %s on %s (store %s)
Create an enrollment token (printed once), then enroll hosts:
  patchbay token create --enroll --db %s
  patchbay-agent enroll --server %s --token TOKEN --state-dir ./agent-state
  patchbay-agent run --once --executor dry-run --state-dir ./agent-state
Admin token for GET /api/v1/plan and /api/v1/hosts:
  patchbay token create --admin --name ops --db %s
Read-only dashboard token for managers and auditors:
  patchbay token create --viewer --name board --db %s
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
	token := &cobra.Command{Use: "token", Short: "Create enrollment and admin tokens", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() }}
	var (
		db, name            string
		enroll, adm, viewer bool
		uses                int
		ttl                 time.Duration
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a token (printed once; only its hash is stored)",
		Long: `Create writes a new token's hash to the store and prints the token once.

--enroll makes an enrollment token: agents exchange it for their own host
token (patchbay-agent enroll); it works --uses times until --ttl passes.
--admin --name N makes an admin token for GET /api/v1/plan and /api/v1/hosts.
--viewer --name N makes a read-only token that signs in to the dashboard
(managers, auditors) and is refused by the admin API.`,
		Example: `  patchbay token create --enroll --uses 50 --ttl 24h
  patchbay token create --admin --name ops --db postgres://patchbay@db/patchbay
  patchbay token create --viewer --name board`,
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
				if err := st.CreateEnrollmentToken(cmd.Context(), tok, exp, uses); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, tok)
				fmt.Fprintf(a.stderr, "enrollment token: %s, expires %s; shown once\n", plural.Count(uses, "use"), exp.Format(time.RFC3339))
				return nil
			}
			role := store.RoleAdmin
			if viewer {
				role = store.RoleViewer
			}
			if err := st.CreateRoleToken(cmd.Context(), name, tok, role); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("a token named %q exists", name)
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
	create.Flags().StringVar(&name, "name", "", "admin token name")
	create.Flags().IntVar(&uses, "uses", 1, "how many hosts may enroll with the token")
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the enrollment token is valid")
	create.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %v", errUsage, err) })
	token.AddCommand(create)
	return token
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
