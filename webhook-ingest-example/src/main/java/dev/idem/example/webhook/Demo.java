package dev.idem.example.webhook;

import dev.idem.consumer.ConsumerSnapshot;
import dev.idem.consumer.IdempotentConsumer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * The duplicate storm: unique webhooks, each delivered 1 to 4 times over real HTTP, concurrently
 * and out of order, some copies through the second ingest path, some retried after a delay, while a
 * third consumer instance joins and leaves. Then it checks the ledger against sums computed here,
 * independently of the handler, and prints a summary.
 *
 * <p>Over 400 lines: the demo is a script read from top to bottom (start, storm, rebalance, check,
 * summary); splitting it would scatter the story it tells.
 */
public final class Demo {
  /** Types the ledger knows, and their signs, as the sender documents them. */
  private static final Map<String, Integer> SIGNS =
      Map.of("payment.succeeded", 1, "payment.refunded", -1, "payout.paid", -1);

  private static final String UNKNOWN_TYPE = "payment.disputed";

  private final WebhookApplication app;
  private final int uniqueEvents;
  private final int accounts;
  private final long seed;
  private final String runId;
  private final java.io.PrintStream out;

  private final List<IdempotentConsumer<?>> everyInstance = new ArrayList<>();
  private final AtomicInteger sent = new AtomicInteger();
  private final AtomicInteger viaReplayPath = new AtomicInteger();
  private final AtomicInteger delayed = new AtomicInteger();
  private final AtomicInteger retriedAfter503 = new AtomicInteger();
  private final Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();

  public Demo(
      WebhookApplication app,
      int uniqueEvents,
      int accounts,
      long seed,
      String runId,
      java.io.PrintStream out) {
    this.app = app;
    this.uniqueEvents = uniqueEvents;
    this.accounts = accounts;
    this.seed = seed;
    this.runId = runId;
    this.out = out;
  }

  /** What one run showed. */
  public record Summary(
      int deliveries,
      int viaReplayPath,
      int delayed,
      int uniqueEvents,
      int unknownTypeEvents,
      long ledgerRows,
      long distinctLedgerEvents,
      long processed,
      long duplicates,
      long deadLettered,
      long deadLetterRows,
      int accountsChecked,
      int balanceMismatches,
      Map<Integer, Integer> statuses,
      boolean rebalanced,
      boolean pass) {}

  private record Event(String id, PaymentEvent payload) {}

  private record Delivery(Event event, boolean replayPath, long delayMillis) {}

  /** Runs the storm and the checks. */
  public Summary run() throws Exception {
    Random random = new Random(seed);
    List<Event> events = new ArrayList<>();
    Map<String, Long> expected = new HashMap<>();
    Set<String> unknownIds = new HashSet<>();
    String[] types = {"payment.succeeded", "payment.refunded", "payout.paid"};
    for (int i = 0; i < uniqueEvents; i++) {
      String account = "acct_" + runId + "_" + random.nextInt(accounts);
      String currency = account.hashCode() % 2 == 0 ? "EUR" : "USD";
      double r = random.nextDouble();
      String type = r < 0.002 ? UNKNOWN_TYPE : types[r < 0.7 ? 0 : r < 0.85 ? 1 : 2];
      long amount = 1 + random.nextInt(100_000);
      String id = "msg_" + runId + "_" + i;
      events.add(new Event(id, new PaymentEvent(type, account, amount, currency)));
      Integer sign = SIGNS.get(type);
      if (sign == null) {
        unknownIds.add(id);
      } else {
        expected.merge(account + "/" + currency, sign * amount, Long::sum);
      }
    }
    List<Delivery> deliveries = new ArrayList<>();
    for (Event e : events) {
      int copies = 1 + random.nextInt(4);
      for (int c = 0; c < copies; c++) {
        boolean replay = random.nextDouble() < 0.25;
        long delay = c > 0 && random.nextDouble() < 0.3 ? 500 + random.nextInt(2500) : 0;
        deliveries.add(new Delivery(e, replay, delay));
      }
    }
    Collections.shuffle(deliveries, random);

    everyInstance.add(app.startConsumer());
    everyInstance.add(app.startConsumer());
    out.printf(
        "demo %s: %d unique webhooks, %d deliveries, 2 consumer instances%n",
        runId, uniqueEvents, deliveries.size());

    long started = System.nanoTime();
    boolean rebalanced = storm(deliveries, started);
    out.println("storm sent; waiting for the consumers to drain");
    awaitDrained(events.size(), started);
    Summary summary = check(deliveries.size(), unknownIds, expected, rebalanced);
    print(summary, Duration.ofNanos(System.nanoTime() - started));
    return summary;
  }

  private boolean storm(List<Delivery> deliveries, long started) throws Exception {
    HttpClient http =
        HttpClient.newBuilder()
            .connectTimeout(Duration.ofSeconds(5))
            .version(HttpClient.Version.HTTP_1_1)
            .build();
    ExecutorService senders = Executors.newFixedThreadPool(16);
    java.util.concurrent.ScheduledExecutorService later =
        Executors.newSingleThreadScheduledExecutor();
    WebhookVerifier signer = app.config().verifier(java.time.Clock.systemUTC());
    AtomicInteger done = new AtomicInteger();
    java.util.concurrent.CountDownLatch all =
        new java.util.concurrent.CountDownLatch(deliveries.size());
    for (Delivery d : deliveries) {
      Runnable send =
          () -> {
            try {
              deliver(http, signer, d);
            } finally {
              done.incrementAndGet();
              all.countDown();
            }
          };
      if (d.delayMillis() > 0) {
        delayed.incrementAndGet();
        later.schedule(() -> senders.execute(send), d.delayMillis(), TimeUnit.MILLISECONDS);
      } else {
        senders.execute(send);
      }
    }
    IdempotentConsumer<PaymentEvent> third = null;
    boolean joined = false;
    boolean left = false;
    long nextProgress = System.nanoTime();
    while (!all.await(100, TimeUnit.MILLISECONDS)) {
      double fraction = done.get() / (double) deliveries.size();
      if (!joined && fraction >= 0.3) {
        third = app.startConsumer();
        everyInstance.add(third);
        joined = true;
        out.println("a third consumer instance joins the group");
      }
      if (joined && !left && fraction >= 0.7) {
        app.stopConsumer(third);
        left = true;
        out.println("the third consumer instance leaves the group");
      }
      if (System.nanoTime() >= nextProgress) {
        progress(started);
        nextProgress = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
      }
    }
    if (joined && !left) {
      app.stopConsumer(third);
      left = true;
    }
    senders.shutdown();
    later.shutdown();
    senders.awaitTermination(30, TimeUnit.SECONDS);
    return joined && left;
  }

  private void deliver(HttpClient http, WebhookVerifier signer, Delivery d) {
    byte[] body = d.event().payload().toJson();
    String path = d.replayPath() ? "/replay/webhooks" : "/webhooks";
    for (int attempt = 1; ; attempt++) {
      long ts = System.currentTimeMillis() / 1000;
      HttpRequest request =
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + path))
              .timeout(Duration.ofSeconds(30))
              .header("content-type", "application/json")
              .header("webhook-id", d.event().id())
              .header("webhook-timestamp", Long.toString(ts))
              .header("webhook-signature", signer.sign(d.event().id(), ts, body))
              .POST(HttpRequest.BodyPublishers.ofByteArray(body))
              .build();
      int status;
      try {
        status = http.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
      } catch (java.io.IOException e) {
        status = -1;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      if ((status == 503 || status == -1) && attempt < 10) {
        retriedAfter503.incrementAndGet();
        try {
          Thread.sleep(500);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
        continue;
      }
      statuses.computeIfAbsent(status, s -> new AtomicInteger()).incrementAndGet();
      sent.incrementAndGet();
      if (d.replayPath()) {
        viaReplayPath.incrementAndGet();
      }
      return;
    }
  }

  private void progress(long started) {
    long processed = 0;
    long duplicates = 0;
    long dead = 0;
    int inFlight = 0;
    for (IdempotentConsumer<?> c : everyInstance) {
      ConsumerSnapshot s = c.snapshot();
      processed += s.processed();
      duplicates += s.duplicates();
      dead += s.deadLettered();
      inFlight += s.inFlight();
    }
    out.printf(
        "[%4ds] deliveries sent %6d | applied %6d  duplicates skipped %6d  dead-lettered %3d"
            + "  in flight %4d%n",
        TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started),
        sent.get(),
        processed,
        duplicates,
        dead,
        inFlight);
  }

  private void awaitDrained(int unique, long started) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
    long nextProgress = 0;
    while (System.nanoTime() < deadline) {
      long handled =
          queryLong(
              "SELECT (SELECT count(DISTINCT event_id) FROM ledger.entries WHERE event_id LIKE 'msg\\_"
                  + runId
                  + "\\_%') + (SELECT count(*) FROM idem.dead_letters WHERE consumer_name = '"
                  + app.idem().consumerName()
                  + "' AND event_id LIKE 'msg\\_"
                  + runId
                  + "\\_%')");
      if (handled >= unique && committedToEnd()) {
        progress(started);
        return;
      }
      if (System.nanoTime() >= nextProgress) {
        progress(started);
        nextProgress = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
      }
      Thread.sleep(200);
    }
    out.println("the consumers did not drain within 10 minutes");
  }

  private boolean committedToEnd() throws Exception {
    Map<TopicPartition, OffsetSpec> request = new HashMap<>();
    for (String topic : app.idem().topics()) {
      for (int p = 0; p < app.config().partitions(); p++) {
        request.put(new TopicPartition(topic, p), OffsetSpec.latest());
      }
    }
    var ends = app.admin().listOffsets(request).all().get(10, TimeUnit.SECONDS);
    Map<TopicPartition, OffsetAndMetadata> committed =
        app.admin()
            .listConsumerGroupOffsets(app.idem().kafka().get("group.id").toString())
            .partitionsToOffsetAndMetadata()
            .get(10, TimeUnit.SECONDS);
    return ends.entrySet().stream()
        .allMatch(
            e ->
                e.getValue().offset() == 0
                    || (committed.get(e.getKey()) != null
                        && committed.get(e.getKey()).offset() == e.getValue().offset()));
  }

  private Summary check(
      int deliveries, Set<String> unknownIds, Map<String, Long> expected, boolean rebalanced)
      throws SQLException {
    String like = "'msg\\_" + runId + "\\_%'";
    long rows = queryLong("SELECT count(*) FROM ledger.entries WHERE event_id LIKE " + like);
    long distinct =
        queryLong(
            "SELECT count(DISTINCT event_id) FROM ledger.entries WHERE event_id LIKE " + like);
    Set<String> deadIds = new HashSet<>();
    try (Connection c = app.ledgerPool().getConnection();
        Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT event_id FROM idem.dead_letters WHERE consumer_name = '"
                    + app.idem().consumerName()
                    + "' AND event_id LIKE "
                    + like)) {
      while (rs.next()) {
        deadIds.add(rs.getString(1));
      }
    }
    Map<String, Long> actual = new HashMap<>();
    try (Connection c = app.ledgerPool().getConnection();
        Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT account, currency, balance FROM ledger.accounts WHERE account LIKE 'acct\\_"
                    + runId
                    + "\\_%'")) {
      while (rs.next()) {
        actual.put(rs.getString(1) + "/" + rs.getString(2), rs.getLong(3));
      }
    }
    int mismatches = 0;
    Set<String> allAccounts = new HashSet<>(expected.keySet());
    allAccounts.addAll(actual.keySet());
    for (String account : allAccounts) {
      if (!expected.getOrDefault(account, 0L).equals(actual.getOrDefault(account, 0L))) {
        mismatches++;
        out.println(
            "MISMATCH "
                + account
                + ": expected "
                + expected.get(account)
                + ", ledger "
                + actual.get(account));
      }
    }
    long processed = 0;
    long duplicates = 0;
    long dead = 0;
    for (IdempotentConsumer<?> c : everyInstance) {
      processed += c.snapshot().processed();
      duplicates += c.snapshot().duplicates();
      dead += c.snapshot().deadLettered();
    }
    Map<Integer, Integer> statusCounts = new HashMap<>();
    statuses.forEach((k, v) -> statusCounts.put(k, v.get()));
    int applicable = uniqueEvents - unknownIds.size();
    boolean pass =
        statusCounts.keySet().equals(Set.of(202))
            && sent.get() == deliveries
            && rows == applicable
            && distinct == applicable
            && deadIds.equals(unknownIds)
            && processed == applicable
            && processed + duplicates + dead >= deliveries
            && mismatches == 0
            && rebalanced;
    return new Summary(
        deliveries,
        viaReplayPath.get(),
        delayed.get(),
        uniqueEvents,
        unknownIds.size(),
        rows,
        distinct,
        processed,
        duplicates,
        dead,
        deadIds.size(),
        allAccounts.size(),
        mismatches,
        statusCounts,
        rebalanced,
        pass);
  }

  private void print(Summary s, Duration took) {
    out.println();
    out.println("==== idem webhook demo: summary ====");
    out.printf(
        "deliveries sent         %7d   HTTP statuses %s, retried after 503: %d%n",
        s.deliveries(), s.statuses(), retriedAfter503.get());
    out.printf("  via /replay/webhooks  %7d%n", s.viaReplayPath());
    out.printf("  sent again later      %7d%n", s.delayed());
    out.printf(
        "unique events           %7d   (%d of an unknown type)%n",
        s.uniqueEvents(), s.unknownTypeEvents());
    out.printf(
        "applied                 %7d   ledger rows %d, distinct event ids %d%n",
        s.processed(), s.ledgerRows(), s.distinctLedgerEvents());
    out.printf("duplicates skipped      %7d%n", s.duplicates());
    out.printf(
        "dead-lettered           %7d   rows %d (the unknown types)%n",
        s.deadLettered(), s.deadLetterRows());
    out.printf(
        "records handled         %7d   >= deliveries: redeliveries after a rebalance are"
            + " skipped again%n",
        s.processed() + s.duplicates() + s.deadLettered());
    out.printf(
        "rebalance               %s%n",
        s.rebalanced() ? "a third instance joined and left during the storm" : "did not happen");
    out.printf(
        "ledger check            %7d   accounts, %d mismatches%n",
        s.accountsChecked(), s.balanceMismatches());
    out.printf("took                    %7.1f s%n", took.toMillis() / 1000.0);
    out.println("RESULT: " + (s.pass() ? "PASS" : "FAIL"));
  }

  private long queryLong(String sql) throws SQLException {
    try (Connection c = app.ledgerPool().getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  static String newRunId() {
    return Long.toString(System.currentTimeMillis() % 1_000_000_000L, 36)
        + Integer.toString(new Random().nextInt(1296), 36);
  }
}
