package dev.idem.bench;

import dev.idem.consumer.BatchContext;
import dev.idem.consumer.BatchEvent;
import dev.idem.consumer.BatchHandler;
import dev.idem.example.webhook.LedgerHandler;
import dev.idem.example.webhook.PaymentEvent;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The webhook example's ledger effect for a batch (the example has a per-record {@link
 * LedgerHandler} only): the same entry row per event, in one JDBC batch, and the same balances, as
 * one upsert per (account, currency) with the sum of the batch's signed amounts, in ascending
 * account order so that concurrent batches take the balance rows' locks in one order and cannot
 * deadlock on them.
 */
final class WebhookBatchHandler implements BatchHandler<PaymentEvent> {

  @Override
  public void handle(List<BatchEvent<PaymentEvent>> events, BatchContext ctx) throws Exception {
    Connection c = ctx.connection();
    Map<String, Long> balances = new TreeMap<>();
    try (PreparedStatement entry =
        c.prepareStatement(
            "INSERT INTO ledger.entries (event_id, account, currency, type, amount, source)"
                + " VALUES (?, ?, ?, ?, ?, ?)")) {
      for (BatchEvent<PaymentEvent> e : events) {
        PaymentEvent event = e.payload();
        long signed = LedgerHandler.signedAmount(event);
        entry.setString(1, e.eventId());
        entry.setString(2, event.account());
        entry.setString(3, event.currency());
        entry.setString(4, event.type());
        entry.setLong(5, signed);
        entry.setString(6, e.topic() + "-" + e.partition() + "@" + e.offset());
        entry.addBatch();
        // account and currency joined by a character neither may hold (the currency is [A-Z]{3}).
        balances.merge(event.account() + "\n" + event.currency(), signed, Long::sum);
      }
      entry.executeBatch();
    }
    try (PreparedStatement balance =
        c.prepareStatement(
            "INSERT INTO ledger.accounts AS a (account, currency, balance) VALUES (?, ?, ?)"
                + " ON CONFLICT (account, currency) DO UPDATE SET balance = a.balance +"
                + " EXCLUDED.balance")) {
      for (Map.Entry<String, Long> b : balances.entrySet()) {
        int cut = b.getKey().lastIndexOf('\n');
        balance.setString(1, b.getKey().substring(0, cut));
        balance.setString(2, b.getKey().substring(cut + 1));
        balance.setLong(3, b.getValue());
        balance.addBatch();
      }
      balance.executeBatch();
    }
  }
}
