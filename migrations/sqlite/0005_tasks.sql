-- Analysis tasks: durable, claimed by workers with a lease, charged and refunded once.
-- The inputs (text and attachments) live here too, so any process can run any task; the
-- attachments are deleted when the task ends (the extraction stays in the result).

CREATE TABLE tasks (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order: newest first
    id                TEXT NOT NULL UNIQUE,               -- task_<32 hex>
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status            TEXT NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')),
    stage             TEXT NOT NULL,                      -- queued, extracting, retrieving, verifying, done
    input_text        TEXT NOT NULL,
    cost              BIGINT NOT NULL CHECK (cost >= 0),  -- hundredths charged at creation
    result            TEXT,                               -- JSON, once COMPLETED
    error             TEXT,                               -- the reason, once FAILED
    cancel_requested  BIGINT NOT NULL DEFAULT 0,
    lease_owner       TEXT,                               -- the worker running it
    lease_until       BIGINT NOT NULL DEFAULT 0,          -- unix seconds; past = free to take
    attempts          BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX tasks_user ON tasks (user_id, seq);
CREATE INDEX tasks_open ON tasks (status, seq);

CREATE TABLE task_attachments (
    task_id   TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    position  BIGINT NOT NULL,
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    content   BLOB NOT NULL,
    PRIMARY KEY (task_id, position)
);
