-- Hardening: mail that can never be sent is set aside, and a second factor that keeps failing
-- locks 2FA logins for a while.

-- Set when a mail failed for good (a rejected address) or ran out of attempts; the reason
-- stays in last_error for the operator. Dead mail is never retried.
ALTER TABLE outbox ADD COLUMN dead_at BIGINT;

-- Consecutive failed second-factor attempts at login, and until when 2FA logins are locked.
ALTER TABLE users ADD COLUMN second_factor_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN second_factor_locked_until BIGINT NOT NULL DEFAULT 0;
