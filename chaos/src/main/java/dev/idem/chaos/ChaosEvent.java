package dev.idem.chaos;

/**
 * The JSON payload of a workload record. All copies of one event carry the same payload.
 *
 * @param id the event id (also in the {@code webhook-id} header)
 * @param key the ordering key (also the record key)
 * @param seq the event's position among its key's events, from 1
 * @param poison whether the handler must fail on it every time
 * @param swallow whether the handler, on its first attempt, catches an SQL error after its writes
 *     and returns normally (never set on a poison, hung or slow-failing event)
 * @param hang share groups: whether the handler blocks, ignoring interrupts, for longer than the
 *     watchdog allows, on every delivery (such an event has no extra copies)
 * @param slowFail share groups: whether the handler sleeps past the record's acquisition lock and
 *     then fails with a retryable exception, on every delivery
 */
public record ChaosEvent(
    String id,
    String key,
    int seq,
    boolean poison,
    boolean swallow,
    boolean hang,
    boolean slowFail) {

  /** Whether the handler applies it in the end: neither poison, nor hung, nor slow-failing. */
  public boolean healthy() {
    return !poison && !hang && !slowFail;
  }
}
