-- Credits and billing: the append-only ledger, processed Stripe events, the Stripe customer.
-- Amounts are BIGINT hundredths (credits) and US cents (fiat); every balance change is one
-- conditional UPDATE of users.credits plus one row here, in one database transaction.

CREATE TABLE transactions (
    seq                    BIGSERIAL PRIMARY KEY,              -- insertion order: newest first
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
CREATE FUNCTION transactions_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'transactions are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER transactions_append_only BEFORE UPDATE ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_append_only();

-- The balance can never go negative.
ALTER TABLE users ADD CONSTRAINT users_credits_nonnegative CHECK (credits >= 0);

ALTER TABLE users ADD COLUMN stripe_customer_id TEXT;

-- Every Stripe event id is processed once.
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,                 -- evt_…
    type         TEXT NOT NULL,
    received_at  BIGINT NOT NULL
);
