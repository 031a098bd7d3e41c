package dev.idem.consumer.internal.store;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * The server settings idem checks at start, read in one query.
 *
 * @param fsync whether the server runs with {@code fsync=on}
 * @param versionNum the server's {@code server_version_num}, e.g. 170006
 */
public record ServerSettings(boolean fsync, int versionNum) {

  /** Reads the settings on {@code c}. */
  public static ServerSettings read(Connection c) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT current_setting('fsync'), current_setting('server_version_num')::int")) {
      rs.next();
      return new ServerSettings("on".equals(rs.getString(1)), rs.getInt(2));
    }
  }
}
