package dev.idem.testkit.pg.internal;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection relayed to the PostgreSQL server, message by message, by two threads: one
 * runs {@link #relayClientToServer()}, the other {@link #relayServerToClient()}.
 *
 * <p>The client-to-server side asks a {@link CommitLocator} where the reply to each COMMIT will be
 * and, when the owner grants a drop, hands that position to the server-to-client side, which
 * swallows the replies of the COMMIT's group up to the COMMIT's own CommandComplete and then resets
 * both sockets.
 *
 * <p>Encryption requests are declined by the relay itself, so the stream stays readable: a client
 * that insists on TLS or GSS encryption cannot connect through it. Anything that does not start
 * like a PostgreSQL startup packet (a cancel request, a direct TLS handshake) is copied blindly.
 */
public final class ProxiedPgConnection {
  /** What the connection reports to its owner; called from the relay threads. */
  public interface Owner {
    /** Takes one armed drop if there is one. */
    boolean claimCommitDrop();

    /** The server's reply to a COMMIT was swallowed and it said the transaction committed. */
    void committedReplyDropped(ProxiedPgConnection connection);

    /** The connection is closed; called once. */
    void closed(ProxiedPgConnection connection);
  }

  private static final Logger log = LoggerFactory.getLogger(ProxiedPgConnection.class);
  private static final int BUFFER = 64 * 1024;
  private static final int INSPECTED_BYTES = 1024;
  private static final byte[] NOTHING = new byte[0];

  private final long id;
  private final Socket client;
  private final Socket server;
  private final Owner owner;

  // Client-to-server thread only.
  private final CommitLocator locator;

  // Server-to-client thread only.
  private long groupsAnswered;
  private int completionsInTargetGroup;

  // Written by the client-to-server thread before the bytes they describe reach the server.
  private volatile boolean opaque;
  private volatile CommitLocator.ReplyPosition dropTarget;

  private boolean clientDone;
  private boolean serverDone;
  private boolean closed;

  public ProxiedPgConnection(long id, Socket client, Socket server, Owner owner) {
    this.id = id;
    this.client = client;
    this.server = server;
    this.owner = owner;
    this.locator = new CommitLocator(id);
  }

  /** A number unique within the proxy, for thread names and logs. */
  public long id() {
    return id;
  }

  /** Copies the client's messages to the server until either side goes away. */
  public void relayClientToServer() {
    try {
      DataInputStream in = new DataInputStream(new BufferedInputStream(client.getInputStream()));
      OutputStream out = new BufferedOutputStream(server.getOutputStream(), BUFFER);
      if (relayStartup(in, out)) {
        relayFrontendMessages(in, out);
      } else if (opaque) {
        copyAll(in, out);
      }
      out.flush();
      finished(true);
    } catch (IOException e) {
      abort();
    } catch (RuntimeException e) {
      log.warn("connection {}: relay from the client failed", id, e);
      abort();
    }
  }

  /** Copies the server's messages to the client, swallowing a COMMIT's reply when armed. */
  public void relayServerToClient() {
    try {
      DataInputStream in =
          new DataInputStream(new BufferedInputStream(server.getInputStream(), BUFFER));
      OutputStream out = new BufferedOutputStream(client.getOutputStream(), BUFFER);
      in.mark(1);
      if (in.read() >= 0) {
        in.reset();
        // The client side decided before the server could send its first byte.
        if (opaque) {
          copyAll(in, out);
        } else if (!relayBackendMessages(in, out)) {
          return;
        }
      }
      out.flush();
      finished(false);
    } catch (IOException e) {
      abort();
    } catch (RuntimeException e) {
      log.warn("connection {}: relay from the server failed", id, e);
      abort();
    }
  }

  /** Resets both sockets at once, as a broken network would. Idempotent. */
  public void abort() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    reset(client);
    reset(server);
    owner.closed(this);
  }

  /**
   * Relays the untyped startup packets. Returns true when a StartupMessage went through and typed
   * messages follow, false at end of stream or when the stream is not one the relay can read.
   */
  private boolean relayStartup(DataInputStream in, OutputStream out) throws IOException {
    while (true) {
      int first = in.read();
      if (first < 0) {
        return false;
      }
      int length = first << 24 | in.readUnsignedByte() << 16 | in.readUnsignedShort();
      if (length < 8 || length > PgWire.MAX_STARTUP_LENGTH) {
        opaque = true;
        writeInt(out, length);
        return false;
      }
      int code = in.readInt();
      byte[] rest = readExactly(in, length - 8);
      if (code == PgWire.SSL_REQUEST || code == PgWire.GSSENC_REQUEST) {
        // Answered here, unframed, as the server would when it offers no encryption.
        OutputStream toClient = client.getOutputStream();
        toClient.write('N');
        toClient.flush();
        continue;
      }
      boolean readable = code >>> 16 == 3;
      opaque = !readable;
      writeInt(out, length);
      writeInt(out, code);
      out.write(rest);
      out.flush();
      return readable;
    }
  }

  private void relayFrontendMessages(DataInputStream in, OutputStream out) throws IOException {
    byte[] buffer = new byte[BUFFER];
    while (true) {
      if (in.available() == 0) {
        out.flush();
      }
      int type = in.read();
      if (type < 0) {
        return;
      }
      int bodyLength = bodyLength(in);
      byte[] head = CommitLocator.inspects(type) ? readHead(in, bodyLength) : NOTHING;
      // Before the bytes leave: the other thread must know the target when the reply arrives.
      armIfClaimed(locator.onMessage(type, head));
      out.write(type);
      writeInt(out, bodyLength + 4);
      out.write(head);
      copy(in, out, bodyLength - head.length, buffer);
    }
  }

  private void armIfClaimed(CommitLocator.ReplyPosition commit) {
    if (commit != null && dropTarget == null && owner.claimCommitDrop()) {
      dropTarget = commit;
      log.debug("connection {}: the reply to the COMMIT at {} will be dropped", id, commit);
    }
  }

  /** Returns true at end of stream, false after resetting the connection for a dropped reply. */
  private boolean relayBackendMessages(DataInputStream in, OutputStream out) throws IOException {
    byte[] buffer = new byte[BUFFER];
    while (true) {
      if (in.available() == 0) {
        out.flush();
      }
      int type = in.read();
      if (type < 0) {
        return true;
      }
      int bodyLength = bodyLength(in);
      CommitLocator.ReplyPosition target = dropTarget;
      if (target != null && groupsAnswered == target.group()) {
        out.flush();
        if (swallowed(type, in, bodyLength, target)) {
          abort();
          return false;
        }
        continue;
      }
      out.write(type);
      writeInt(out, bodyLength + 4);
      copy(in, out, bodyLength, buffer);
      if (type == 'Z') {
        groupsAnswered++;
      }
    }
  }

  /**
   * Reads one reply of the COMMIT's group without forwarding it. Returns true once the COMMIT's own
   * reply has been read, or once it is clear that the COMMIT did not run.
   */
  private boolean swallowed(
      int type, DataInputStream in, int bodyLength, CommitLocator.ReplyPosition target)
      throws IOException {
    byte[] head = type == 'C' ? readHead(in, bodyLength) : NOTHING;
    skip(in, bodyLength - head.length);
    switch (type) {
      case 'C', 'I', 's' -> {
        if (completionsInTargetGroup++ < target.execute()) {
          return false;
        }
        String tag = type == 'C' ? new PgWire.Fields(head).next() : null;
        log.info("connection {}: dropped the server's reply to a COMMIT (tag {})", id, tag);
        if (PgWire.committed(tag)) {
          owner.committedReplyDropped(this);
        }
        return true;
      }
      case 'E', 'Z' -> {
        log.info("connection {}: the COMMIT whose reply was to be dropped did not run", id);
        return true;
      }
      default -> {
        return false;
      }
    }
  }

  /** One direction reached end of stream: pass it on, and close once both directions have. */
  private void finished(boolean fromClient) {
    boolean both;
    synchronized (this) {
      if (closed) {
        return;
      }
      if (fromClient) {
        clientDone = true;
      } else {
        serverDone = true;
      }
      both = clientDone && serverDone;
      if (both) {
        closed = true;
      }
    }
    if (both) {
      closeQuietly(client);
      closeQuietly(server);
      owner.closed(this);
      return;
    }
    try {
      (fromClient ? server : client).shutdownOutput();
    } catch (IOException e) {
      abort();
    }
  }

  private static int bodyLength(DataInputStream in) throws IOException {
    int length = in.readInt();
    if (length < 4) {
      throw new IOException("message length " + length + " is not valid");
    }
    return length - 4;
  }

  private static byte[] readHead(DataInputStream in, int bodyLength) throws IOException {
    return readExactly(in, Math.min(bodyLength, INSPECTED_BYTES));
  }

  private static byte[] readExactly(InputStream in, int length) throws IOException {
    byte[] bytes = in.readNBytes(length);
    if (bytes.length < length) {
      throw new EOFException("stream ended inside a message");
    }
    return bytes;
  }

  private static void copy(InputStream in, OutputStream out, int length, byte[] buffer)
      throws IOException {
    int left = length;
    while (left > 0) {
      int n = in.read(buffer, 0, Math.min(left, buffer.length));
      if (n < 0) {
        throw new EOFException("stream ended inside a message");
      }
      out.write(buffer, 0, n);
      left -= n;
    }
  }

  private static void skip(InputStream in, int length) throws IOException {
    in.skipNBytes(length);
  }

  private static void copyAll(InputStream in, OutputStream out) throws IOException {
    byte[] buffer = new byte[BUFFER];
    int n;
    while ((n = in.read(buffer)) >= 0) {
      out.write(buffer, 0, n);
      if (in.available() == 0) {
        out.flush();
      }
    }
  }

  private static void writeInt(OutputStream out, int value) throws IOException {
    out.write(value >>> 24);
    out.write(value >>> 16);
    out.write(value >>> 8);
    out.write(value);
  }

  private static void reset(Socket socket) {
    try {
      socket.setSoLinger(true, 0);
    } catch (IOException e) {
      // Already closed: nothing left to reset.
    }
    closeQuietly(socket);
  }

  private static void closeQuietly(Socket socket) {
    try {
      socket.close();
    } catch (IOException e) {
      // Closing is all that is wanted; the socket is unusable either way.
    }
  }

  @Override
  public String toString() {
    return "ProxiedPgConnection[" + id + ", " + client.getRemoteSocketAddress() + "]";
  }
}
