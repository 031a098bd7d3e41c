package dev.idem.consumer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A TCP relay to a real server, for tests of a server that cannot answer yet. It listens from the
 * moment it is created, so its port is taken and clients can connect, but it relays nothing until
 * {@link #open()}: until then a client's requests go unanswered, as with a broker that hangs.
 */
final class TcpRelay implements AutoCloseable {
  private final String targetHost;
  private final int targetPort;
  private final ServerSocket listener;
  private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();

  private TcpRelay(String targetHost, int targetPort) throws IOException {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
    this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
  }

  /** A relay to {@code host:port}, not relaying yet. */
  static TcpRelay to(String hostAndPort) throws IOException {
    int colon = hostAndPort.lastIndexOf(':');
    return new TcpRelay(
        hostAndPort.substring(0, colon), Integer.parseInt(hostAndPort.substring(colon + 1)));
  }

  /** Where clients connect: {@code 127.0.0.1:port}. */
  String address() {
    return "127.0.0.1:" + listener.getLocalPort();
  }

  /** Starts accepting and relaying, including connections that waited in the backlog. */
  void open() {
    daemon("relay-accept", this::acceptLoop);
  }

  private void acceptLoop() {
    while (!listener.isClosed()) {
      try {
        Socket client = listener.accept();
        Socket server = new Socket(targetHost, targetPort);
        sockets.add(client);
        sockets.add(server);
        daemon("relay-up", () -> copy(client, server));
        daemon("relay-down", () -> copy(server, client));
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  private void copy(Socket from, Socket to) {
    byte[] buffer = new byte[16 * 1024];
    try (InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream()) {
      for (int n; (n = in.read(buffer)) >= 0; ) {
        out.write(buffer, 0, n);
        out.flush();
      }
    } catch (IOException e) {
      // One side went away; closing both below ends the other direction too.
    } finally {
      closeQuietly(from);
      closeQuietly(to);
    }
  }

  private static void daemon(String name, Runnable body) {
    Thread t = new Thread(body, name);
    t.setDaemon(true);
    t.start();
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      // Closing anyway.
    }
  }

  @Override
  public void close() {
    closeQuietly(listener);
    sockets.forEach(TcpRelay::closeQuietly);
  }
}
