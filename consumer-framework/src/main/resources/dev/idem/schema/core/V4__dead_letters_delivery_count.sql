-- idem schema, version 4: the delivery on which a share group's record was dead-lettered.
-- Placeholders: ${schema}, ${processed}, ${dead_letters} (validated lower-case identifiers).
--
-- A share group's broker delivers a record up to share.delivery.count.limit times. The dead letter
-- of such a record keeps the delivery it was given up on (the record's deliveryCount()), so an
-- operator can tell a record that failed on its first delivery from one that the broker delivered
-- until its last. NULL when the record was not read in a share group (consumer-group records carry
-- no delivery count), and for rows written before this version.
ALTER TABLE ${schema}.${dead_letters} ADD COLUMN IF NOT EXISTS delivery_count integer;
COMMENT ON COLUMN ${schema}.${dead_letters}.delivery_count IS
    'Share-group delivery (1 = first) on which the record was dead-lettered, NULL if not a share record';

-- Every idem script records its own version, whichever tool runs it (idem at start, Flyway,
-- Liquibase, psql): idem's start-up check reads it when it does not apply the scripts itself.
INSERT INTO ${schema}.idem_schema_version (script_set, version, description)
VALUES ('core:${processed}:${dead_letters}', 4, 'delivery count of dead letters')
ON CONFLICT DO NOTHING;
