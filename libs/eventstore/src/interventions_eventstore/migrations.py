"""Core tables every service schema can have: commit-ordered counters, events, outbox, inbox.

`{schema}` is replaced by the owning service's schema name.

Event data, event metadata and outbox headers are `json`, not `jsonb` (migration 2): an
event is written once and read back whole, as text, by replays, rebuilds and the relay, and
`jsonb` paid a parse into its binary form on every insert and a print back to text on every
read. Measured on the bench's decision rows (~600 bytes of JSON, 80,000 rows through the
store's own insert): 25 -> 19 us per row. The few ad-hoc queries (`data->>'at'` in
outcomes and self-alerts) work on `json` the same way.
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
    # 2: JSON kept as the text it was written as (see the module docstring)
    """
    ALTER TABLE {schema}.events
        ALTER COLUMN data TYPE json USING data::json,
        ALTER COLUMN metadata DROP DEFAULT,
        ALTER COLUMN metadata TYPE json USING metadata::json,
        ALTER COLUMN metadata SET DEFAULT '{}'::json;
    ALTER TABLE {schema}.outbox
        ALTER COLUMN headers DROP DEFAULT,
        ALTER COLUMN headers TYPE json USING headers::json,
        ALTER COLUMN headers SET DEFAULT '[]'::json;
    """,
    # 3: the inbox is pruned by age (`prune_inbox`); rows are appended in time order, so a
    # BRIN index (a few pages, next to nothing per insert) finds the old block ranges
    """
    CREATE INDEX inbox_processed_at ON {schema}.inbox USING brin (processed_at);
    """,
]
