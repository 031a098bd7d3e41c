package dev.idem.consumer.internal.outbox;

import dev.idem.consumer.internal.FaultHook;
import dev.idem.consumer.internal.store.OutboxRows;
import dev.idem.lock.AdvisoryLocks;
import io.micrometer.core.instrument.MeterRegistry;
import javax.sql.DataSource;

/**
 * What a relay works with, copied out of its builder by {@code build()}.
 *
 * @param rows the outbox table's statements
 * @param dataSource the pool the relay's transactions run on
 * @param locks elects the relay's leader
 * @param meterRegistry where the meters go, or null for a private registry
 * @param faults fault-injection points for tests ({@link FaultHook#NONE} otherwise)
 */
public record RelayParts(
    OutboxRows rows,
    DataSource dataSource,
    AdvisoryLocks locks,
    MeterRegistry meterRegistry,
    FaultHook faults) {}
