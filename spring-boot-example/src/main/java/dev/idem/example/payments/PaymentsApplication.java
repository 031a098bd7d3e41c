package dev.idem.example.payments;

import dev.idem.consumer.EventHandler;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.scheduling.annotation.EnableScheduling;

/**
 * A payments service on idem's Spring Boot starter: the {@code payments} consumer of {@code
 * application.yml} applies each payment event to the ledger through {@link Ledger}, a {@code
 * JdbcTemplate} service whose writes commit in idem's transaction, once per payment id however
 * often the event arrives.
 */
@SpringBootApplication
@EnableScheduling
public class PaymentsApplication {

  /** Starts the service. */
  public static void main(String[] args) {
    SpringApplication.run(PaymentsApplication.class, args);
  }

  /**
   * The handler of the {@code payments} consumer (the bean's name is the consumer's). Its payload
   * type, {@link PaymentEvent}, is read from the generic type, as JSON with the application's
   * mapper.
   */
  @Bean
  EventHandler<PaymentEvent> payments(Ledger ledger) {
    return (payment, ctx) -> ledger.apply(ctx.eventId(), payment);
  }
}
