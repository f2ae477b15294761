"""The watcher's own tables (schema `watcher`): per-agent clocks, failing keys, sweep cycles."""

from __future__ import annotations

MIGRATIONS = [
    """
    CREATE TABLE {schema}.agents (
        agent text PRIMARY KEY,
        last_eval_at timestamptz,
        last_signal_at timestamptz,
        watched_since timestamptz NOT NULL
    );
    CREATE TABLE {schema}.failing (
        key text PRIMARY KEY,
        kind text NOT NULL,
        subject text NOT NULL,
        since timestamptz NOT NULL,
        last_failed_at timestamptz NOT NULL,
        last_event_id text NOT NULL
    );
    CREATE TABLE {schema}.sweeps (
        cycle bigint PRIMARY KEY,
        replica text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        checks jsonb NOT NULL DEFAULT '{}'::jsonb
    );
    """,
    # 2: the handler reads the failing keys of a batch's agents and versions
    "CREATE INDEX failing_by_subject ON {schema}.failing (subject);",
]
