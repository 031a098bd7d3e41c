package dev.idem.testkit.pg.internal;

import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows one client's typed messages and says, for each COMMIT it executes, where the server's
 * reply to it will be.
 *
 * <p>Replies are located by counting. The startup packet and every Sync, simple Query and
 * FunctionCall are answered by exactly one ReadyForQuery, which closes a group; within a group
 * every Execute is answered by exactly one CommandComplete, EmptyQueryResponse or PortalSuspended,
 * in order, unless an ErrorResponse makes the server skip the rest of the group. A COMMIT is an
 * Execute of a portal bound to a statement whose Parse held a COMMIT (the driver parses its COMMIT
 * once as a named statement and binds it again on every commit), or a simple Query holding only a
 * COMMIT.
 */
final class CommitLocator {
  /** Group {@code group} (the startup's is 0), reply to its Execute number {@code execute}. */
  record ReplyPosition(long group, int execute) {}

  private static final Logger log = LoggerFactory.getLogger(CommitLocator.class);

  private final long connectionId;
  private final Map<String, Boolean> commitStatements = new HashMap<>();
  private final Map<String, Boolean> commitPortals = new HashMap<>();
  private long groupsSent = 1;
  private int executesInGroup;

  CommitLocator(long connectionId) {
    this.connectionId = connectionId;
  }

  /** Whether {@link #onMessage} needs the start of this message type's body. */
  static boolean inspects(int type) {
    return type == 'P' || type == 'B' || type == 'E' || type == 'C' || type == 'Q';
  }

  /**
   * Takes note of a message the client sends after its startup packet. Returns where the reply will
   * be if the message executes a COMMIT, otherwise null.
   *
   * @param head the start of the message body, for the types it {@linkplain #inspects inspects}
   */
  ReplyPosition onMessage(int type, byte[] head) {
    PgWire.Fields fields = new PgWire.Fields(head);
    switch (type) {
      case 'P' -> {
        String statement = fields.next();
        String query = fields.next();
        log.trace("connection {}: Parse \"{}\" {}", connectionId, statement, query);
        if (statement != null) {
          commitStatements.put(statement, PgWire.isCommit(query));
        }
      }
      case 'B' -> {
        String portal = fields.next();
        String statement = fields.next();
        log.trace("connection {}: Bind \"{}\" to \"{}\"", connectionId, portal, statement);
        if (portal != null) {
          commitPortals.put(portal, Boolean.TRUE.equals(commitStatements.get(statement)));
        }
      }
      case 'C' -> {
        int kind = fields.nextByte();
        String name = fields.next();
        (kind == 'S' ? commitStatements : commitPortals).remove(name);
      }
      case 'E' -> {
        String portal = fields.next();
        int execute = executesInGroup++;
        if (portal != null && Boolean.TRUE.equals(commitPortals.get(portal))) {
          return new ReplyPosition(groupsSent, execute);
        }
      }
      case 'Q' -> {
        String query = fields.next();
        log.trace("connection {}: Query {}", connectionId, query);
        ReplyPosition position = PgWire.isCommit(query) ? new ReplyPosition(groupsSent, 0) : null;
        endGroup();
        return position;
      }
      case 'S', 'F' -> endGroup();
      default -> {}
    }
    return null;
  }

  private void endGroup() {
    groupsSent++;
    executesInGroup = 0;
  }
}
