-- idem schema, version 2: dead letters of records without a usable event id get keys of their own.
-- Placeholders: ${schema}, ${processed}, ${dead_letters} (validated lower-case identifiers).
--
-- In version 1 such a record was keyed by the text 'topic-partition@offset' in the event-id column,
-- so a real event carrying that id was skipped as a duplicate, and after a topic was re-created a
-- new record without an id at a reused offset was skipped too. Now event_id is NULL for them, and
-- they are told apart by their coordinates and a digest of their content: a redelivery of the same
-- record finds its row, a different record at the same offset gets a row of its own.

ALTER TABLE ${schema}.${dead_letters} ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE ${schema}.${dead_letters} ADD COLUMN record_digest bytea;
ALTER TABLE ${schema}.${dead_letters} DROP CONSTRAINT ${dead_letters}_pkey;
ALTER TABLE ${schema}.${dead_letters} ALTER COLUMN event_id DROP NOT NULL;

-- The digest: SHA-256 over the key and the value (each with its length, -1 for null) and the
-- headers' JSON text. The consumer computes the same expression when it writes such a row.
UPDATE ${schema}.${dead_letters}
   SET event_id = NULL,
       record_digest = sha256(
           int4send(coalesce(length(record_key), -1)) || coalesce(record_key, '\x'::bytea)
           || int4send(coalesce(length(record_value), -1)) || coalesce(record_value, '\x'::bytea)
           || convert_to(headers::text, 'UTF8'))
 WHERE NOT has_event_id;

ALTER TABLE ${schema}.${dead_letters} ADD CONSTRAINT ${dead_letters}_pkey PRIMARY KEY (id);
ALTER TABLE ${schema}.${dead_letters} ADD CONSTRAINT ${dead_letters}_identity
    CHECK (has_event_id = (event_id IS NOT NULL) AND (event_id IS NOT NULL OR record_digest IS NOT NULL));

-- A dead-lettered event id counts as handled: later copies are skipped until a replay deletes it.
CREATE UNIQUE INDEX ${dead_letters}_event_key
    ON ${schema}.${dead_letters} (consumer_name, event_id) WHERE event_id IS NOT NULL;
-- A record without an id: one row per (coordinates, content).
CREATE UNIQUE INDEX ${dead_letters}_record_key
    ON ${schema}.${dead_letters} (consumer_name, topic, kafka_partition, kafka_offset, record_digest)
    WHERE event_id IS NULL;

-- Every idem script records its own version, whichever tool runs it (idem at start, Flyway,
-- Liquibase, psql): idem's start-up check reads it when it does not apply the scripts itself.
INSERT INTO ${schema}.idem_schema_version (script_set, version, description)
VALUES ('core:${processed}:${dead_letters}', 2, 'dead letters without event id')
ON CONFLICT DO NOTHING;
