package dev.idem.consumer;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class JdbcUrlsTest {

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        // user:password@host, also with a password holding / and @, and with no user name
        "jdbc:postgresql://bob:hunter2@db:5432/app | jdbc:postgresql://bob:****@db:5432/app",
        "jdbc:postgresql://bob:a/b@c@db/app?ssl=true | jdbc:postgresql://bob:****@db/app?ssl=true",
        "jdbc:postgresql://:hunter2@db/app | jdbc:postgresql://:****@db/app",
        "jdbc:postgresql://bob:x@h1:5432,h2:5433/app | jdbc:postgresql://bob:****@h1:5432,h2:5433/app",
        // parameters: password, sslpassword, any name ending in password/secret/token, any case
        "jdbc:postgresql://db/app?user=bob&password=hunter2 | jdbc:postgresql://db/app?user=bob&password=****",
        "jdbc:postgresql://db/app?password=hunter2&sslmode=require | jdbc:postgresql://db/app?password=****&sslmode=require",
        "jdbc:postgresql://db/app?sslpassword=k3y&sslkey=/etc/k.pk8 | jdbc:postgresql://db/app?sslpassword=****&sslkey=/etc/k.pk8",
        "jdbc:postgresql://db/app?PassWord=x&clientSecret=y&authToken=z | jdbc:postgresql://db/app?PassWord=****&clientSecret=****&authToken=****",
        "jdbc:postgresql://db/app?pass%77ord=x | jdbc:postgresql://db/app?pass%77ord=****",
        "jdbc:postgresql://db/app?password=ab=cd==&x=1 | jdbc:postgresql://db/app?password=****&x=1",
        "jdbc:postgresql://db/app?password= | jdbc:postgresql://db/app?password=****",
        "jdbc:postgresql:app?password=x | jdbc:postgresql:app?password=****",
        // semicolon-separated properties of other drivers
        "jdbc:sqlserver://db:1433;user=bob;password=x;encrypt=true | jdbc:sqlserver://db:1433;user=bob;password=****;encrypt=true",
        "jdbc:mysql://db/app?user=bob&pwd=x | jdbc:mysql://db/app?user=bob&pwd=****",
      })
  void credentialsAreMaskedAndEverythingElseIsKept(String url, String masked) {
    assertThat(JdbcUrls.mask(url)).isEqualTo(masked);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "jdbc:postgresql://localhost:5432/postgres",
        "jdbc:postgresql://db/app?user=bob@example.com&ApplicationName=idem",
        "jdbc:postgresql://bob@db/app",
        "jdbc:postgresql://h1:5432,h2:5432/app?targetServerType=primary",
        "jdbc:postgresql://db/app?options=-c%20statement_timeout=5s&bad%zz=1",
      })
  void urlsWithoutCredentialsAreUnchanged(String url) {
    assertThat(JdbcUrls.mask(url)).isEqualTo(url);
  }

  @Test
  void nullStaysNull() {
    assertThat(JdbcUrls.mask(null)).isNull();
  }
}
