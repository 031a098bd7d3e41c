package dev.idem.consumer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/** Closes what a test opened, last opened first, after each test. */
final class Closer implements AfterEachCallback {
  private final List<AutoCloseable> closeables = new ArrayList<>();

  /** Registers {@code closeable} to be closed after the test, and returns it. */
  <C extends AutoCloseable> C add(C closeable) {
    closeables.add(closeable);
    return closeable;
  }

  @Override
  public void afterEach(ExtensionContext context) throws Exception {
    List<AutoCloseable> all = new ArrayList<>(closeables);
    closeables.clear();
    Collections.reverse(all);
    Exception first = null;
    for (AutoCloseable c : all) {
      try {
        c.close();
      } catch (Exception e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }
}
