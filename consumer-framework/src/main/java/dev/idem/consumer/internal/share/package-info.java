/**
 * The share-group runtime (KIP-932).
 *
 * <p>{@link ShareRuntime} polls a {@code ShareConsumer} and runs each poll's records on workers
 * through the same processors as the consumer-group mode. Then it acknowledges each record instead
 * of tracking offsets. {@code ShareRecordTask} retries a record within its acquisition lock and
 * decides its acknowledgement. {@code ShareGroupSettings} reads and sets the group's settings.
 *
 * <p>It builds on {@code internal.runtime}'s {@code Pipeline}, {@code internal.tx} and the failure
 * policy and watchdog of {@code internal.dispatch}. It does not use the poll loop, the dispatcher's
 * lanes or the offset tracker.
 */
package dev.idem.consumer.internal.share;
