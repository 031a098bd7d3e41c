package dev.idem.example.webhook;

import dev.idem.consumer.EventHandler;
import dev.idem.consumer.NonRetryableException;
import dev.idem.consumer.ProcessingContext;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import javax.sql.DataSource;

/**
 * Applies payment events to the ledger, inside idem's transaction.
 *
 * <p>Sign convention of the ledger entry (and the balance change):
 *
 * <table>
 *   <caption>Event types</caption>
 *   <tr><th>type</th><th>entry</th><th>meaning</th></tr>
 *   <tr><td>{@code payment.succeeded}</td><td>+amount</td><td>money received for the account</td></tr>
 *   <tr><td>{@code payment.refunded}</td><td>-amount</td><td>money returned to a payer</td></tr>
 *   <tr><td>{@code payout.paid}</td><td>-amount</td><td>money paid out to the account holder</td></tr>
 * </table>
 *
 * <p>Any other type is not applied: {@link NonRetryableException} sends it to the dead letters. The
 * balance changes with an atomic {@code balance = balance + ?} upsert, so concurrent events of
 * different accounts never lose updates at READ COMMITTED.
 */
public final class LedgerHandler implements EventHandler<PaymentEvent> {

  /** The signed amount of an event, or throws for an unknown type. */
  public static long signedAmount(PaymentEvent event) {
    return switch (event.type()) {
      case "payment.succeeded" -> event.amount();
      case "payment.refunded", "payout.paid" -> -event.amount();
      default -> throw new NonRetryableException("unknown event type " + event.type());
    };
  }

  @Override
  public void handle(PaymentEvent event, ProcessingContext ctx) throws SQLException {
    long signed = signedAmount(event);
    Connection c = ctx.connection();
    try (PreparedStatement entry =
        c.prepareStatement(
            "INSERT INTO ledger.entries (event_id, account, currency, type, amount, source)"
                + " VALUES (?, ?, ?, ?, ?, ?)")) {
      entry.setString(1, ctx.eventId());
      entry.setString(2, event.account());
      entry.setString(3, event.currency());
      entry.setString(4, event.type());
      entry.setLong(5, signed);
      entry.setString(6, ctx.topic() + "-" + ctx.partition() + "@" + ctx.offset());
      entry.executeUpdate();
    }
    try (PreparedStatement balance =
        c.prepareStatement(
            "INSERT INTO ledger.accounts AS a (account, currency, balance) VALUES (?, ?, ?)"
                + " ON CONFLICT (account, currency) DO UPDATE SET balance = a.balance + EXCLUDED.balance")) {
      balance.setString(1, event.account());
      balance.setString(2, event.currency());
      balance.setLong(3, signed);
      balance.executeUpdate();
    }
  }

  /**
   * Creates the ledger tables if missing, under an advisory lock so instances starting together do
   * not race. Entries carry no unique key on purpose: the demo's check counts doubles that would
   * slip through.
   */
  public static void createSchema(DataSource dataSource) throws SQLException {
    try (Connection c = dataSource.getConnection()) {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.execute(
            "SELECT pg_advisory_xact_lock("
                + dev.idem.lock.LockKey.hash("idem.example", "ledger")
                + ")");
        s.execute("CREATE SCHEMA IF NOT EXISTS ledger");
        s.execute(
            "CREATE TABLE IF NOT EXISTS ledger.accounts (account text NOT NULL, currency char(3)"
                + " NOT NULL, balance bigint NOT NULL, PRIMARY KEY (account, currency))");
        s.execute(
            "CREATE TABLE IF NOT EXISTS ledger.entries (id bigserial PRIMARY KEY, event_id text"
                + " NOT NULL, account text NOT NULL, currency char(3) NOT NULL, type text NOT NULL,"
                + " amount bigint NOT NULL, source text NOT NULL,"
                + " applied_at timestamptz NOT NULL DEFAULT now())");
        s.execute("CREATE INDEX IF NOT EXISTS entries_event_id_idx ON ledger.entries (event_id)");
      }
      c.commit();
    }
  }
}
