package dev.idem.consumer.internal.share;

import dev.idem.consumer.internal.health.DatabaseProbe;
import java.sql.Connection;
import java.sql.SQLException;
import javax.sql.DataSource;

/**
 * Whether a share consumer may acquire records now. Not while the database is unreachable:
 * acquiring would use up deliveries that cannot be applied, and past the group's delivery-count
 * limit the broker archives a record without a trace. Closed by the background probe, or at once by
 * an attempt that could not reach the database; opened again by a connection that answers.
 */
final class DatabaseGate {
  private final DatabaseProbe probe;
  private final DataSource dataSource;
  private volatile boolean down;

  DatabaseGate(DatabaseProbe probe, DataSource dataSource) {
    this.probe = probe;
    this.dataSource = dataSource;
  }

  /** An attempt found the database unreachable: acquire nothing until it answers again. */
  void failed() {
    down = true;
  }

  /** Whether the database answers, as far as the probe and the attempts know. */
  boolean reachable() {
    return !down && probe.reachable();
  }

  /**
   * Whether records may be acquired now; when the gate is closed, asks the database again (one
   * connection validated within two seconds).
   */
  boolean open() {
    if (reachable()) {
      return true;
    }
    down = !answers();
    return reachable();
  }

  private boolean answers() {
    try (Connection c = dataSource.getConnection()) {
      return c.isValid(2);
    } catch (SQLException | RuntimeException e) {
      return false;
    }
  }
}
