package dev.idem.consumer.internal.tx;

import java.util.List;

/**
 * One transaction over the read records of a partition: a batch (batch mode, {@link
 * BatchProcessor}) or a grouped transaction of per-record handler calls (grouped mode, {@link
 * GroupProcessor}). Both end in one {@link GroupRun}; the caller runs what it did not finish one
 * record at a time.
 *
 * @param <T> the payload type
 */
public interface GroupTransaction<T> {

  /**
   * Runs {@code reads} (of one partition, in offset order) as attempt {@code attempt}; {@code
   * orderingKeys} holds each one's ordering key (null: unordered), which a grouped transaction uses
   * to hold back the later records of a key whose record failed.
   *
   * @throws dev.idem.consumer.internal.FaultHook.SimulatedCrash when a test's fault hook stops the
   *     consumer
   */
  GroupRun run(List<Read<T>> reads, List<Object> orderingKeys, int attempt);
}
