package dev.idem.consumer.internal.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

class SocketTimeoutCheckTest {

  private static HikariDataSource hikari(String url) {
    // Not started: a HikariDataSource made with its no-argument constructor opens no connection.
    HikariDataSource pool = new HikariDataSource();
    pool.setJdbcUrl(url);
    return pool;
  }

  @Test
  void aHikariPoolOverPgjdbcWithoutSocketTimeoutIsFound() {
    assertThat(SocketTimeoutCheck.missing(hikari("jdbc:postgresql://db/app"))).isPresent();
    assertThat(SocketTimeoutCheck.missing(hikari("jdbc:postgresql://db/app?socketTimeout=0")))
        .isPresent();
  }

  @Test
  void aSocketTimeoutInTheUrlOrTheDataSourcePropertiesSatisfiesIt() {
    assertThat(
            SocketTimeoutCheck.missing(
                hikari("jdbc:postgresql://db/app?ssl=false&socketTimeout=150")))
        .isEmpty();
    HikariDataSource pool = hikari("jdbc:postgresql://db/app");
    pool.addDataSourceProperty("socketTimeout", "60");
    assertThat(SocketTimeoutCheck.missing(pool)).isEmpty();
  }

  @Test
  void aPgjdbcDataSourceIsCheckedByItsOwnSetting() {
    PGSimpleDataSource pg = new PGSimpleDataSource();
    assertThat(SocketTimeoutCheck.missing(pg)).isPresent();
    pg.setSocketTimeout(30);
    assertThat(SocketTimeoutCheck.missing(pg)).isEmpty();
  }

  @Test
  void otherDatabasesAreNotJudged() {
    assertThat(SocketTimeoutCheck.missing(hikari("jdbc:h2:mem:x"))).isEmpty();
  }
}
