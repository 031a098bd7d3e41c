-- idem outbox, version 1: records to publish to Kafka, written in the transaction of the change
-- they announce (dev.idem.consumer.outbox.Outbox) and published by the relay (OutboxRelay).
-- Placeholders: ${schema}, ${outbox} (validated lower-case identifiers).
--
-- Per Kafka key, id order is commit order: Outbox.publish takes a transaction-scoped advisory lock
-- on (topic, key) before the row takes its id, so two transactions of one key cannot hold rows at
-- once. The relay publishes unsent rows in id order and marks them sent; it keeps no high-water
-- mark, so a row whose transaction commits late with a lower id is not skipped.
CREATE TABLE IF NOT EXISTS ${schema}.${outbox} (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      text        NOT NULL,
    topic         text        NOT NULL,
    record_key    bytea,
    record_value  bytea,
    header_names  text[]      NOT NULL DEFAULT '{}',
    header_values bytea[]     NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    CONSTRAINT ${outbox}_event_id_key UNIQUE (event_id)
);

-- The relay's read: unsent rows in id order. Sent rows leave the index.
CREATE INDEX IF NOT EXISTS ${outbox}_pending_idx ON ${schema}.${outbox} (id) WHERE sent_at IS NULL;
-- Retention of sent rows.
CREATE INDEX IF NOT EXISTS ${outbox}_sent_at_idx ON ${schema}.${outbox} (sent_at)
    WHERE sent_at IS NOT NULL;

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
VALUES ('outbox:${outbox}', 1, 'outbox')
ON CONFLICT DO NOTHING;
