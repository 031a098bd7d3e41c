package dev.idem.consumer.internal.dispatch;

import dev.idem.consumer.internal.tx.GroupProcessor;
import dev.idem.consumer.internal.tx.Read;
import java.util.List;

/**
 * One transaction over the read records of a lane's group: a batch (batch mode) or a grouped
 * transaction of per-record handler calls (grouped mode). {@link BatchTask} runs either the same
 * way, falling back to one record at a time for what it did not finish.
 *
 * @param <T> the payload type
 */
interface GroupTransaction<T> {

  /**
   * Runs {@code reads} (in offset order; {@code works} holds their lane entries, in the same order)
   * once, as attempt {@code attempt}.
   */
  GroupProcessor.GroupRun run(List<Read<T>> reads, List<Work> works, int attempt);
}
