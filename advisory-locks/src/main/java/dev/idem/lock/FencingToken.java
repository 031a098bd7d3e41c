package dev.idem.lock;

import dev.idem.lock.internal.LockSql;
import java.sql.Connection;
import java.sql.SQLException;

/**
 * Proof of a leadership: the role and the epoch it was granted under. Epochs only grow.
 *
 * <p>Guard writes that only the leader may make with {@link #check(Connection)} in the same
 * transaction: it locks the role's epoch row in share mode and refuses when the epoch moved on, so
 * once a newer leader's epoch is committed, no write of an older leader commits after it.
 *
 * @param schema the schema of the {@code leader_epochs} table
 * @param namespace the role's namespace
 * @param name the role's name
 * @param epoch the epoch of this leadership
 */
public record FencingToken(String schema, String namespace, String name, long epoch) {

  /**
   * Refuses the surrounding transaction's write unless this epoch is still current. Call it inside
   * the transaction that makes the write, before the write.
   *
   * @throws StaleLeaderException when a newer leader exists
   * @throws SQLException when the check itself fails
   */
  public void check(Connection transaction) throws SQLException {
    if (!LockSql.epochIsCurrent(transaction, schema, namespace, name, epoch)) {
      throw new StaleLeaderException(this);
    }
  }
}
