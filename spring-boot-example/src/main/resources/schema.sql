CREATE TABLE IF NOT EXISTS accounts (
  account text PRIMARY KEY,
  balance_cents bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_entries (
  event_id text NOT NULL,
  account text NOT NULL,
  amount_cents bigint NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS daily_totals (
  day date PRIMARY KEY,
  entries bigint NOT NULL
);
