package dev.idem.spring.boot;

import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.boot.EnvironmentPostProcessor;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.MapPropertySource;
import org.springframework.util.ClassUtils;

/**
 * Adds idem's health contributors to Boot's {@code readiness} and {@code liveness} groups, as
 * defaults of the lowest precedence: an application that defines those groups itself keeps its own
 * (and adds {@code idemReadiness} / {@code idemLiveness} where it wants them).
 */
final class HealthGroupDefaults implements EnvironmentPostProcessor {
  static final String READINESS = "management.endpoint.health.group.readiness.include";
  static final String LIVENESS = "management.endpoint.health.group.liveness.include";

  @Override
  public void postProcessEnvironment(
      ConfigurableEnvironment environment, SpringApplication application) {
    if (!ClassUtils.isPresent(
        "org.springframework.boot.health.contributor.HealthIndicator",
        getClass().getClassLoader())) {
      return;
    }
    Binder binder = Binder.get(environment);
    if (!binder.bind("idem.enabled", Boolean.class).orElse(true)
        || binder
            .bind("idem.consumers", Bindable.mapOf(String.class, Object.class))
            .orElse(Map.of())
            .isEmpty()) {
      return;
    }
    Map<String, Object> defaults = new LinkedHashMap<>();
    defaults.put(READINESS, "readinessState,idemReadiness");
    defaults.put(LIVENESS, "livenessState,idemLiveness");
    environment.getPropertySources().addLast(new MapPropertySource("idemHealthGroups", defaults));
  }
}
