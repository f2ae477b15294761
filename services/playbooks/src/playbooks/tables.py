"""The playbooks schema: incidents it may act on, executions, the action log, breakers."""

from __future__ import annotations

MIGRATIONS = [
    """
    CREATE TABLE {schema}.incidents (
        id bigint PRIMARY KEY,
        key text NOT NULL,
        kind text NOT NULL DEFAULT '',
        severity text NOT NULL,
        status text NOT NULL,
        playbooks text[] NOT NULL DEFAULT '{}',
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        version int NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE {schema}.executions (
        id text PRIMARY KEY,
        incident_id bigint NOT NULL,
        action_type text NOT NULL,
        params jsonb NOT NULL,
        status text NOT NULL,
        suggested boolean NOT NULL,
        needs_approval boolean NOT NULL,
        approval_reasons text[] NOT NULL DEFAULT '{}',
        requested_by text NOT NULL,
        reason text,
        approved_by text,
        requested_at timestamptz NOT NULL,
        expires_at timestamptz,
        started_at timestamptz,
        finished_at timestamptz,
        result jsonb NOT NULL DEFAULT '{}'::jsonb,
        error text
    );
    CREATE INDEX executions_incident ON {schema}.executions (incident_id, requested_at);
    CREATE INDEX executions_pending ON {schema}.executions (expires_at)
        WHERE status = 'pending_approval';
    CREATE INDEX executions_rate ON {schema}.executions (incident_id, action_type, started_at);
    CREATE TABLE {schema}.action_log (
        seq bigserial PRIMARY KEY,
        incident_id bigint NOT NULL,
        execution_id text NOT NULL,
        type text NOT NULL,
        data jsonb NOT NULL,
        at timestamptz NOT NULL
    );
    CREATE INDEX action_log_incident ON {schema}.action_log (incident_id, seq);
    CREATE TABLE {schema}.breakers (
        action_type text PRIMARY KEY,
        failures int NOT NULL DEFAULT 0,
        open boolean NOT NULL DEFAULT false,
        reason text,
        changed_at timestamptz NOT NULL DEFAULT now(),
        reset_by text
    );
    """,
]
