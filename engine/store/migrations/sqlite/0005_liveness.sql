-- Liveness of host steps: the last heartbeat of a running rollout host (and
-- the phase the agent said it was in), and hosts whose agent runs in
-- dry-run mode, which never take a wave slot.

ALTER TABLE rollout_hosts ADD COLUMN heartbeat_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollout_hosts ADD COLUMN heartbeat_phase TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN dry_run_at INTEGER NOT NULL DEFAULT 0;
