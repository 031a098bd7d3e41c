package dev.idem.consumer.cli;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.idem.IdemException;
import dev.idem.consumer.DeadLetterReplayer;
import dev.idem.consumer.IdemConfig;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Command-line replay of dead letters:
 *
 * <pre>
 * ReplayDeadLetters --config config/idem.properties [--event-id ID]... [--reason REASON]
 *                   [--limit N] [--discard]
 * </pre>
 *
 * <p>With {@code --discard} the selected dead letters are given up on for good instead (their event
 * ids count as processed; a parked key behind a discarded first dead letter is released).
 *
 * <p>The configuration file (with its environment overrides) names the consumer, the brokers and
 * the database ({@code pg.*}). Exit codes: 0 all replayed, 1 some failed, 2 bad arguments or
 * configuration.
 */
public final class ReplayDeadLetters {
  private ReplayDeadLetters() {}

  public static void main(String[] args) {
    System.exit(run(args, System.getenv(), System.out, System.err));
  }

  /** Runs the command; returns the exit code. */
  public static int run(
      String[] args, Map<String, String> environment, PrintStream out, PrintStream err) {
    Path config = null;
    List<String> ids = new ArrayList<>();
    String reason = null;
    int limit = 1000;
    boolean discard = false;
    try {
      for (int i = 0; i < args.length; i++) {
        String arg = args[i];
        switch (arg) {
          case "--config" -> config = Path.of(Args.value(args, ++i, arg));
          case "--event-id" -> ids.add(Args.value(args, ++i, arg));
          case "--reason" -> reason = Args.value(args, ++i, arg);
          case "--limit" -> limit = Integer.parseInt(Args.value(args, ++i, arg));
          case "--discard" -> discard = true;
          case "--help", "-h" -> {
            usage(out);
            return 0;
          }
          default -> throw new IllegalArgumentException("unknown argument " + arg);
        }
      }
      if (config == null) {
        throw new IllegalArgumentException("--config is required");
      }
      if (limit < 1) {
        throw new IllegalArgumentException("--limit must be at least 1");
      }
    } catch (IllegalArgumentException e) {
      err.println("error: " + e.getMessage());
      usage(err);
      return 2;
    }
    IdemConfig settings;
    try {
      settings = IdemConfig.load(config, environment).build();
      if (settings.database() == null) {
        throw new IdemException("pg.url is missing in " + config + " (or set PG_URL)");
      }
    } catch (IdemException e) {
      err.println("error: " + e.getMessage());
      return 2;
    }
    HikariConfig hikari = new HikariConfig();
    hikari.setJdbcUrl(settings.database().url());
    hikari.setUsername(settings.database().user());
    hikari.setPassword(settings.database().password());
    hikari.setMaximumPoolSize(2);
    hikari.setPoolName("idem-replay");
    try (HikariDataSource ds = new HikariDataSource(hikari);
        DeadLetterReplayer replayer = DeadLetterReplayer.create(settings, ds)) {
      DeadLetterReplayer.Request request =
          new DeadLetterReplayer.Request(ids.isEmpty() ? null : ids, reason, limit);
      if (discard) {
        DeadLetterReplayer.Discarded result = replayer.discard(request);
        out.println(
            "discarded "
                + result.discarded().size()
                + " dead letters of "
                + settings.consumerName()
                + ", released "
                + result.released().size()
                + " parked behind them"
                + (result.failed().isEmpty()
                    ? ""
                    : ", " + result.failed().size() + " failed: " + result.failed()));
        return result.failed().isEmpty() ? 0 : 1;
      }
      DeadLetterReplayer.Result result = replayer.replay(request);
      out.println(
          "replayed "
              + result.replayed().size()
              + " dead letters of "
              + settings.consumerName()
              + (result.failed().isEmpty()
                  ? ""
                  : ", " + result.failed().size() + " failed: " + result.failed()));
      return result.failed().isEmpty() ? 0 : 1;
    } catch (RuntimeException e) {
      err.println("error: " + e.getMessage());
      return 1;
    }
  }

  private static void usage(PrintStream s) {
    s.println(
        "usage: ReplayDeadLetters --config FILE [--event-id ID]... [--reason REASON] [--limit N]"
            + " [--discard]");
  }
}
