-- Credits and billing: the append-only ledger, processed Stripe events, the Stripe customer.
-- Amounts are BIGINT hundredths (credits) and US cents (fiat); every balance change is one
-- conditional UPDATE of users.credits plus one row here, in one database transaction.

CREATE TABLE transactions (
    seq                    INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order: newest first
    id                     TEXT NOT NULL UNIQUE,               -- transaction_<32 hex>
    user_id                TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type                   TEXT NOT NULL CHECK (type IN ('CREDIT', 'DEBIT')),
    description            TEXT NOT NULL,
    credits                BIGINT NOT NULL CHECK (credits >= 0),  -- magnitude; type gives the sign
    fiat                   BIGINT NOT NULL CHECK (fiat >= 0),
    stripe_payment_intent  TEXT,                               -- never shown on the wire
    idempotency_key        TEXT UNIQUE,                        -- a retried charge applies once
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX transactions_user ON transactions (user_id, seq);

-- The ledger is append-only.
CREATE TRIGGER transactions_append_only BEFORE UPDATE ON transactions
BEGIN
    SELECT RAISE(ABORT, 'transactions are append-only');
END;

-- The balance can never go negative (SQLite cannot add a CHECK to an existing table).
CREATE TRIGGER users_credits_insert_nonnegative BEFORE INSERT ON users
WHEN NEW.credits < 0
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: credits >= 0');
END;
CREATE TRIGGER users_credits_update_nonnegative BEFORE UPDATE OF credits ON users
WHEN NEW.credits < 0
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: credits >= 0');
END;

ALTER TABLE users ADD COLUMN stripe_customer_id TEXT;

-- Every Stripe event id is processed once.
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,                 -- evt_…
    type         TEXT NOT NULL,
    received_at  BIGINT NOT NULL
);
