-- The rollout controller's state: per-rollout progress, the hosts of each
-- rollout with their wave and outcome, an outbox of transitions still to be
-- written to the audit trail, and named marks (the processed-commit cursor).

CREATE TABLE rollout_progress (
    rollout_id      TEXT PRIMARY KEY REFERENCES rollouts(id) ON DELETE CASCADE,
    wave            INTEGER NOT NULL,
    wave_started_at INTEGER NOT NULL,
    hosts_total     INTEGER NOT NULL,
    detail          BLOB NOT NULL
);

CREATE TABLE rollout_hosts (
    rollout_id  TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
    host_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    actions     INTEGER NOT NULL,
    wave        INTEGER NOT NULL,
    state       TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, host_id)
);
CREATE INDEX rollout_hosts_state ON rollout_hosts(rollout_id, state, seq);
CREATE INDEX rollout_hosts_host ON rollout_hosts(host_id);
CREATE INDEX rollout_hosts_wave ON rollout_hosts(rollout_id, wave, state);

CREATE TABLE rollout_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    rollout_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    payload    BLOB NOT NULL,
    actor      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    audited    INTEGER NOT NULL
);
CREATE INDEX rollout_events_pending ON rollout_events(audited, id);
CREATE INDEX rollout_events_rollout ON rollout_events(rollout_id, id);

CREATE TABLE controller_marks (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
