package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// SLA counters (migration 0008). RecordStates keeps, besides the
// append-only changes, each host's open findings with the deadline of
// their episode (history_open) and, per rule and deadline, how many
// findings are open, were remediated by the deadline (met) or closed after
// it (missed) (history_sla). The SLA attainment of a cycle then reads the
// counters of the deadlines in the cycle — a few rows per rule — instead
// of the whole history (engine/history's SummarizeCounters).
//
// The store knows which stored state codes open a finding and which
// remediate one: engine/history's codes, part of the stored format
// (engine/history's tests check that both agree).

// codeOpen reports whether a stored state code is an open finding
// (INSTALLED_PENDING_REBOOT 3, MISSING 4, BLOCKED_VERSION 5).
func codeOpen(c int) bool { return c == 3 || c == 4 || c == 5 }

// codeRemediated reports whether a stored state code ends a finding by
// fixing it (INSTALLED 1, INSTALLED_OTHER 2).
func codeRemediated(c int) bool { return c == 1 || c == 2 }

// CodeOpen and CodeRemediated expose the store's classification of state
// codes so that engine/history can check it against its own.
func CodeOpen(c int) bool { return codeOpen(c) }

// CodeRemediated: see CodeOpen.
func CodeRemediated(c int) bool { return codeRemediated(c) }

// SLACount is the counters of one rule and deadline.
type SLACount struct {
	Rule     HistoryRule
	Deadline time.Time
	// Open counts the findings open now; Met those remediated on or before
	// the deadline; Missed those closed (by any state) after it.
	Open, Met, Missed int
}

// lockSLA serializes writers of the counters across PostgreSQL replicas
// (SQLite has one writer anyway).
func (s *Store) lockSLA(ctx context.Context, tx *sql.Tx) error {
	if s.backend != BackendPostgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT stale FROM history_sla_state WHERE id = 1 FOR UPDATE`); err != nil {
		return fmt.Errorf("history counters: lock: %w", err)
	}
	return nil
}

func (s *Store) markSLAStale(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `UPDATE history_sla_state SET stale = 1 WHERE id = 1`); err != nil {
		return fmt.Errorf("history counters: %w", err)
	}
	return nil
}

// slaHost tracks one host's open findings while its changes are recorded;
// they are read at the host's first change (a report that changes
// nothing costs nothing more).
type slaHost struct {
	s    *Store
	host string
	open map[int64]int64 // rule id → episode deadline (0: none known yet); nil until read
}

func (h *slaHost) load(ctx context.Context, ex execer) error {
	rows, err := ex.QueryContext(ctx, h.s.q(`SELECT rule_id, deadline FROM history_open WHERE host_id = ?`), h.host)
	if err != nil {
		return fmt.Errorf("record states %s: open findings: %w", h.host, err)
	}
	defer rows.Close()
	h.open = map[int64]int64{}
	for rows.Next() {
		var id, dl int64
		if err := rows.Scan(&id, &dl); err != nil {
			return fmt.Errorf("record states %s: open findings: %w", h.host, err)
		}
		h.open[id] = dl
	}
	return rows.Err()
}

// change applies one recorded change (state code st, deadline dl, at at)
// of rule to the counters; the episode rules are engine/history's
// (Episodes): an open state after a closed one opens a finding, its
// deadline is the first non-zero one seen while open, and a closed state
// ends it.
func (h *slaHost) change(ctx context.Context, tx *sql.Tx, rule, at int64, st int, dl int64) error {
	if h.open == nil {
		if err := h.load(ctx, tx); err != nil {
			return err
		}
	}
	d, was := h.open[rule]
	s := h.s
	var err error
	switch is := codeOpen(st); {
	case !was && is:
		h.open[rule] = dl
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO history_open (host_id, rule_id, deadline) VALUES (?, ?, ?)`), h.host, rule, dl)
		if err == nil && dl != 0 {
			err = s.bumpSLA(ctx, tx, rule, dl, 1, 0, 0)
		}
	case was && is && d == 0 && dl != 0:
		h.open[rule] = dl
		_, err = tx.ExecContext(ctx, s.q(`UPDATE history_open SET deadline = ? WHERE host_id = ? AND rule_id = ?`), dl, h.host, rule)
		if err == nil {
			err = s.bumpSLA(ctx, tx, rule, dl, 1, 0, 0)
		}
	case was && !is:
		delete(h.open, rule)
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM history_open WHERE host_id = ? AND rule_id = ?`), h.host, rule)
		if err == nil && d != 0 {
			met, missed := 0, 0
			if at > d {
				missed = 1
			} else if codeRemediated(st) {
				met = 1
			}
			err = s.bumpSLA(ctx, tx, rule, d, -1, met, missed)
		}
	}
	if err != nil {
		return fmt.Errorf("record states %s: counters: %w", h.host, err)
	}
	return nil
}

func (s *Store) bumpSLA(ctx context.Context, ex execer, rule, deadline int64, open, met, missed int) error {
	_, err := ex.ExecContext(ctx, s.q(`INSERT INTO history_sla (rule_id, deadline, open_n, met, missed) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (rule_id, deadline) DO UPDATE SET open_n = history_sla.open_n + excluded.open_n,
		met = history_sla.met + excluded.met, missed = history_sla.missed + excluded.missed`), rule, deadline, open, met, missed)
	return err
}

// SLACounters returns the counters of the deadlines in [from, to). When
// the counters are stale (see migration 0008) they are first rebuilt from
// the whole history, once.
func (s *Store) SLACounters(ctx context.Context, from, to time.Time) ([]SLACount, error) {
	stale, err := s.SLAStale(ctx)
	if err != nil {
		return nil, err
	}
	if stale {
		if err := s.RebuildSLACounters(ctx); err != nil {
			return nil, err
		}
	}
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT r.stream, r.kind, r.name, r.severity, r.kev, r.since, c.deadline, c.open_n, c.met, c.missed
		FROM history_sla c JOIN history_rules r ON r.id = c.rule_id
		WHERE c.deadline >= ? AND c.deadline < ? AND (c.open_n <> 0 OR c.met <> 0 OR c.missed <> 0)
		ORDER BY c.deadline, c.rule_id`), dbTime(from), dbTime(to))
	if err != nil {
		return nil, fmt.Errorf("history counters: %w", err)
	}
	defer rows.Close()
	var out []SLACount
	for rows.Next() {
		var c SLACount
		var kev int
		var since, dl int64
		if err := rows.Scan(&c.Rule.Stream, &c.Rule.Kind, &c.Rule.Name, &c.Rule.Severity, &kev, &since, &dl, &c.Open, &c.Met, &c.Missed); err != nil {
			return nil, fmt.Errorf("history counters: %w", err)
		}
		c.Rule.KEV, c.Rule.Since, c.Deadline = kev != 0, goTime(since), goTime(dl)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history counters: %w", err)
	}
	return out, nil
}

// RebuildSLACounters recomputes the open findings and the counters from
// the whole history in one transaction (one pass in the primary key's
// order), and marks them current. Writers of history wait meanwhile.
func (s *Store) RebuildSLACounters(ctx context.Context) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockSLA(ctx, tx); err != nil {
			return err
		}
		type key struct{ rule, deadline int64 }
		type openRow struct {
			host           string
			rule, deadline int64
		}
		counts := map[key]*[3]int{}
		bump := func(rule, dl int64, i int, n int) {
			k := key{rule, dl}
			c := counts[k]
			if c == nil {
				c = &[3]int{}
				counts[k] = c
			}
			c[i] += n
		}
		var opens []openRow
		rows, err := tx.QueryContext(ctx, `SELECT host_id, rule_id, at, state, deadline FROM history_changes ORDER BY host_id, rule_id, at`)
		if err != nil {
			return fmt.Errorf("rebuild history counters: %w", err)
		}
		var curHost string
		var curRule int64 = -1
		var isOpen bool
		var dl int64
		end := func() {
			if isOpen {
				opens = append(opens, openRow{curHost, curRule, dl})
				if dl != 0 {
					bump(curRule, dl, 0, 1)
				}
			}
		}
		for rows.Next() {
			var host string
			var rule, at, d int64
			var st int
			if err := rows.Scan(&host, &rule, &at, &st, &d); err != nil {
				rows.Close()
				return fmt.Errorf("rebuild history counters: %w", err)
			}
			if host != curHost || rule != curRule {
				end()
				curHost, curRule, isOpen, dl = host, rule, false, 0
			}
			switch o := codeOpen(st); {
			case !isOpen && o:
				isOpen, dl = true, d
			case isOpen && o && dl == 0:
				dl = d
			case isOpen && !o:
				if dl != 0 {
					if at > dl {
						bump(rule, dl, 2, 1)
					} else if codeRemediated(st) {
						bump(rule, dl, 1, 1)
					}
				}
				isOpen, dl = false, 0
			}
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return fmt.Errorf("rebuild history counters: %w", err)
		}
		rows.Close()
		end()
		for _, q := range []string{`DELETE FROM history_open`, `DELETE FROM history_sla`, `UPDATE history_sla_state SET stale = 0 WHERE id = 1`} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("rebuild history counters: %w", err)
			}
		}
		ins, err := tx.PrepareContext(ctx, s.q(`INSERT INTO history_open (host_id, rule_id, deadline) VALUES (?, ?, ?)`))
		if err != nil {
			return fmt.Errorf("rebuild history counters: %w", err)
		}
		defer ins.Close()
		for _, o := range opens {
			if _, err := ins.ExecContext(ctx, o.host, o.rule, o.deadline); err != nil {
				return fmt.Errorf("rebuild history counters: %w", err)
			}
		}
		for k, c := range counts {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO history_sla (rule_id, deadline, open_n, met, missed) VALUES (?, ?, ?, ?, ?)`),
				k.rule, k.deadline, c[0], c[1], c[2]); err != nil {
				return fmt.Errorf("rebuild history counters: %w", err)
			}
		}
		return nil
	})
}

// SLAStale reports whether the counters wait for a rebuild (the next
// SLACounters does it).
func (s *Store) SLAStale(ctx context.Context) (bool, error) {
	var stale int
	if err := s.r.QueryRowContext(ctx, `SELECT stale FROM history_sla_state WHERE id = 1`).Scan(&stale); err != nil {
		return false, fmt.Errorf("history counters: %w", err)
	}
	return stale != 0, nil
}
