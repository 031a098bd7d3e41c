package dev.idem.example.payments;

/**
 * A payment to apply: {@code amountCents} (negative for a debit) to {@code account}.
 *
 * @param paymentId the provider's payment id (also in the {@code payment-id} header: the event id)
 * @param account the account
 * @param amountCents the amount in cents
 */
public record PaymentEvent(String paymentId, String account, long amountCents) {}
