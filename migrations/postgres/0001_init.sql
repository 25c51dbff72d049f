-- The schema's own bookkeeping: one row, written by the first migration. Health reads it,
-- so "healthy" means the database answers *and* the schema is in place.
CREATE TABLE schema_info (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    created_at  BIGINT NOT NULL      -- unix seconds
);
INSERT INTO schema_info (id, created_at) VALUES (1, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT));
