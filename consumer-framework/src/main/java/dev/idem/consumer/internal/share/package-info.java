/**
 * The share-group runtime (KIP-932).
 *
 * <p>{@link ShareRuntime} wires a share consumer as {@code ConsumerRuntime} wires a consumer-group
 * one, and releases it through the same {@code Resources}. {@code SharePollLoop} polls a {@code
 * ShareConsumer}, hands each poll's records to the workers in chunks ({@code ShareChunks}) through
 * {@code ShareRuns} (jobs, pauses, the watchdog's registration, the results queue), and
 * acknowledges each record as its answer comes back, instead of tracking offsets. {@code
 * HeldRecords} holds the records from acquisition to acknowledgement and renews the locks of those
 * in work. {@code ShareRecordTask} retries a record within its acquisition lock and decides its
 * acknowledgement. {@code DatabaseGate} stops acquiring while the database is down. {@code
 * ShareGroupSettings} reads and sets the group's settings, {@code LiveGroupSettings} reads them
 * again while the consumer runs.
 *
 * <p>It builds on {@code internal.runtime}'s {@code Pipeline} and {@code Resources}, {@code
 * internal.lifecycle}'s {@code ConsumerStatus}, {@code internal.tx}, and the failure policy, the
 * group fall-back ({@code Tasks.overGroups}) and the watchdog of {@code internal.dispatch}. It does
 * not use the poll loop, the dispatcher's lanes or the offset tracker.
 */
package dev.idem.consumer.internal.share;
