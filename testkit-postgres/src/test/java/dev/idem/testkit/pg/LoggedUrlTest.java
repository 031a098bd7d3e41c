package dev.idem.testkit.pg;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class LoggedUrlTest {

  @Test
  void credentialsInAJdbcUrlAreMaskedForTheLog() {
    assertThat(
            SharedPostgres.withoutCredentials(
                "jdbc:postgresql://bob:hunter2@db:5432/app?sslmode=require&password=hunter3"))
        .isEqualTo("jdbc:postgresql://bob:****@db:5432/app?sslmode=require&password=****");
    assertThat(SharedPostgres.withoutCredentials("jdbc:postgresql://db/app?user=u&sslPassword=x"))
        .isEqualTo("jdbc:postgresql://db/app?user=u&sslPassword=****");
    assertThat(SharedPostgres.withoutCredentials("jdbc:postgresql://localhost:5432/postgres"))
        .isEqualTo("jdbc:postgresql://localhost:5432/postgres");
  }
}
