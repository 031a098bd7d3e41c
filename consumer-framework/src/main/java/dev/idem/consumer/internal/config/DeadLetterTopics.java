package dev.idem.consumer.internal.config;

import dev.idem.consumer.IdemConfigException;
import java.util.List;
import java.util.regex.Pattern;

/** The naming of dead-letter topics: a template in which {@code {topic}} is the source topic. */
public final class DeadLetterTopics {
  /** The key of the template. */
  public static final String KEY = "consumer.dead-letter-topic";

  /** A topic name Kafka accepts (not {@code .} or {@code ..}). */
  public static final Pattern TOPIC = Pattern.compile("(?!\\.\\.?$)[a-zA-Z0-9._-]{1,249}");

  private static final String ON = "{topic}.DLT";

  private DeadLetterTopics() {}

  /**
   * The template {@code raw} names: null for {@code off} (or blank), {@code {topic}.DLT} for on.
   */
  public static String template(String raw) {
    String value = raw.trim();
    if (value.equalsIgnoreCase("off") || value.isEmpty()) {
      return null;
    }
    return value.equalsIgnoreCase("on") ? ON : value;
  }

  /** The dead-letter topic of {@code sourceTopic}, or null when {@code template} is null. */
  public static String forSource(String template, String sourceTopic) {
    return template == null ? null : template.replace("{topic}", sourceTopic);
  }

  /** Refuses a template that is not a topic name. */
  public static void checkTemplate(String template) {
    if (!TOPIC.matcher(forSource(template, "t")).matches()) {
      throw new IdemConfigException(
          KEY,
          "'"
              + template
              + "' is not a topic name template; use off, on ({topic}.DLT) or a name such as"
              + " {topic}.dead-letters");
    }
  }

  /**
   * Refuses a template that sends the dead letters of one of {@code topics} to a topic the consumer
   * reads, or to an invalid name.
   */
  public static void checkFor(String template, List<String> topics) {
    if (template == null) {
      return;
    }
    for (String topic : topics) {
      String target = forSource(template, topic);
      if (topics.contains(target)) {
        throw new IdemConfigException(
            KEY,
            "'"
                + template
                + "' sends dead letters of "
                + topic
                + " to "
                + target
                + ", a topic this consumer reads; use another name, e.g. {topic}.DLT");
      }
      if (!TOPIC.matcher(target).matches()) {
        throw new IdemConfigException(
            KEY,
            "'"
                + template
                + "' gives "
                + target
                + " for "
                + topic
                + ", not a valid topic name (at most 249 of a-z A-Z 0-9 . _ -); use a shorter"
                + " template");
      }
    }
  }
}
