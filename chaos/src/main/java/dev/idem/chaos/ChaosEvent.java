package dev.idem.chaos;

/**
 * The JSON payload of a workload record. All copies of one event carry the same payload.
 *
 * @param id the event id (also in the {@code webhook-id} header)
 * @param key the ordering key (also the record key)
 * @param seq the event's position among its key's events, from 1
 * @param poison whether the handler must fail on it every time
 * @param swallow whether the handler, on its first attempt, catches an SQL error after its writes
 *     and returns normally (never set on a poison event)
 */
public record ChaosEvent(String id, String key, int seq, boolean poison, boolean swallow) {}
