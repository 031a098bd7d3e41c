package dev.idem.spring.boot;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.idem.consumer.BatchHandler;
import dev.idem.consumer.ConsumerBuilder;
import dev.idem.consumer.EventHandler;
import dev.idem.consumer.EventIdExtractor;
import dev.idem.consumer.EventIds;
import dev.idem.consumer.FailureClassifier;
import dev.idem.consumer.IdemConfig;
import dev.idem.consumer.IdemConfigException;
import dev.idem.consumer.IdemConsumer;
import dev.idem.consumer.IdempotentConsumer;
import dev.idem.consumer.IdempotentShareConsumer;
import dev.idem.consumer.OrderingKey;
import dev.idem.consumer.OrderingKeys;
import dev.idem.consumer.PayloadDeserializer;
import dev.idem.consumer.Payloads;
import dev.idem.lock.ConnectionFactory;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.observation.ObservationRegistry;
import javax.sql.DataSource;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.core.ResolvableType;
import org.springframework.util.ClassUtils;

/**
 * Builds one consumer from its definition and the application's beans: the handler bean (its
 * payload type read from its generic type), the payload deserializer, the event-id extractor, the
 * ordering key, the application's {@code DataSource}, {@code MeterRegistry} and {@code
 * ObservationRegistry}, and the Spring transaction hook. Every refusal names the property and the
 * fix.
 */
final class ConsumerAssembly {
  private static final String JACKSON_3 = "tools.jackson.databind.json.JsonMapper";
  private static final String BEAN = "bean:";

  private final ConfigurableListableBeanFactory beans;
  private final DataSource dataSource;
  private final MeterRegistry meterRegistry;
  private final ObservationRegistry observationRegistry;
  private final ConnectionFactory lockConnections;
  private final boolean applySchema;

  /**
   * @param meterRegistry the application's registry, or null for a private one
   * @param observationRegistry the application's registry, or null for none (observations off)
   * @param lockConnections dedicated connections for session locks, or null to open them like the
   *     HikariCP pool's own
   */
  ConsumerAssembly(
      ConfigurableListableBeanFactory beans,
      DataSource dataSource,
      MeterRegistry meterRegistry,
      ObservationRegistry observationRegistry,
      ConnectionFactory lockConnections,
      boolean applySchema) {
    this.beans = beans;
    this.dataSource = dataSource;
    this.meterRegistry = meterRegistry;
    this.observationRegistry = observationRegistry;
    this.lockConnections = lockConnections;
    this.applySchema = applySchema;
  }

  /** The configuration of {@code d}, checked by idem's own definitions. */
  static IdemConfig config(ConsumerDefinition d) {
    try {
      IdemConfig.Builder builder = IdemConfig.builder(d.name());
      d.settings().forEach(builder::set);
      return builder.build();
    } catch (IdemConfigException e) {
      throw translate(d, e);
    }
  }

  /**
   * The consumer of {@code d}, built and not started: an {@link IdempotentConsumer}, or with {@code
   * group-type: share} an {@link IdempotentShareConsumer}; both through one builder base.
   */
  IdemConsumer build(ConsumerDefinition d, IdemConfig config) {
    Object handler = handler(d);
    return build(d, config, handler, payloads(d, payloadType(d, handler)));
  }

  @SuppressWarnings("unchecked")
  private <T> IdemConsumer build(
      ConsumerDefinition d, IdemConfig config, Object handler, PayloadDeserializer<T> payloads) {
    ConsumerBuilder<T, ?> builder;
    if (d.shareGroup()) {
      if (!d.orderingKey().equals("key")) {
        throw new InvalidIdemPropertyException(
            "idem.consumers." + d.name() + ".ordering-key",
            "a share group delivers in no order, so an ordering key means nothing there",
            "remove it, or use group-type: consumer");
      }
      builder = IdempotentShareConsumer.builder(config, payloads);
    } else {
      builder = IdempotentConsumer.builder(config, payloads).orderingKey(orderingKey(d));
    }
    builder
        .dataSource(dataSource)
        .eventIds(eventIds(d))
        .applySchema(applySchema)
        .transactionHook(new SpringTransactionHook(dataSource));
    if (meterRegistry != null) {
      builder.meterRegistry(meterRegistry);
    }
    if (observationRegistry != null) {
      builder.observationRegistry(observationRegistry);
    }
    if (lockConnections != null) {
      builder.lockConnections(lockConnections);
    }
    if (d.failureClassifier() != null) {
      builder.failureClassifier(
          bean(d, "failure-classifier", d.failureClassifier(), FailureClassifier.class));
    }
    if (handler instanceof BatchHandler<?> batch) {
      builder.batchHandler((BatchHandler<T>) batch);
    } else {
      builder.handler((EventHandler<T>) handler);
    }
    try {
      return builder.build();
    } catch (IdemConfigException e) {
      throw translate(d, e);
    }
  }

  private Object handler(ConsumerDefinition d) {
    String property = "idem.consumers." + d.name() + ".handler";
    if (!beans.containsBean(d.handler())) {
      throw new InvalidIdemPropertyException(
          property,
          "there is no bean named '" + d.handler() + "' to handle the consumer's events",
          "declare an EventHandler<T> or BatchHandler<T> bean named '"
              + d.handler()
              + "', or set "
              + property
              + " to the handler bean's name");
    }
    Object handler = beans.getBean(d.handler());
    if (!(handler instanceof EventHandler<?>) && !(handler instanceof BatchHandler<?>)) {
      throw new InvalidIdemPropertyException(
          property,
          "bean '" + d.handler() + "' is a " + handler.getClass().getName() + ", not a handler",
          "name an EventHandler<T> or BatchHandler<T> bean");
    }
    return handler;
  }

  /** The handler's payload type, from its bean definition's generic type, else its class. */
  private Class<?> payloadType(ConsumerDefinition d, Object handler) {
    Class<?> api = handler instanceof BatchHandler<?> ? BatchHandler.class : EventHandler.class;
    Class<?> type = null;
    if (beans.containsBeanDefinition(d.handler())) {
      type =
          beans
              .getMergedBeanDefinition(d.handler())
              .getResolvableType()
              .as(api)
              .getGeneric(0)
              .resolve();
    }
    if (type == null) {
      type = ResolvableType.forClass(handler.getClass()).as(api).getGeneric(0).resolve();
    }
    if (type == null && d.payloads() == null) {
      throw new InvalidIdemPropertyException(
          "idem.consumers." + d.name() + ".handler",
          "the payload type of handler bean '" + d.handler() + "' cannot be told from its type",
          "declare the bean as "
              + api.getSimpleName()
              + "<YourPayload> (the @Bean method's return type or the class's interface), or set"
              + " idem.consumers."
              + d.name()
              + ".payloads to bean:<a PayloadDeserializer bean>");
    }
    return type;
  }

  private PayloadDeserializer<?> payloads(ConsumerDefinition d, Class<?> type) {
    if (d.payloads() != null) {
      return bean(d, "payloads", d.payloads(), PayloadDeserializer.class);
    }
    if (type == String.class) {
      return Payloads.utf8();
    }
    if (type == byte[].class) {
      return Payloads.bytes();
    }
    if (type == JsonNode.class) {
      return Payloads.jsonTree();
    }
    if (ClassUtils.isPresent(JACKSON_3, getClass().getClassLoader())) {
      PayloadDeserializer<?> jackson3 = Jackson3Payloads.fromBeans(beans, type);
      if (jackson3 != null) {
        return jackson3;
      }
    }
    ObjectMapper mapper = beans.getBeanProvider(ObjectMapper.class).getIfUnique();
    return mapper != null ? Payloads.json(mapper, type) : Payloads.json(type);
  }

  private EventIdExtractor eventIds(ConsumerDefinition d) {
    String property = "idem.consumers." + d.name() + ".event-id";
    String spec = d.eventId();
    if (spec == null || spec.isBlank()) {
      throw new InvalidIdemPropertyException(
          property,
          "is missing: every consumer needs to know where its events' ids are",
          "set it to key, header:<name>, json:<pointer> or bean:<an EventIdExtractor bean>"
              + " (here or in idem.defaults.event-id)");
    }
    String s = spec.trim();
    if (s.equals("key")) {
      return EventIds.recordKey();
    }
    if (s.startsWith("header:")) {
      return EventIds.header(s.substring("header:".length()));
    }
    if (s.startsWith("json:")) {
      return EventIds.jsonPointer(s.substring("json:".length()));
    }
    if (s.startsWith(BEAN)) {
      return bean(d, "event-id", s, EventIdExtractor.class);
    }
    throw new InvalidIdemPropertyException(
        property,
        "'" + spec + "' is not a way to read an event id",
        "use key, header:<name>, json:<pointer> or bean:<an EventIdExtractor bean>");
  }

  private OrderingKey orderingKey(ConsumerDefinition d) {
    String s = d.orderingKey().trim();
    switch (s) {
      case "key":
        return OrderingKeys.recordKey();
      case "none":
        return OrderingKeys.none();
      case "partition":
        return OrderingKeys.partition();
      default:
        break;
    }
    if (s.startsWith("header:")) {
      return OrderingKeys.header(s.substring("header:".length()));
    }
    if (s.startsWith("json:")) {
      return OrderingKeys.jsonPointer(s.substring("json:".length()));
    }
    if (s.startsWith(BEAN)) {
      return bean(d, "ordering-key", s, OrderingKey.class);
    }
    throw new InvalidIdemPropertyException(
        "idem.consumers." + d.name() + ".ordering-key",
        "'" + s + "' is not an ordering key",
        "use key (the default), none, partition, header:<name>, json:<pointer> or bean:<an"
            + " OrderingKey bean>");
  }

  private <B> B bean(ConsumerDefinition d, String key, String spec, Class<B> type) {
    String property = "idem.consumers." + d.name() + "." + key;
    if (!spec.startsWith(BEAN)) {
      throw new InvalidIdemPropertyException(
          property, "'" + spec + "' names no bean", "write bean:<the bean's name>");
    }
    String name = spec.substring(BEAN.length()).trim();
    if (!beans.containsBean(name) || !beans.isTypeMatch(name, type)) {
      throw new InvalidIdemPropertyException(
          property,
          "there is no " + type.getSimpleName() + " bean named '" + name + "'",
          "declare one, or name an existing " + type.getSimpleName() + " bean");
    }
    return beans.getBean(name, type);
  }

  /** idem's refusal, named as the application wrote the property. */
  static InvalidIdemPropertyException translate(ConsumerDefinition d, IdemConfigException e) {
    String key = e.key();
    // The first refusal; Boot's failure report names one property.
    String text = e.refused().get(key);
    String property =
        key.startsWith("consumer.") || key.startsWith("kafka.")
            ? d.propertyOf(key)
            : "idem.consumers." + d.name() + " (" + key + ")";
    int split = text.indexOf("; ");
    String problem = split < 0 ? text : text.substring(0, split);
    String action = split < 0 ? "see docs/spring-boot.md" : text.substring(split + 2);
    if (problem.startsWith("unknown setting")) {
      action =
          "the keys are those of idem.defaults.* (docs/spring-boot.md, or the IDE's completion),"
              + " kafka.* for Kafka consumer properties, and "
              + String.join(", ", ConsumerDefinitions.OWN_KEYS);
    }
    return new InvalidIdemPropertyException(property, problem, action, e);
  }
}
