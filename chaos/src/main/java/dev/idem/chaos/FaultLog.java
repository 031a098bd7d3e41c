package dev.idem.chaos;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The timestamped record of what a run did to its consumers and servers, printed as it happens and
 * appended to {@code faults.log} in the run's directory.
 */
final class FaultLog {
  private final Path file;
  private final String prefix;
  private final List<Entry> entries = new ArrayList<>();

  /**
   * One injected fault.
   *
   * @param fault what was injected
   * @param at when it started
   * @param took how long it took until the system was whole again
   * @param detail what exactly happened (which consumer, how many sessions, ...)
   */
  record Entry(Fault fault, Instant at, Duration took, String detail) {}

  FaultLog(Path file, String prefix) {
    this.file = file;
    this.prefix = prefix;
  }

  /** Records a fault that was injected. */
  synchronized void fault(Fault fault, Instant at, String detail) {
    Entry e = new Entry(fault, at, Duration.between(at, Instant.now()), detail);
    entries.add(e);
    write(at + " FAULT " + fault.label() + " (" + e.took().toMillis() + " ms): " + detail);
  }

  /** Records anything else worth knowing when reading a run afterwards. */
  synchronized void note(String message) {
    write(Instant.now() + " " + message);
  }

  synchronized List<Entry> entries() {
    return List.copyOf(entries);
  }

  /** How often {@code fault} was injected. */
  synchronized long count(Fault fault) {
    return entries.stream().filter(e -> e.fault() == fault).count();
  }

  private void write(String line) {
    System.out.println(prefix + line);
    try {
      Files.writeString(
          file,
          line + System.lineSeparator(),
          StandardCharsets.UTF_8,
          StandardOpenOption.CREATE,
          StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
