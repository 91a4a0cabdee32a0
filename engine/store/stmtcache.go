package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// stmtCache holds queries prepared once on a pool, when it opens. On
// SQLite's writer (one connection) a transaction then reuses the
// connection's prepared statement (database/sql finds it per connection)
// instead of preparing the query again on every call, which was a sixth of
// the CPU of a hash-hit report. PostgreSQL's driver caches statements per
// connection itself, so it does not use this.
//
// Statements are prepared up front: preparing on the pool later, while a
// transaction holds SQLite's only writer connection, would wait for that
// connection forever. A query not prepared runs as given.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
	// used and unprepared count the calls that ran a prepared statement
	// and those that ran a query as given (tests read them).
	used, unprepared atomic.Int64
}

func newStmtCache(ctx context.Context, db *sql.DB, queries []string) (*stmtCache, error) {
	c := &stmtCache{m: map[string]*sql.Stmt{}}
	for _, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		c.m[q] = st
	}
	return c, nil
}

func (c *stmtCache) get(_ context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		c.used.Add(1)
		return st, nil
	}
	c.unprepared.Add(1)
	return nil, errNotPrepared
}

var errNotPrepared = errors.New("store: query not prepared")

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		_ = st.Close()
		delete(c.m, q)
	}
}

// preparedTx is an execer over a transaction whose queries run as the
// cache's prepared statements. A query that fails to prepare runs as given,
// so the error is the one the plain call would have returned.
type preparedTx struct {
	tx *sql.Tx
	c  *stmtCache
}

func (p preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.c.get(ctx, query)
	if err != nil {
		return p.tx.ExecContext(ctx, query, args...)
	}
	return p.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

func (p preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.c.get(ctx, query)
	if err != nil {
		return p.tx.QueryRowContext(ctx, query, args...)
	}
	return p.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

func (p preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.c.get(ctx, query)
	if err != nil {
		return p.tx.QueryContext(ctx, query, args...)
	}
	return p.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

// writeTx returns the execer SaveReport's statements run through: the
// prepared-statement cache on SQLite, the transaction itself elsewhere.
func (s *Store) writeTx(tx *sql.Tx) execer {
	if s.stmts == nil {
		return tx
	}
	return preparedTx{tx: tx, c: s.stmts}
}
