"""The incident service's own tables (beside the core events/outbox/inbox tables).

The incident and key rows are updated at every deduplicated detection's flush (occurrences,
last seen, versions), none of them an indexed column, so each update can stay on its row's
page (a HOT update: no new entry in any of the five indexes) if the page has room. Filled
to 100 % (the default) the pages had none: in the bench's decisions phase (30,000
detections over 1,000 keys) 712 of 5,876 incident updates were HOT, at fillfactor 70 4,216
of 5,114; PostgreSQL's time for those updates went from 128 to 66 ms, and the table ended
at 1.3 MB instead of 2.8. (On a database created before, it applies to pages written from
then on.)

An incident's `details` and `playbooks` are `json`, not `jsonb` (migration 4): `json` keeps
the text the service wrote (orjson's), so the incident list hands it on as it is
(`Queries.page_json`) instead of parsing it and writing it again for every row of every page;
`jsonb` printed it back with spaces and in its own key order. Rows written before migration 4
keep the spaced text of their conversion: the same JSON.
"""

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
    # 3: room on each page for rows updated in place (see the module docstring)
    """
    ALTER TABLE {schema}.incidents SET (fillfactor = 70);
    ALTER TABLE {schema}.keys SET (fillfactor = 70);
    """,
    # 4: details and playbooks as written (see the module docstring)
    """
    ALTER TABLE {schema}.incidents
        ALTER COLUMN details TYPE json USING details::json,
        ALTER COLUMN playbooks TYPE json USING playbooks::json;
    """,
]
