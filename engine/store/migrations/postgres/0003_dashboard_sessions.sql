-- Dashboard sign-in sessions: the browser's cookie holds a random session
-- id, never the admin token; only its SHA-256 is stored. A session ends at
-- expires_at, at sign-out, or when its admin token is deleted.

CREATE TABLE dashboard_sessions (
    id_hash    TEXT PRIMARY KEY,
    admin_name TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expires_at ON dashboard_sessions(expires_at);
