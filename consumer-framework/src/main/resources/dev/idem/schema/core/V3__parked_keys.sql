-- idem schema, version 3: ordering keys parked behind a dead letter
-- (consumer.dead-letter.on-failure=park-key).
-- Placeholders: ${schema}, ${processed}, ${dead_letters} (validated lower-case identifiers).
--
-- When a record is dead-lettered in park-key mode, its ordering key (within its topic-partition)
-- is parked: later records of that key are dead-lettered behind it, in order, instead of being
-- applied ahead of it. A replay releases the key's dead letters in order (state 'releasing', the
-- republished records carry release_token); records of the key that arrive meanwhile queue behind
-- them. The row goes when the release is done and nothing queued up meanwhile.
CREATE TABLE IF NOT EXISTS ${schema}.${dead_letters}_parked_keys (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer_name     text        NOT NULL,
    topic             text        NOT NULL,
    kafka_partition   integer     NOT NULL,
    ordering_key      bytea       NOT NULL,
    state             text        NOT NULL CHECK (state IN ('parked', 'releasing')),
    release_token     uuid,
    release_remaining integer     NOT NULL DEFAULT 0,
    parked_meanwhile  boolean     NOT NULL DEFAULT false,
    parked_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ${dead_letters}_parked_keys_key
        UNIQUE (consumer_name, topic, kafka_partition, ordering_key)
);

-- The parked key a dead letter belongs to (its first dead letter, the head, included); null for
-- dead letters of skip mode. Members are released in the order they were written (id).
ALTER TABLE ${schema}.${dead_letters} ADD COLUMN IF NOT EXISTS parked_key bigint;
CREATE INDEX IF NOT EXISTS ${dead_letters}_parked_key_idx
    ON ${schema}.${dead_letters} (parked_key, id) WHERE parked_key IS NOT NULL;

-- Every idem script records its own version, whichever tool runs it (idem at start, Flyway,
-- Liquibase, psql): idem's start-up check reads it when it does not apply the scripts itself.
INSERT INTO ${schema}.idem_schema_version (script_set, version, description)
VALUES ('core:${processed}:${dead_letters}', 3, 'parked ordering keys')
ON CONFLICT DO NOTHING;
