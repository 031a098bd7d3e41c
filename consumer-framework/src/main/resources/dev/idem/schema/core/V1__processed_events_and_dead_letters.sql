-- idem schema, version 1.
-- Placeholders: ${schema}, ${processed}, ${dead_letters} (validated lower-case identifiers).

-- One row per (consumer name, event id) whose effects committed. The primary key is the last
-- safety net behind the advisory lock: a second mark for the same id can never commit.
CREATE TABLE IF NOT EXISTS ${schema}.${processed} (
    consumer_name   text        NOT NULL,
    event_id        text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    processed_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ${processed}_pkey PRIMARY KEY (consumer_name, event_id)
);

-- Retention deletes expired marks in bounded batches. Marks arrive in time order, so a BRIN index
-- finds them at a fraction of a btree's cost on every insert.
CREATE INDEX IF NOT EXISTS ${processed}_processed_at_idx
    ON ${schema}.${processed} USING brin (processed_at);

-- One row per (consumer name, event id) given up on. Records without a usable event id are keyed
-- by 'topic-partition@offset' with has_event_id = false. A dead-lettered id counts as handled:
-- later copies are skipped until a replay deletes the row.
CREATE TABLE IF NOT EXISTS ${schema}.${dead_letters} (
    consumer_name     text        NOT NULL,
    event_id          text        NOT NULL,
    has_event_id      boolean     NOT NULL,
    topic             text        NOT NULL,
    kafka_partition   integer     NOT NULL,
    kafka_offset      bigint      NOT NULL,
    record_key        bytea,
    record_value      bytea,
    headers           jsonb       NOT NULL DEFAULT '[]',
    attempts          integer     NOT NULL,
    reason            text        NOT NULL,
    exception_class   text,
    exception_message text,
    dead_lettered_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ${dead_letters}_pkey PRIMARY KEY (consumer_name, event_id)
);

-- Every idem script records its own version, whichever tool runs it (idem at start, Flyway,
-- Liquibase, psql): idem's start-up check reads it when it does not apply the scripts itself.
CREATE TABLE IF NOT EXISTS ${schema}.idem_schema_version (
    script_set  text        NOT NULL,
    version     integer     NOT NULL,
    description text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (script_set, version)
);
INSERT INTO ${schema}.idem_schema_version (script_set, version, description)
VALUES ('core:${processed}:${dead_letters}', 1, 'processed events and dead letters')
ON CONFLICT DO NOTHING;
