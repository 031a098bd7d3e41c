package dev.idem.bench;

import java.nio.charset.StandardCharsets;
import java.util.Random;

/**
 * The benchmark's records: {@code events} records of which 20% are copies of earlier events, placed
 * on random partitions (copies too), keyed by account, each with a small ledger write to make.
 * Deterministic for a seed, so every scenario sees the same records.
 */
final class Workload {
  static final long SEED = 20261121L;

  final int events;
  final int unique;
  final int partitions;
  final String[] ids;

  /** The event number of each record (0 to unique - 1; a copy has its original's). */
  final int[] event;

  final int[] partition;
  final String[] account;
  final int[] amount;

  Workload(int events, int partitions) {
    this.events = events;
    this.partitions = partitions;
    this.unique = events - events / 5;
    ids = new String[events];
    event = new int[events];
    partition = new int[events];
    account = new String[events];
    amount = new int[events];
    Random random = new Random(SEED);
    for (int i = 0; i < events; i++) {
      int id = i < unique ? i : random.nextInt(unique);
      event[i] = id;
      ids[i] = "evt-" + id;
      account[i] = "acct-" + (id % 1000);
      amount[i] = 1 + (id * 7919) % 1000;
      partition[i] = random.nextInt(partitions);
    }
    // Shuffle the copies among the originals (Fisher-Yates on all arrays together).
    for (int i = events - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      swap(i, j);
    }
  }

  private void swap(int i, int j) {
    String id = ids[i];
    ids[i] = ids[j];
    ids[j] = id;
    int e = event[i];
    event[i] = event[j];
    event[j] = e;
    int p = partition[i];
    partition[i] = partition[j];
    partition[j] = p;
    String a = account[i];
    account[i] = account[j];
    account[j] = a;
    int m = amount[i];
    amount[i] = amount[j];
    amount[j] = m;
  }

  byte[] value(int i) {
    return (account[i] + ":" + amount[i]).getBytes(StandardCharsets.UTF_8);
  }
}
