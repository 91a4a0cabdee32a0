-- patchbay store schema, version 1 (PostgreSQL).
-- Times are Unix nanoseconds (BIGINT), 0 meaning unset; booleans are BOOLEAN;
-- labels are a JSON object; package sets are opaque bytes keyed by hash.

CREATE TABLE package_sets (
    hash       TEXT PRIMARY KEY,
    data       BYTEA NOT NULL,
    -- encoding of data: '' (as given) or 'deflate' (raw DEFLATE, RFC 1951);
    -- size is the length of the set as given.
    encoding   TEXT NOT NULL DEFAULT '',
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE hosts (
    id              TEXT PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    labels          TEXT NOT NULL DEFAULT '{}',
    stream          TEXT NOT NULL DEFAULT '',
    ring            TEXT NOT NULL DEFAULT '',
    hostname        TEXT NOT NULL DEFAULT '',
    arch            TEXT NOT NULL DEFAULT '',
    kernel          TEXT NOT NULL DEFAULT '',
    agent_version   TEXT NOT NULL DEFAULT '',
    reboot_required BOOLEAN NOT NULL DEFAULT FALSE,
    set_hash        TEXT REFERENCES package_sets(hash),
    last_report_at  BIGINT NOT NULL DEFAULT 0,
    enrolled_at     BIGINT NOT NULL
);
CREATE INDEX hosts_set_hash ON hosts(set_hash);
CREATE INDEX hosts_ring ON hosts(ring);

CREATE TABLE reports (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host_id         TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    received_at     BIGINT NOT NULL,
    collected_at    BIGINT NOT NULL,
    set_hash        TEXT NOT NULL REFERENCES package_sets(hash),
    set_changed     BOOLEAN NOT NULL,
    reboot_required BOOLEAN NOT NULL,
    kernel          TEXT NOT NULL,
    agent_version   TEXT NOT NULL
);
CREATE INDEX reports_host_id ON reports(host_id, id);
CREATE INDEX reports_set_hash ON reports(set_hash);

CREATE TABLE plans (
    host_id         TEXT PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
    computed_at     BIGINT NOT NULL,
    baseline_digest TEXT NOT NULL,
    data            BYTEA NOT NULL
);

CREATE TABLE enrollment_tokens (
    token_hash TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    max_uses   BIGINT NOT NULL,
    uses       BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE admin_tokens (
    name       TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE deliveries (
    id      TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
CREATE INDEX deliveries_seen_at ON deliveries(seen_at);

CREATE TABLE rollouts (
    id              TEXT PRIMARY KEY,
    ring            TEXT NOT NULL,
    commit_sha      TEXT NOT NULL,
    baseline_id     TEXT NOT NULL,
    baseline_digest TEXT NOT NULL,
    state           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX rollouts_ring ON rollouts(ring, created_at);

CREATE TABLE rollout_steps (
    host_id         TEXT NOT NULL,
    baseline_digest TEXT NOT NULL,
    action          TEXT NOT NULL,
    rollout_id      TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
    status          TEXT NOT NULL,
    detail          BYTEA NOT NULL,
    recorded_at     BIGINT NOT NULL,
    PRIMARY KEY (host_id, baseline_digest, action)
);
CREATE INDEX rollout_steps_rollout ON rollout_steps(rollout_id);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    fencing    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
