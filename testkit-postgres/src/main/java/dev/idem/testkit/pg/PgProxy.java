package dev.idem.testkit.pg;

import dev.idem.testkit.pg.internal.ProxiedPgConnection;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A TCP proxy in front of a PostgreSQL server for fault tests: it relays JDBC connections and, on
 * request, breaks them at the worst moment.
 *
 * <ul>
 *   <li>{@link #dropCommitReplies(int)}: the next COMMITs reach the server, which commits, but
 *       their replies are swallowed and the connection is reset. The client sees an I/O error
 *       (SQLSTATE class 08) although its transaction committed: the ambiguous commit.
 *   <li>{@link #cutAll()}: resets every open connection, as a network failure would.
 * </ul>
 *
 * <p>Recognised as a COMMIT: a statement that is exactly {@code COMMIT}, {@code END} (optionally
 * with {@code WORK}/{@code TRANSACTION} and {@code AND [NO] CHAIN}) or {@code COMMIT PREPARED
 * '...'}, in any case, with surrounding whitespace and one trailing semicolon; sent as a simple
 * query or through the extended protocol, including a named prepared statement bound again without
 * a new Parse (which is how the PostgreSQL JDBC driver sends {@code Connection.commit()}). A COMMIT
 * inside a multi-statement string, or with comments, is not recognised.
 *
 * <p>The proxy declines TLS and GSS encryption itself so that it can read the protocol: connections
 * with {@code sslmode=require} or stricter fail. It listens on 127.0.0.1 only and runs two daemon
 * threads per connection, named {@code idem-pgproxy-...}; {@link #close()} ends them all.
 */
public final class PgProxy implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(PgProxy.class);
  private static final int CONNECT_TIMEOUT_MILLIS = 10_000;
  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);
  private static final Pattern URL_AUTHORITY = Pattern.compile("^(jdbc:postgresql://)([^/?]*)");

  private final String targetHost;
  private final int targetPort;
  private final ServerSocket listener;
  private final Set<ProxiedPgConnection> open = ConcurrentHashMap.newKeySet();
  private final Set<Thread> threads = ConcurrentHashMap.newKeySet();
  private final AtomicInteger armedDrops = new AtomicInteger();
  private final AtomicLong droppedReplies = new AtomicLong();
  private final AtomicLong connectionIds = new AtomicLong();
  private final AtomicBoolean closed = new AtomicBoolean();
  private final Owner owner = new Owner();
  private final Thread acceptor;

  private PgProxy(String targetHost, int targetPort, ServerSocket listener) {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
    this.listener = listener;
    this.acceptor = newThread("idem-pgproxy-" + port() + "-accept", this::acceptLoop);
  }

  /**
   * Starts a proxy to {@code targetHost:targetPort}, listening on a free port of 127.0.0.1.
   *
   * @throws TestkitException if no port can be opened
   */
  public static PgProxy start(String targetHost, int targetPort) {
    if (targetPort < 1 || targetPort > 65_535) {
      throw new IllegalArgumentException("targetPort " + targetPort + " is not a TCP port");
    }
    ServerSocket listener;
    try {
      listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    } catch (IOException e) {
      throw new TestkitException("cannot listen on a loopback port for the PostgreSQL proxy", e);
    }
    PgProxy proxy = new PgProxy(targetHost, targetPort, listener);
    proxy.acceptor.start();
    log.info("PostgreSQL proxy 127.0.0.1:{} -> {}:{}", proxy.port(), targetHost, targetPort);
    return proxy;
  }

  /** The port the proxy listens on, on 127.0.0.1. */
  public int port() {
    return listener.getLocalPort();
  }

  /**
   * The given PostgreSQL JDBC URL with its host and port (all of them, for a multi-host URL)
   * replaced by the proxy's; database and parameters are kept.
   *
   * @throws IllegalArgumentException if the URL does not start with {@code jdbc:postgresql://}
   */
  public String jdbcUrl(String directJdbcUrl) {
    Matcher m = URL_AUTHORITY.matcher(directJdbcUrl);
    if (!m.find()) {
      throw new IllegalArgumentException(
          "not a PostgreSQL JDBC URL with a host: "
              + directJdbcUrl
              + "; expected jdbc:postgresql://host:port/database");
    }
    return m.group(1) + "127.0.0.1:" + port() + directJdbcUrl.substring(m.end());
  }

  /**
   * Arms the proxy to drop the server's replies to the next {@code count} COMMITs, on any
   * connection, replacing whatever was armed before ({@code 0} disarms). Each such COMMIT is
   * forwarded; the proxy reads the server's reply up to the COMMIT's CommandComplete, forwards none
   * of it and resets both sockets of that connection.
   *
   * @throws IllegalArgumentException if {@code count} is negative
   */
  public void dropCommitReplies(int count) {
    if (count < 0) {
      throw new IllegalArgumentException("count must be 0 or more, was " + count);
    }
    armedDrops.set(count);
  }

  /**
   * How many COMMIT replies were dropped so far in which the server reported a commit. A COMMIT
   * that the server answered with ROLLBACK (its transaction had failed) or with an error still uses
   * up an armed drop and loses its connection, but is not counted here.
   */
  public long droppedCommitReplies() {
    return droppedReplies.get();
  }

  /** How many armed drops are left. A drop is used up when its COMMIT is forwarded. */
  public int armedCommitDrops() {
    return armedDrops.get();
  }

  /** Resets every open connection, both the client's and the server's side. */
  public void cutAll() {
    List<ProxiedPgConnection> current = List.copyOf(open);
    current.forEach(ProxiedPgConnection::abort);
    if (!current.isEmpty()) {
      log.info("PostgreSQL proxy 127.0.0.1:{} cut {} connections", port(), current.size());
    }
  }

  /** How many proxied connections are open now. */
  public int connections() {
    return open.size();
  }

  /**
   * Stops listening, resets every connection and waits for the proxy's threads to end. Idempotent.
   *
   * @throws TestkitException if a thread of the proxy is still running after 10 seconds
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    try {
      listener.close();
    } catch (IOException e) {
      log.warn("closing the proxy's listening socket failed", e);
    }
    long deadline = System.nanoTime() + CLOSE_TIMEOUT.toNanos();
    join(acceptor, deadline);
    cutAll();
    for (Thread thread : List.copyOf(threads)) {
      join(thread, deadline);
    }
    List<String> alive = threads.stream().filter(Thread::isAlive).map(Thread::getName).toList();
    if (!alive.isEmpty()) {
      throw new TestkitException(
          "PostgreSQL proxy threads still running " + CLOSE_TIMEOUT + " after close: " + alive);
    }
  }

  private void acceptLoop() {
    while (!closed.get()) {
      Socket client;
      try {
        client = listener.accept();
      } catch (IOException e) {
        if (!closed.get()) {
          log.warn("PostgreSQL proxy 127.0.0.1:{} stopped accepting", port(), e);
        }
        return;
      }
      Socket server = new Socket();
      try {
        client.setTcpNoDelay(true);
        server.setTcpNoDelay(true);
        server.connect(new InetSocketAddress(targetHost, targetPort), CONNECT_TIMEOUT_MILLIS);
      } catch (IOException e) {
        log.warn("PostgreSQL proxy cannot reach {}:{}: {}", targetHost, targetPort, e.toString());
        new ProxiedPgConnection(-1, client, server, owner).abort();
        continue;
      }
      ProxiedPgConnection connection =
          new ProxiedPgConnection(connectionIds.incrementAndGet(), client, server, owner);
      open.add(connection);
      String prefix = "idem-pgproxy-" + port() + "-" + connection.id();
      newThread(prefix + "-c2s", connection::relayClientToServer).start();
      newThread(prefix + "-s2c", connection::relayServerToClient).start();
    }
  }

  private Thread newThread(String name, Runnable body) {
    Thread thread =
        new Thread(
            () -> {
              try {
                body.run();
              } finally {
                threads.remove(Thread.currentThread());
              }
            },
            name);
    thread.setDaemon(true);
    threads.add(thread);
    return thread;
  }

  private static void join(Thread thread, long deadlineNanos) {
    long left = deadlineNanos - System.nanoTime();
    if (left <= 0) {
      return;
    }
    try {
      thread.join(Math.max(1, left / 1_000_000));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public String toString() {
    return "PgProxy[127.0.0.1:" + port() + " -> " + targetHost + ":" + targetPort + "]";
  }

  /** Receives the connections' reports; kept off the public API. */
  private final class Owner implements ProxiedPgConnection.Owner {
    @Override
    public boolean claimCommitDrop() {
      return armedDrops.getAndUpdate(n -> n > 0 ? n - 1 : 0) > 0;
    }

    @Override
    public void committedReplyDropped(ProxiedPgConnection connection) {
      droppedReplies.incrementAndGet();
    }

    @Override
    public void closed(ProxiedPgConnection connection) {
      open.remove(connection);
    }
  }
}
