package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgSaveReport does on PostgreSQL what saveReportTx's read, update, insert
// and prune statements do, in one statement: a round trip per statement was
// most of a batched report's time. $1 host id, $2 stream, $3 hostname,
// $4 arch, $5 kernel, $6 agent version, $7 reboot required, $8 set hash,
// $9 received, $10 labels (NULL keeps them), $11 collected, $12 how many of
// the host's earlier reports to keep besides the new one (the prune cannot
// see the row inserted by the same statement), -1 for none.
//
// The previous set hash comes from the UPDATE's own row-locking subquery,
// so it is the version the UPDATE replaces, even with another replica
// writing the same host. No row comes back when the host is not enrolled.
const pgSaveReport = `WITH upd AS (
	UPDATE hosts h SET stream = $2, hostname = $3, arch = $4, kernel = $5, agent_version = $6,
		reboot_required = $7, set_hash = $8, last_report_at = $9, labels = COALESCE($10, h.labels)
	FROM (SELECT id, set_hash FROM hosts WHERE id = $1 FOR UPDATE) old
	WHERE h.id = old.id
	RETURNING COALESCE(old.set_hash, '') AS prev
), ins AS (
	INSERT INTO reports (host_id, received_at, collected_at, set_hash, set_changed, reboot_required, kernel, agent_version)
	SELECT $1, $9, $11, $8, upd.prev <> $8, $7, $5, $6 FROM upd
	RETURNING id, set_changed
), pruned AS (
	DELETE FROM reports WHERE host_id = $1 AND NOT set_changed AND EXISTS (SELECT 1 FROM upd)
	AND ($12::bigint < 0 OR id < (SELECT id FROM reports WHERE host_id = $1 ORDER BY id DESC LIMIT 1 OFFSET GREATEST($12::bigint, 0)))
)
SELECT id, set_changed FROM ins`

// pgInsertSet is qInsertSet for PostgreSQL.
const pgInsertSet = `INSERT INTO package_sets (hash, data, encoding, size, created_at) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (hash) DO NOTHING`

// runBatchPostgres is runBatch on PostgreSQL: the same savepoint per report
// and one commit, but each report costs one round trip (two when it fails).
// Statements are pipelined (pgx.Batch): the transaction's BEGIN, or the
// previous report's RELEASE, go with the next report's SAVEPOINT, set insert
// and pgSaveReport, and the last RELEASE with the COMMIT; a batch with new
// sets first locks them (pgLockSets, one more round trip). A report's
// savepoint is released only in the next round trip, so when its caller's
// context ends while its result is read (alive), it can still be rolled
// back alone.
func (s *Store) runBatchPostgres(batch []*saveReq) {
	ctx := context.Background()
	fail := func(err error) {
		for _, r := range batch {
			if r.err == nil {
				r.err, r.res = err, SaveResult{}
			}
			close(r.done)
		}
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		fail(fmt.Errorf("save report: %w", err))
		return
	}
	defer conn.Close()
	var broken error // the connection's state is unknown: discard it
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		err := s.pgBatch(ctx, pc, batch)
		if err != nil {
			// Leave no transaction open on a pooled connection.
			if _, rerr := pc.Exec(ctx, "ROLLBACK"); rerr != nil {
				broken = rerr
			}
		}
		return err
	})
	if broken != nil {
		// Closing the raw connection makes database/sql drop it from the pool.
		_ = conn.Raw(func(dc any) error { return dc.(*stdlib.Conn).Close() })
	}
	if err != nil {
		fail(err)
		return
	}
	s.commits.Add(1)
	for _, r := range batch {
		if r.err == nil {
			s.committed.Add(1)
		}
		close(r.done)
	}
}

// pgBatch writes batch in one transaction on pc and commits it. It returns
// an error only when the whole batch failed (nothing committed); a report
// that fails alone has its own error in its saveReq.
func (s *Store) pgBatch(ctx context.Context, pc *pgx.Conn, batch []*saveReq) error {
	prefix := []string{"BEGIN"}
	var sets []string
	for _, r := range batch {
		if r.set != nil {
			sets = append(sets, r.rec.PackageSetHash)
		}
	}
	if len(sets) > 0 {
		// Another replica's batch may store some of the same new sets in
		// another order: each would wait for a set the other inserted and
		// has not committed, a deadlock PostgreSQL breaks (after
		// deadlock_timeout) by failing one of the reports. Taking a
		// transaction lock per new set first, in one order every replica
		// follows, makes the later batch wait for the earlier one instead.
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(pgLockSets, sets)
		if err := pc.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("save report: lock package sets: %w", err)
		}
		prefix = nil
	}
	// Lock the hosts in the order of their ids, as SetHostRings and every
	// other replica's batch do, so no two transactions wait for each other's
	// hosts. The sort is stable: one host's reports keep their order.
	byHost := slices.Clone(batch)
	slices.SortStableFunc(byHost, func(a, b *saveReq) int { return strings.Compare(a.rec.HostID, b.rec.HostID) })
	for _, r := range byHost {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("save report %s: %w", r.rec.HostID, err)
			continue
		}
		var labels *string
		if r.rec.Labels != nil {
			l, err := encodeLabels(r.rec.Labels)
			if err != nil {
				r.err = fmt.Errorf("save report %s: labels: %w", r.rec.HostID, err)
				continue
			}
			labels = &l
		}
		if err := s.pgReport(ctx, pc, prefix, r, labels); err != nil {
			return err
		}
		prefix = []string{qRelease}
		if r.err != nil {
			// Roll back now, not in the next pipeline: pgx prepares a
			// pipeline's new statements first, which an aborted
			// transaction refuses.
			r.res = SaveResult{}
			if _, err := pc.Exec(ctx, qRollbackTo); err != nil {
				return fmt.Errorf("save report: rollback to savepoint: %w", err)
			}
		}
	}
	b := &pgx.Batch{}
	for _, q := range prefix {
		b.Queue(q)
	}
	b.Queue("COMMIT")
	br := pc.SendBatch(ctx, b)
	for _, q := range append(prefix, "COMMIT") {
		tag, err := br.Exec()
		if err != nil {
			_ = br.Close()
			return fmt.Errorf("save report: %s: %w", q, err)
		}
		// COMMIT of a transaction that failed answers ROLLBACK, not an
		// error; no report of it is stored.
		if q == "COMMIT" && tag.String() != "COMMIT" {
			_ = br.Close()
			return fmt.Errorf("save report: commit: transaction rolled back (%s)", tag)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("save report: commit: %w", err)
	}
	return nil
}

// pgLockSets takes a transaction-level advisory lock per package-set hash
// in $1, in the order of the lock keys. A key is a 64-bit hash of the set
// hash and the constant below (so it never equals migrationLockKey's
// space): two different sets sharing a key only wait for each other.
const pgLockSets = `SELECT pg_advisory_xact_lock(k) FROM
	(SELECT DISTINCT hashtextextended(h, 1801) AS k FROM unnest($1::text[]) AS h ORDER BY k) AS keys`

// pgReport sends one report's pipeline on pc: prefix (the statements due
// from before), its SAVEPOINT, the set insert and pgSaveReport. It sets
// r.res and r.err; the error it returns fails the whole batch.
func (s *Store) pgReport(ctx context.Context, pc *pgx.Conn, prefix []string, r *saveReq, labels *string) error {
	rec := r.rec
	b := &pgx.Batch{}
	for _, q := range prefix {
		b.Queue(q)
	}
	b.Queue(qSavepoint)
	if r.set != nil {
		b.Queue(pgInsertSet, rec.PackageSetHash, r.set.data, r.set.encoding, r.set.size, dbTime(s.now()))
	}
	b.Queue(pgSaveReport, rec.HostID, rec.Stream, rec.Hostname, rec.Arch, rec.Kernel, rec.AgentVersion,
		rec.RebootRequired, rec.PackageSetHash, dbTime(rec.ReceivedAt), labels, dbTime(rec.CollectedAt),
		int64(s.opts.ReportRetention-2))
	br := pc.SendBatch(ctx, b)
	for _, q := range append(prefix, qSavepoint) {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("save report: %s: %w", q, err)
		}
	}
	r.res, r.err = s.pgReportResult(br, r)
	if err := br.Close(); err != nil && r.err == nil {
		r.err = fmt.Errorf("save report %s: %w", rec.HostID, err)
	}
	// The caller's context is checked at the stages saveReportTx checks
	// it, all of which this one round trip passed.
	stages := []string{"host-updated", "report-inserted", "pruned"}
	if r.set != nil {
		stages = append([]string{"set-stored"}, stages...)
	}
	for _, stage := range stages {
		if r.err != nil {
			break
		}
		if err := r.alive(stage); err != nil {
			r.err = fmt.Errorf("save report %s: %w", rec.HostID, err)
		}
	}
	return nil
}

// pgReportResult reads one report's results from br: the set insert (when
// queued) and pgSaveReport's row.
func (s *Store) pgReportResult(br pgx.BatchResults, r *saveReq) (SaveResult, error) {
	var res SaveResult
	rec := r.rec
	if r.set != nil {
		tag, err := br.Exec()
		if err != nil {
			return res, fmt.Errorf("save report %s: package set: %w", rec.HostID, err)
		}
		res.SetStored = tag.RowsAffected() == 1
	}
	err := br.QueryRow().Scan(&res.ReportID, &res.SetChanged)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return res, fmt.Errorf("save report: host %s: %w", rec.HostID, ErrNotFound)
	case isForeignKey(err):
		return res, fmt.Errorf("save report %s: set %s: %w", rec.HostID, rec.PackageSetHash, ErrPackageSetMissing)
	case err != nil:
		return res, fmt.Errorf("save report %s: %w", rec.HostID, err)
	}
	return res, nil
}
