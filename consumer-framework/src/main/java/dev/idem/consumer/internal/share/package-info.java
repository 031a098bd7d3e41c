/**
 * The share-group runtime (KIP-932).
 *
 * <p>{@link ShareRuntime} wires a share consumer as {@code ConsumerRuntime} wires a consumer-group
 * one, and releases it through the same {@code Resources}. {@code SharePollLoop} polls a {@code
 * ShareConsumer}, hands each poll's records to the workers in chunks ({@code ShareChunks}) and
 * acknowledges each record as its answer comes back through a queue, instead of tracking offsets.
 * {@code ShareRecordTask} retries a record within its acquisition lock and decides its
 * acknowledgement. {@code DatabaseGate} stops acquiring while the database is down. {@code
 * ShareGroupSettings} reads and sets the group's settings.
 *
 * <p>It builds on {@code internal.runtime}'s {@code Pipeline} and {@code Resources}, {@code
 * internal.lifecycle}'s {@code ConsumerStatus}, {@code internal.tx}, and the failure policy, the
 * group fall-back ({@code Tasks.overGroups}) and the watchdog of {@code internal.dispatch}. It does
 * not use the poll loop, the dispatcher's lanes or the offset tracker.
 */
package dev.idem.consumer.internal.share;
