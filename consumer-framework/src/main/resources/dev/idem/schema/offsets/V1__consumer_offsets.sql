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

-- Offsets at or above next_offset whose processing transaction committed. Each processing
-- transaction inserts its own rows; the fold step moves next_offset over the contiguous done
-- prefix and deletes the rows below it, so this table holds about the records in flight.
CREATE TABLE IF NOT EXISTS ${schema}.consumer_offsets_done (
    consumer_name   text    NOT NULL,
    topic           text    NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint  NOT NULL,
    CONSTRAINT consumer_offsets_done_pkey
        PRIMARY KEY (consumer_name, topic, kafka_partition, kafka_offset)
);
