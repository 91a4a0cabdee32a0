package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
)

// SQLite result codes used to classify constraint violations (see
// https://sqlite.org/rescode.html).
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
	sqliteBusy                 = 5
)

// openSQLite opens two pools on the same file: a single writer connection
// whose transactions begin IMMEDIATE (so a write transaction never has to
// upgrade a read lock and deadlock), and a read-only pool. WAL lets readers
// run while the writer commits.
func openSQLite(ctx context.Context, path string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults(BackendSQLite)
	if err != nil {
		return nil, err
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		return nil, fmt.Errorf("open sqlite: in-memory databases are not supported (use a file): %w", ErrInvalid)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite: path %q: '?' and '#' are not allowed: %w", path, ErrInvalid)
	}
	busy := opts.SQLiteBusyTimeout.Milliseconds()
	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy))
	common.Add("_pragma", "foreign_keys(1)")

	wq := url.Values{}
	for k, v := range common {
		wq[k] = append([]string(nil), v...)
	}
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous("+opts.SQLiteSynchronous+")")
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := pingSQLite(ctx, w, opts.SQLiteBusyTimeout); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}

	rq := common
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	r.SetMaxOpenConns(opts.MaxReadConns)
	r.SetMaxIdleConns(opts.MaxReadConns)
	r.SetConnMaxIdleTime(0)
	if err := pingSQLite(ctx, r, opts.SQLiteBusyTimeout); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	return &Store{backend: BackendSQLite, w: w, r: r, opts: opts, closing: make(chan struct{}),
		compressSem: newCompressSem()}, nil
}

// pingSQLite opens the first connection of db, retrying while SQLite says
// SQLITE_BUSY, up to the busy timeout. Opening runs the pragmas, and
// switching a new file to WAL while other processes open it too can answer
// SQLITE_BUSY at once, without calling the busy handler (seen with eight
// replicas opening one new file).
func pingSQLite(ctx context.Context, db *sql.DB, busy time.Duration) error {
	deadline := time.Now().Add(busy)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := db.PingContext(ctx)
		if err == nil || sqliteCode(err)&0xff != sqliteBusy || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// newCompressSem bounds concurrent package-set compressions to one less
// than the cores Go uses (at least one).
func newCompressSem() chan struct{} {
	return make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1))
}

func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}
