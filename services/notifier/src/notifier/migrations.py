"""The notifier's own tables (schema `notifier`), on top of the core events/outbox/inbox."""

from __future__ import annotations

MIGRATIONS = [
    """
    INSERT INTO {schema}.positions (name, last) VALUES ('sse', 0) ON CONFLICT DO NOTHING;
    CREATE TABLE {schema}.tracked (
        incident_id bigint PRIMARY KEY,
        cycle int NOT NULL,
        severity text NOT NULL,
        team text NOT NULL,
        kind text NOT NULL,
        status text NOT NULL,
        snapshot jsonb NOT NULL,
        policy jsonb NOT NULL,
        told text[] NOT NULL DEFAULT '{}',
        slack_ts text,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE {schema}.deliveries (
        seq bigserial PRIMARY KEY,
        idempotency_key text NOT NULL UNIQUE,
        incident_id bigint NOT NULL,
        cycle int NOT NULL,
        sink text NOT NULL,
        transition text NOT NULL,
        headline text NOT NULL,
        snapshot jsonb NOT NULL,
        status text NOT NULL DEFAULT 'pending',
        due_at timestamptz NOT NULL,
        attempts int NOT NULL DEFAULT 0,
        status_code int,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        done_at timestamptz
    );
    CREATE INDEX deliveries_due ON {schema}.deliveries (due_at) WHERE status = 'pending';
    CREATE INDEX deliveries_order ON {schema}.deliveries (incident_id, sink, seq)
        WHERE status = 'pending';
    CREATE TABLE {schema}.timers (
        id bigserial PRIMARY KEY,
        incident_id bigint NOT NULL,
        cycle int NOT NULL,
        kind text NOT NULL,
        name text NOT NULL,
        due_at timestamptz NOT NULL,
        payload jsonb NOT NULL DEFAULT '{}'::jsonb,
        status text NOT NULL DEFAULT 'pending',
        fired_at timestamptz,
        UNIQUE (incident_id, cycle, kind, name)
    );
    CREATE INDEX timers_due ON {schema}.timers (due_at) WHERE status = 'pending';
    CREATE TABLE {schema}.sse_log (
        position bigint PRIMARY KEY,
        event text NOT NULL,
        data jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    """,
    # the trace context a delivery was queued in, so the later vendor call joins that trace
    """
    ALTER TABLE {schema}.deliveries ADD COLUMN traceparent text;
    """,
    # per-routing-key token bucket and grouping window (keys stored as hashes, never in clear);
    # storms: overflow triggers coalesced into one alert per key, resolved when all members are
    """
    ALTER TABLE {schema}.deliveries ADD COLUMN storm_id bigint;
    CREATE TABLE {schema}.pd_limits (
        key_hash text PRIMARY KEY,
        tokens double precision NOT NULL,
        refilled_at timestamptz NOT NULL,
        window_start timestamptz NOT NULL,
        window_count int NOT NULL DEFAULT 0
    );
    CREATE TABLE {schema}.storms (
        id bigserial PRIMARY KEY,
        key_hash text NOT NULL,
        sink text NOT NULL,
        team text NOT NULL,
        status text NOT NULL DEFAULT 'collecting',
        due_at timestamptz NOT NULL,
        attempts int NOT NULL DEFAULT 0,
        status_code int,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        done_at timestamptz
    );
    CREATE UNIQUE INDEX storms_collecting ON {schema}.storms (key_hash)
        WHERE status = 'collecting';
    CREATE INDEX storms_due ON {schema}.storms (due_at)
        WHERE status IN ('collecting', 'resolving');
    CREATE TABLE {schema}.storm_members (
        storm_id bigint NOT NULL,
        incident_id bigint NOT NULL,
        cycle int NOT NULL,
        sink text NOT NULL,
        severity text NOT NULL,
        summary text NOT NULL,
        resolved boolean NOT NULL DEFAULT false,
        PRIMARY KEY (storm_id, incident_id, cycle, sink)
    );
    """,
    # two-phase delivery: a claim commits the row `sending` (claim token, lease) before the
    # vendor call; the outcome is recorded fenced on the token. uncertain_since: the start of
    # the earliest attempt whose outcome is unknown (a Slack bot re-send first looks for it)
    """
    ALTER TABLE {schema}.deliveries ADD COLUMN claim_token uuid,
        ADD COLUMN sending_since timestamptz, ADD COLUMN lease_until timestamptz,
        ADD COLUMN uncertain_since timestamptz;
    CREATE INDEX deliveries_lease ON {schema}.deliveries (lease_until) WHERE status = 'sending';
    CREATE INDEX deliveries_open ON {schema}.deliveries (incident_id, sink, seq)
        WHERE status IN ('pending', 'sending');
    """,
]
