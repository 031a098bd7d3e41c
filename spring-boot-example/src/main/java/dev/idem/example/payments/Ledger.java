package dev.idem.example.payments;

import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Propagation;
import org.springframework.transaction.annotation.Transactional;

/**
 * The ledger, written as any Spring service is: {@code JdbcTemplate} and {@code @Transactional}.
 * Called from idem's handler, {@code MANDATORY} joins idem's transaction (and would refuse to run
 * without one), so the entry, the balance and idem's processed mark commit together.
 */
@Service
public class Ledger {
  private final JdbcTemplate jdbc;

  Ledger(JdbcTemplate jdbc) {
    this.jdbc = jdbc;
  }

  /** Applies one payment: an entry and the account's balance. */
  @Transactional(propagation = Propagation.MANDATORY)
  public void apply(String eventId, PaymentEvent payment) {
    jdbc.update(
        "INSERT INTO ledger_entries (event_id, account, amount_cents) VALUES (?, ?, ?)",
        eventId,
        payment.account(),
        payment.amountCents());
    // Atomic: concurrent payments of one account (READ COMMITTED) cannot lose an update.
    jdbc.update(
        "INSERT INTO accounts (account, balance_cents) VALUES (?, ?) ON CONFLICT (account)"
            + " DO UPDATE SET balance_cents = accounts.balance_cents + EXCLUDED.balance_cents",
        payment.account(),
        payment.amountCents());
  }

  /** The account's balance in cents, 0 for an account without payments. */
  public long balance(String account) {
    Long balance =
        jdbc.query(
            "SELECT balance_cents FROM accounts WHERE account = ?",
            rs -> rs.next() ? rs.getLong(1) : 0L,
            account);
    return balance == null ? 0 : balance;
  }
}
