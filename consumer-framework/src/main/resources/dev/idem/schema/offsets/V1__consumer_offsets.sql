-- idem offset store, version 1 (consumer.offset-store=postgresql).
-- Placeholder: ${schema} (a validated lower-case identifier).

-- Per (consumer, topic-partition): the next offset to read. Every offset below it is done (or was
-- never a record: transaction markers and compaction leave gaps). It only moves forward.
CREATE TABLE IF NOT EXISTS ${schema}.consumer_offsets (
    consumer_name   text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    next_offset     bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT consumer_offsets_pkey PRIMARY KEY (consumer_name, topic, kafka_partition)
);

-- Runs of done offsets, [first_offset, last_offset], at or above next_offset, whose processing
-- transaction committed. Each processing transaction inserts its own: one run per record, or per
-- stretch of adjacent offsets of a batch. The fold step moves next_offset over the contiguous done
-- prefix and deletes the runs that end below it, so this table holds about the records in flight.
CREATE TABLE IF NOT EXISTS ${schema}.consumer_offsets_done (
    consumer_name   text    NOT NULL,
    topic           text    NOT NULL,
    kafka_partition integer NOT NULL,
    first_offset    bigint  NOT NULL,
    last_offset     bigint  NOT NULL,
    CONSTRAINT consumer_offsets_done_pkey
        PRIMARY KEY (consumer_name, topic, kafka_partition, first_offset, last_offset),
    CONSTRAINT consumer_offsets_done_run CHECK (last_offset >= first_offset)
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
VALUES ('offsets', 1, 'consumer offsets')
ON CONFLICT DO NOTHING;
