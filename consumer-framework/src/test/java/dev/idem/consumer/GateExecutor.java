package dev.idem.consumer;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Holds the tasks the dispatcher hands it until {@link #open()}: a test opens it once every record
 * is in flight, so that the first run of a partition's lane takes all of them into one group or
 * batch.
 */
final class GateExecutor implements Executor, AutoCloseable {
  private final ExecutorService workers = Executors.newCachedThreadPool();
  private final List<Runnable> held = new ArrayList<>();
  private boolean open;

  @Override
  public synchronized void execute(Runnable task) {
    if (open) {
      workers.execute(task);
    } else {
      held.add(task);
    }
  }

  synchronized void open() {
    open = true;
    held.forEach(workers::execute);
    held.clear();
  }

  @Override
  public void close() {
    workers.shutdownNow();
  }
}
