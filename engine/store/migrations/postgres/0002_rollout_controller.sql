-- The rollout controller's state: per-rollout progress, the hosts of each
-- rollout with their wave and outcome, an outbox of transitions still to be
-- written to the audit trail, and named marks (the processed-commit cursor).

CREATE TABLE rollout_progress (
    rollout_id      TEXT PRIMARY KEY REFERENCES rollouts(id) ON DELETE CASCADE,
    wave            BIGINT NOT NULL,
    wave_started_at BIGINT NOT NULL,
    hosts_total     BIGINT NOT NULL,
    detail          BYTEA NOT NULL
);

CREATE TABLE rollout_hosts (
    rollout_id  TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
    host_id     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    actions     BIGINT NOT NULL,
    wave        BIGINT NOT NULL,
    state       TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    PRIMARY KEY (rollout_id, host_id)
);
CREATE INDEX rollout_hosts_state ON rollout_hosts(rollout_id, state, seq);
CREATE INDEX rollout_hosts_host ON rollout_hosts(host_id);
CREATE INDEX rollout_hosts_wave ON rollout_hosts(rollout_id, wave, state);

CREATE TABLE rollout_events (
    id         BIGSERIAL PRIMARY KEY,
    rollout_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    payload    BYTEA NOT NULL,
    actor      TEXT NOT NULL,
    at         BIGINT NOT NULL,
    audited    BIGINT NOT NULL
);
CREATE INDEX rollout_events_pending ON rollout_events(audited, id);
CREATE INDEX rollout_events_rollout ON rollout_events(rollout_id, id);

CREATE TABLE controller_marks (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
