package dev.idem.consumer.internal.tx;

import dev.idem.consumer.ProcessingContext;
import dev.idem.consumer.SqlWork;
import java.sql.Connection;
import java.sql.SQLException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Headers;

/** The context handed to a handler for one attempt. */
record RecordTransactionContext(
    String consumerName,
    String eventId,
    ConsumerRecord<byte[], byte[]> record,
    int attempt,
    Connection connection)
    implements ProcessingContext {

  @Override
  public String topic() {
    return record.topic();
  }

  @Override
  public int partition() {
    return record.partition();
  }

  @Override
  public long offset() {
    return record.offset();
  }

  @Override
  public long timestamp() {
    return record.timestamp();
  }

  @Override
  public byte[] key() {
    return record.key();
  }

  @Override
  public Headers headers() {
    return record.headers();
  }

  @Override
  public <R> R withSavepoint(SqlWork<R> work) throws SQLException {
    return GuardedConnection.withSavepoint(connection, work);
  }

  @Override
  public String toString() {
    return "ProcessingContext["
        + record.topic()
        + "-"
        + record.partition()
        + "@"
        + record.offset()
        + ", event id "
        + eventId
        + ", attempt "
        + attempt
        + "]";
  }
}
