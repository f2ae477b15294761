"""Core tables every service schema can have: commit-ordered counters, events, outbox, inbox.

`{schema}` is replaced by the owning service's schema name.
"""

from __future__ import annotations

CORE = [
    # 1: counters whose row lock hands out positions in commit order (see outbox.py)
    """
    CREATE TABLE {schema}.positions (name text PRIMARY KEY, last bigint NOT NULL);
    INSERT INTO {schema}.positions (name, last) VALUES ('events', 0), ('outbox', 0);
    CREATE TABLE {schema}.events (
        global_position bigint PRIMARY KEY,
        stream_id text NOT NULL,
        stream_version int NOT NULL,
        event_id text NOT NULL UNIQUE,
        type text NOT NULL,
        schema_version int NOT NULL,
        data jsonb NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (stream_id, stream_version)
    );
    CREATE TABLE {schema}.outbox (
        position bigint PRIMARY KEY,
        topic text NOT NULL,
        key bytea,
        value bytea NOT NULL,
        headers jsonb NOT NULL DEFAULT '[]'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE {schema}.outbox_cursor (relay text PRIMARY KEY, position bigint NOT NULL);
    CREATE TABLE {schema}.inbox (
        consumer text NOT NULL,
        event_id text NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
    );
    """,
]
