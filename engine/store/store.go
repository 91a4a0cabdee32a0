package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Backend names, as returned by (*Store).Backend.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// DefaultReportRetention is how many reports per host are kept when
// Options.ReportRetention is zero (reports that changed the package set are
// kept on top of these).
const DefaultReportRetention = 20

// DefaultDeliveryRetention is how long webhook delivery ids are remembered
// when Options.DeliveryRetention is zero. GitHub lets a delivery be
// redelivered for three days; a week leaves margin.
const DefaultDeliveryRetention = 7 * 24 * time.Hour

// Options tune a Store. The zero value is usable.
type Options struct {
	// ReportRetention is the number of most recent reports kept per host;
	// reports whose package-set hash differs from the previous report are
	// always kept. Zero means DefaultReportRetention.
	ReportRetention int
	// DeliveryRetention is how long MarkDelivery remembers a delivery id.
	// Zero means DefaultDeliveryRetention.
	DeliveryRetention time.Duration
	// Now is the clock used for token expiry, lease expiry, delivery
	// pruning and created/enrolled times. Nil means time.Now.
	Now func() time.Time
	// SQLiteSynchronous is the SQLite synchronous pragma: "FULL" (default:
	// every commit is fsynced before SaveReport returns) or "NORMAL" (with
	// WAL: a commit survives an application crash but the last commits may
	// be lost on power failure or kernel crash).
	SQLiteSynchronous string
	// SQLiteBusyTimeout is how long a SQLite connection waits for a lock
	// held by another process (another replica on the same file, a backup).
	// Zero means 5 s.
	SQLiteBusyTimeout time.Duration
	// MaxReadConns bounds the SQLite read pool; on PostgreSQL it bounds the
	// whole pool. Zero means 8 on SQLite, 16 on PostgreSQL.
	MaxReadConns int
	// MaxBatch bounds how many SaveReport calls one transaction
	// group-commits: concurrent calls are written by a writer goroutine (one
	// on SQLite, two on PostgreSQL, each host always on the same one), each
	// report under its own savepoint, and committed together (one disk
	// flush). Zero means 256 on SQLite and 64 on PostgreSQL (each report is
	// a subtransaction, and PostgreSQL tracks up to 64 per transaction in
	// shared memory before other sessions' snapshots get slower); 1
	// disables group commit.
	MaxBatch int
}

func (o Options) withDefaults(backend string) (Options, error) {
	if o.ReportRetention < 0 || o.DeliveryRetention < 0 || o.MaxReadConns < 0 || o.MaxBatch < 0 || o.SQLiteBusyTimeout < 0 {
		return o, fmt.Errorf("options: negative limit: %w", ErrInvalid)
	}
	if o.ReportRetention == 0 {
		o.ReportRetention = DefaultReportRetention
	}
	if o.DeliveryRetention == 0 {
		o.DeliveryRetention = DefaultDeliveryRetention
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch strings.ToUpper(o.SQLiteSynchronous) {
	case "":
		o.SQLiteSynchronous = "FULL"
	case "FULL", "NORMAL", "EXTRA":
		o.SQLiteSynchronous = strings.ToUpper(o.SQLiteSynchronous)
	default:
		return o, fmt.Errorf("options: sqlite synchronous %q (want FULL, NORMAL or EXTRA): %w", o.SQLiteSynchronous, ErrInvalid)
	}
	if o.SQLiteBusyTimeout == 0 {
		o.SQLiteBusyTimeout = 5 * time.Second
	}
	if o.MaxReadConns == 0 {
		o.MaxReadConns = 8
		if backend == BackendPostgres {
			o.MaxReadConns = 16
		}
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 256
		if backend == BackendPostgres {
			o.MaxBatch = 64
		}
	}
	return o, nil
}

// Store is the patchbay server's persistence, backed by SQLite or
// PostgreSQL. It is safe for concurrent use.
type Store struct {
	backend string
	w       *sql.DB // writes; on SQLite a single connection
	r       *sql.DB // reads; on PostgreSQL the same pool as w
	opts    Options

	// batches feed the group-commit writers (see writerOf); nil when
	// MaxBatch is 1.
	batches   []chan *saveReq
	closeOnce sync.Once
	closing   chan struct{}
	writerWG  sync.WaitGroup

	// commits and committed count the group commits and the reports they
	// carried (see GroupCommitStats).
	commits, committed atomic.Int64

	// flaters pools *flate.Writer for package-set compression;
	// compressSem bounds concurrent compressions.
	flaters     sync.Pool
	compressSem chan struct{}

	// stmts holds the writer's prepared statements (SQLite only).
	stmts *stmtCache

	// hook, when set by tests in this package, runs between the
	// statements of SaveReport; it lets a test cancel mid-transaction.
	hook func(stage string)
}

// Open connects to the store at url and applies pending migrations.
// url is sqlite://PATH (relative, or sqlite:///absolute/path) or a
// postgres:// / postgresql:// connection string (search_path and other
// runtime parameters may be given as query parameters).
// In-memory SQLite is not supported: the writer and the read pool are
// separate connections that must see the same file.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	var (
		s   *Store
		err error
	)
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		s, err = openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"), opts)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		s, err = openPostgres(ctx, url, opts)
	default:
		return nil, fmt.Errorf("open store: unsupported url scheme (want sqlite:// or postgres://): %w", ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.backend == BackendSQLite {
		if s.stmts, err = newStmtCache(ctx, s.w, saveReportQueries); err != nil {
			s.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	s.startWriter()
	return s, nil
}

// Backend names the backend: BackendSQLite or BackendPostgres.
func (s *Store) Backend() string { return s.backend }

// Close stops the group-commit writer (after it finishes the batch in
// flight) and closes the connections.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		s.writerWG.Wait()
		if s.stmts != nil {
			s.stmts.close()
		}
		err = s.w.Close()
		if s.r != s.w {
			err = errors.Join(err, s.r.Close())
		}
	})
	return err
}

// q rewrites a query written with ? placeholders for the backend.
func (s *Store) q(query string) string {
	if s.backend != BackendPostgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// forUpdate is the row-lock suffix for a SELECT inside a write transaction.
// SQLite needs none: its write transactions start with BEGIN IMMEDIATE and
// are serialized.
func (s *Store) forUpdate() string {
	if s.backend == BackendPostgres {
		return " FOR UPDATE"
	}
	return ""
}

func (s *Store) now() time.Time { return s.opts.Now() }

// dbTime and goTime convert between time.Time and the stored Unix
// nanoseconds (0 = unset).
func dbTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func goTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// execer is what the write helpers need from *sql.Tx and *sql.DB.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// inTx runs fn in a write transaction and commits it.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// GroupCommitStats returns how many group commits ran and how many reports
// they committed, for metrics; their ratio is the mean batch size. Both are
// zero when Options.MaxBatch is 1.
func (s *Store) GroupCommitStats() (commits, reports int64) {
	return s.commits.Load(), s.committed.Load()
}
