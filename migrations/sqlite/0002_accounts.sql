-- Accounts: users, sessions, API keys, emailed one-time codes, TOTP recovery codes, and the
-- durable mail outbox. Integers and flags are BIGINT (0/1), times are unix seconds, ids TEXT.
-- Tokens and codes are never stored: only HMAC-SHA256 under the server secret.

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,            -- user_<32 hex>
    first_name          TEXT,
    last_name           TEXT,
    email               TEXT NOT NULL,               -- as given
    email_lower         TEXT NOT NULL UNIQUE,        -- lookups are case-insensitive
    password_hash       TEXT NOT NULL,               -- argon2id PHC string
    credits             BIGINT NOT NULL DEFAULT 0,   -- hundredths of a credit
    is_2fa_enabled      BIGINT NOT NULL DEFAULT 0,
    is_dark_mode        BIGINT NOT NULL DEFAULT 1,
    is_active           BIGINT NOT NULL DEFAULT 0,
    google_user_id      TEXT UNIQUE,                 -- Google `sub`
    totp_secret         TEXT,                        -- sealed with the server secret
    totp_pending_secret TEXT,                        -- enrolled, not yet confirmed
    totp_last_step      BIGINT NOT NULL DEFAULT 0,   -- last accepted 30 s step (no replay)
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,                    -- session_<32 hex>
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_mac   TEXT NOT NULL UNIQUE,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,                    -- api_key_<32 hex>
    user_id     TEXT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    salt        TEXT NOT NULL,                       -- the token is MAC(secret, id, salt)
    token_mac   TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE otps (
    id          TEXT PRIMARY KEY,                    -- otp_<32 hex>
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    otp_type    TEXT NOT NULL,                       -- ACTIVATION | TWO_FACTOR_AUTH | CHANGE_PASSWORD
    code_mac    TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,           -- wrong submissions; 5 kill the code
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (user_id, otp_type)                       -- one live code per (user, type)
);

CREATE TABLE recovery_codes (
    code_mac    TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL
);
CREATE INDEX recovery_codes_user_id ON recovery_codes (user_id);

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,               -- mail_<32 hex>
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    text_body        TEXT NOT NULL,                  -- emptied once sent (it may hold a code)
    html_body        TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    sent_at          BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX outbox_pending ON outbox (sent_at, next_attempt_at);
