"""The incident service's own tables (beside the core events/outbox/inbox tables)."""

from __future__ import annotations

MIGRATIONS = [
    # 1: incident ids, the incident read model, the per-key decision snapshot
    """
    CREATE SEQUENCE {schema}.incident_ids;
    CREATE TABLE {schema}.incidents (
        id bigint PRIMARY KEY,
        kind text NOT NULL,
        key text NOT NULL,
        subject text NOT NULL,
        severity text NOT NULL,
        status text NOT NULL,
        summary text NOT NULL,
        details jsonb NOT NULL,
        playbooks jsonb NOT NULL,
        owner_team text NOT NULL,
        issue_url text,
        occurrences int NOT NULL,
        created_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL,
        acknowledged_at timestamptz,
        acknowledged_by text,
        mitigated_at timestamptz,
        resolved_at timestamptz,
        resolution text,
        closed_at timestamptz,
        version int NOT NULL,
        last_transition text NOT NULL
    );
    CREATE INDEX incidents_key ON {schema}.incidents (key, id DESC);
    CREATE INDEX incidents_status ON {schema}.incidents (status, id DESC);
    CREATE INDEX incidents_resolved ON {schema}.incidents (resolved_at) WHERE status = 'resolved';
    CREATE TABLE {schema}.keys (
        key text PRIMARY KEY,
        version int NOT NULL,
        opened jsonb NOT NULL
    );
    """,
    # 2: at most one active incident per key, enforced where concurrent writers meet (a reopen
    # racing a detection that opens a new incident: the second to commit conflicts and retries)
    """
    CREATE UNIQUE INDEX incidents_one_active_per_key ON {schema}.incidents (key)
        WHERE status IN ('open', 'acknowledged', 'mitigated');
    """,
]
