package dev.idem.spring.boot;

import dev.idem.testkit.TestInfrastructure;

/** Properties that point a test application at the testkit's servers. */
final class TestApps {
  private TestApps() {}

  static String[] infrastructure(TestInfrastructure infra) {
    return new String[] {
      "spring.datasource.url=" + infra.postgres().jdbcUrl(),
      "spring.datasource.username=" + infra.postgres().user(),
      "spring.datasource.password=" + infra.postgres().password(),
      "spring.datasource.hikari.maximum-pool-size=30",
      "spring.kafka.bootstrap-servers=" + infra.kafka().bootstrapServers()
    };
  }
}
