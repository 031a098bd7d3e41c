/**
 * Offset watermarks.
 *
 * <p>{@link OffsetTracker} is used by the poll thread only. It tracks every polled offset, per
 * assignment epoch, and gives the committable offset over the contiguous prefix of done records.
 * {@link StoredOffsets} is how the poll thread sees offsets kept besides Kafka's: {@link
 * StoredOffsets#KAFKA} (none) or {@link DatabaseOffsets}, the poll thread's side of {@code
 * consumer.offset-store=postgresql}, which loads stored positions at assignment and folds
 * watermarks into them on an I/O thread of its own. It uses {@code internal.store}'s {@code
 * OffsetRows} and the shared transaction template.
 */
package dev.idem.consumer.internal.offset;
