-- Compliance history, viewer tokens and the notification delivery log.
--
-- history_rules interns a rule as judged: stream, kind, name and the
-- severity, KEV flag and "since" (advisory published or baseline created,
-- Unix nanoseconds, 0 unknown) it carried. history_changes is append-only:
-- one row per host and rule each time the rule's state on that host changes
-- (state codes are engine/history's; 0 means the rule no longer applies).
-- history_rollups holds one row per UTC day and ring, stream or the fleet.

CREATE TABLE history_rules (
    id       BIGSERIAL PRIMARY KEY,
    stream   TEXT NOT NULL,
    kind     TEXT NOT NULL,
    name     TEXT NOT NULL,
    severity TEXT NOT NULL,
    kev      SMALLINT NOT NULL,
    since    BIGINT NOT NULL,
    UNIQUE (stream, kind, name, severity, kev, since)
);

CREATE TABLE history_changes (
    host_id    TEXT NOT NULL,
    rule_id    BIGINT NOT NULL REFERENCES history_rules(id),
    at         BIGINT NOT NULL,
    state      SMALLINT NOT NULL,
    deadline   BIGINT NOT NULL,
    rollout_id TEXT,
    PRIMARY KEY (host_id, rule_id, at)
);
CREATE INDEX history_changes_at ON history_changes(at);

CREATE TABLE history_rollups (
    scope          TEXT NOT NULL,
    name           TEXT NOT NULL,
    day            BIGINT NOT NULL,
    hosts          INTEGER NOT NULL,
    compliant      INTEGER NOT NULL,
    critical       INTEGER NOT NULL,
    high           INTEGER NOT NULL,
    medium         INTEGER NOT NULL,
    low            INTEGER NOT NULL,
    kev            INTEGER NOT NULL,
    overdue        INTEGER NOT NULL,
    reboot_pending INTEGER NOT NULL,
    excepted       INTEGER NOT NULL,
    PRIMARY KEY (scope, name, day)
);

ALTER TABLE admin_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';

CREATE TABLE notify_log (
    event_key    TEXT NOT NULL,
    channel      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    last_error   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (event_key, channel)
);
CREATE INDEX notify_log_created ON notify_log(created_at);
