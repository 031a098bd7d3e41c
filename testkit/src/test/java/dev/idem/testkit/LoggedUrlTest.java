package dev.idem.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class LoggedUrlTest {

  @Test
  void credentialsInAJdbcUrlAreMaskedForTheLog() {
    assertThat(
            TestInfrastructure.withoutCredentials(
                "jdbc:postgresql://bob:hunter2@db:5432/app?sslmode=require&password=hunter3"))
        .isEqualTo("jdbc:postgresql://bob:****@db:5432/app?sslmode=require&password=****");
    assertThat(
            TestInfrastructure.withoutCredentials("jdbc:postgresql://db/app?user=u&sslPassword=x"))
        .isEqualTo("jdbc:postgresql://db/app?user=u&sslPassword=****");
    assertThat(TestInfrastructure.withoutCredentials("jdbc:postgresql://localhost:5432/postgres"))
        .isEqualTo("jdbc:postgresql://localhost:5432/postgres");
  }
}
