package dev.idem.bench;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;

/** The benchmark's PostgreSQL database, as the harness reaches it. */
record Database(String url, String user, String password) {

  Connection connect() throws SQLException {
    return DriverManager.getConnection(url, user, password);
  }

  DataSource dataSource() {
    PGSimpleDataSource ds = new PGSimpleDataSource();
    ds.setUrl(url);
    ds.setUser(user);
    ds.setPassword(password);
    return ds;
  }
}
