package dev.idem.consumer.internal.offset;

import dev.idem.consumer.internal.store.OffsetRows;
import dev.idem.internal.jdbc.Transactions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.Queue;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The poll thread's side of the offset store ({@code consumer.offset-store=postgresql}).
 *
 * <p>Database work runs on an I/O thread of its own, so an unreachable database never blocks the
 * poll loop: loads of newly assigned partitions (retried until they succeed or the partition goes
 * away) and folds of done prefixes into the stored positions. Results of loads come back through
 * {@link #takeLoaded()}; the poll thread seeks, and from then on asks {@link #isDone} for every
 * record it polls.
 *
 * <p>Why the stored state never claims an offset still in flight: done rows are written inside the
 * record's own transaction, and a fold only moves a position to a watermark of the {@link
 * OffsetTracker}, which counts a record only after its transaction committed.
 */
public final class DatabaseOffsets implements StoredOffsets, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(DatabaseOffsets.class);
  private static final Duration LOAD_RETRY = Duration.ofSeconds(1);

  private final String consumerName;
  private final DataSource dataSource;
  private final Transactions transactions;
  private final OffsetRows store;
  private final ScheduledExecutorService io;
  private final Queue<Loaded> loaded = new ConcurrentLinkedQueue<>();
  private final Map<TopicPartition, Long> lastFolded = new ConcurrentHashMap<>();
  private final AtomicBoolean folding = new AtomicBoolean();
  private final Map<TopicPartition, NavigableSet<Long>> skips = new HashMap<>();

  /**
   * @param io a single-threaded executor for the database work; shut down by {@link #close()}
   */
  public DatabaseOffsets(
      String consumerName, DataSource dataSource, OffsetRows store, ScheduledExecutorService io) {
    this.consumerName = consumerName;
    this.dataSource = dataSource;
    this.transactions = Transactions.standard();
    this.store = store;
    this.io = io;
  }

  @Override
  public Set<TopicPartition> load(Map<TopicPartition, Long> epochs) {
    if (!epochs.isEmpty()) {
      io.execute(() -> loadNow(Map.copyOf(epochs)));
    }
    return epochs.keySet();
  }

  private void loadNow(Map<TopicPartition, Long> epochs) {
    try {
      Map<TopicPartition, OffsetRows.Stored> stored =
          transactions.run(dataSource, c -> store.load(c, epochs.keySet()));
      stored.forEach((tp, s) -> loaded.add(new Loaded(tp, epochs.get(tp), s)));
    } catch (Exception e) {
      log.warn(
          "consumer {}: cannot read stored offsets of {} ({}); their partitions stay paused,"
              + " retrying in {} ms",
          consumerName,
          epochs.keySet(),
          e.toString(),
          LOAD_RETRY.toMillis());
      try {
        io.schedule(() -> loadNow(epochs), LOAD_RETRY.toMillis(), TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException closed) {
        // Closing.
      }
    }
  }

  @Override
  public List<Loaded> takeLoaded() {
    List<Loaded> result = new ArrayList<>();
    Loaded l;
    while ((l = loaded.poll()) != null) {
      result.add(l);
    }
    return result;
  }

  @Override
  public void retryLater(Collection<Loaded> notApplied) {
    loaded.addAll(notApplied);
  }

  @Override
  public void skip(TopicPartition tp, NavigableSet<Long> done, long from) {
    NavigableSet<Long> relevant = new TreeSet<>(done.tailSet(from, true));
    if (relevant.isEmpty()) {
      skips.remove(tp);
    } else {
      skips.put(tp, relevant);
    }
  }

  @Override
  public boolean isDone(TopicPartition tp, long offset) {
    NavigableSet<Long> done = skips.get(tp);
    if (done == null) {
      return false;
    }
    done.headSet(offset, false).clear();
    boolean hit = done.remove(offset);
    if (done.isEmpty()) {
      skips.remove(tp);
    }
    return hit;
  }

  @Override
  public void foldAsync(Map<TopicPartition, Long> watermarks) {
    Map<TopicPartition, Long> moved = moved(watermarks);
    if (moved.isEmpty() || !folding.compareAndSet(false, true)) {
      return;
    }
    moved.forEach(lastFolded::put);
    try {
      io.execute(
          () -> {
            try {
              foldNow(moved);
            } finally {
              folding.set(false);
            }
          });
    } catch (RejectedExecutionException closed) {
      folding.set(false);
    }
  }

  @Override
  public void foldAndWait(Map<TopicPartition, Long> watermarks, Duration timeout) {
    Map<TopicPartition, Long> moved = moved(watermarks);
    if (moved.isEmpty()) {
      return;
    }
    moved.forEach(lastFolded::put);
    Future<?> f;
    try {
      f = io.submit(() -> foldNow(moved));
    } catch (RejectedExecutionException closed) {
      return;
    }
    try {
      f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      log.warn(
          "consumer {}: folding offsets {} did not finish within {}; the done rows cover them",
          consumerName,
          moved,
          timeout);
    } catch (ExecutionException e) {
      log.warn("consumer {}: folding offsets {} failed", consumerName, moved, e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private Map<TopicPartition, Long> moved(Map<TopicPartition, Long> watermarks) {
    Map<TopicPartition, Long> moved = new HashMap<>();
    watermarks.forEach(
        (tp, w) -> {
          if (w > lastFolded.getOrDefault(tp, -1L)) {
            moved.put(tp, w);
          }
        });
    return moved;
  }

  private void foldNow(Map<TopicPartition, Long> positions) {
    try {
      // In a transaction of its own whatever the pool's auto-commit: on a pool with
      // autoCommit=false, a fold outside one would be rolled back when the connection returns.
      transactions.run(
          dataSource,
          c -> {
            store.fold(c, positions);
            return null;
          });
      log.debug("consumer {}: stored positions {}", consumerName, positions);
    } catch (Exception e) {
      // Offer them again at the next fold.
      positions.forEach((tp, w) -> lastFolded.remove(tp, w));
      log.warn(
          "consumer {}: storing positions {} failed ({}); the done rows cover them, will retry",
          consumerName,
          positions,
          e.toString());
    }
  }

  @Override
  public void forget(Collection<TopicPartition> tps) {
    for (TopicPartition tp : tps) {
      skips.remove(tp);
      lastFolded.remove(tp);
    }
  }

  @Override
  public void close() {
    io.shutdown();
    try {
      if (!io.awaitTermination(5, TimeUnit.SECONDS)) {
        io.shutdownNow();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      io.shutdownNow();
    }
  }
}
