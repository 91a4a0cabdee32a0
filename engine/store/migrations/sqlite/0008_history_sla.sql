-- Per-deadline SLA counters, kept while history is recorded, so the cycle
-- summary reads a few rows instead of the whole history.
--
-- history_open holds each open finding (a host and rule whose last state is
-- an open one: INSTALLED_PENDING_REBOOT, MISSING, BLOCKED_VERSION) with the
-- deadline of its episode (the first non-zero deadline since it opened; 0
-- while none is known). history_sla counts, per rule and deadline (Unix
-- nanoseconds), the open findings (open_n), the findings closed on or
-- before the deadline by a remediation (met) and those closed after it
-- (missed). history_sla_state.stale is 1 when the counters no longer follow
-- the changes (a change recorded at or before an earlier one of the same
-- host and rule, or a database migrated with history already in it); the
-- next read rebuilds them from history_changes.

CREATE TABLE history_open (
    host_id  TEXT NOT NULL,
    rule_id  INTEGER NOT NULL REFERENCES history_rules(id),
    deadline INTEGER NOT NULL,
    PRIMARY KEY (host_id, rule_id)
) WITHOUT ROWID;

CREATE TABLE history_sla (
    rule_id  INTEGER NOT NULL REFERENCES history_rules(id),
    deadline INTEGER NOT NULL,
    open_n   INTEGER NOT NULL,
    met      INTEGER NOT NULL,
    missed   INTEGER NOT NULL,
    PRIMARY KEY (rule_id, deadline)
) WITHOUT ROWID;
CREATE INDEX history_sla_deadline ON history_sla(deadline);

CREATE TABLE history_sla_state (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    stale INTEGER NOT NULL
);
INSERT INTO history_sla_state (id, stale) SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM history_changes) THEN 1 ELSE 0 END;
