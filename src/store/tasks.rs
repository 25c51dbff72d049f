//! The `tasks` and `task_attachments` tables: analyses, their inputs and results. A task is
//! claimed by one worker at a time with a lease (one conditional UPDATE, so two workers, in one
//! process or several, never both win); a lease that runs out frees the task for another
//! worker. Every end (complete, fail) is conditional on the task still being open, so a task
//! ends once.

use sqlx::{AnyConnection, FromRow};

use super::{Backend, changed};
use crate::error::Result;

pub const PENDING: &str = "PENDING";
pub const RUNNING: &str = "RUNNING";
pub const COMPLETED: &str = "COMPLETED";
pub const FAILED: &str = "FAILED";

/// A task row (without its attachments).
#[derive(Debug, Clone, FromRow)]
pub struct TaskRow {
    pub id: String,
    pub user_id: String,
    pub status: String,
    pub stage: String,
    pub input_text: String,
    pub cost: i64,
    pub result: Option<String>,
    pub error: Option<String>,
    pub cancel_requested: i64,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, user_id, status, stage, input_text, cost, result, error, \
    cancel_requested, attempts, created_at, updated_at";

/// A file of a new task.
#[derive(Debug, Clone, FromRow)]
pub struct AttachmentRow {
    pub name: String,
    pub kind: String,
    pub content: Vec<u8>,
}

/// Inserts a new PENDING task and its attachments (in the caller's transaction).
pub async fn insert(
    conn: &mut AnyConnection,
    id: &str,
    user_id: &str,
    text: &str,
    cost: i64,
    attachments: &[AttachmentRow],
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tasks (id, user_id, status, stage, input_text, cost, created_at, updated_at) \
         VALUES ($1, $2, 'PENDING', 'queued', $3, $4, $5, $5)",
    )
    .bind(id.to_string())
    .bind(user_id.to_string())
    .bind(text.to_string())
    .bind(cost)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    for (position, file) in attachments.iter().enumerate() {
        sqlx::query(
            "INSERT INTO task_attachments (task_id, position, name, kind, content) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(position as i64)
        .bind(file.name.clone())
        .bind(file.kind.clone())
        .bind(file.content.clone())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One of the user's tasks.
pub async fn one(conn: &mut AnyConnection, user_id: &str, id: &str) -> Result<Option<TaskRow>> {
    let sql = format!("SELECT {COLUMNS} FROM tasks WHERE user_id = $1 AND id = $2");
    Ok(sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(sql))
        .bind(user_id.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?)
}

/// A task by id alone (for the worker that holds it).
pub async fn by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<TaskRow>> {
    let sql = format!("SELECT {COLUMNS} FROM tasks WHERE id = $1");
    Ok(sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?)
}

/// The user's tasks, newest first.
pub async fn page(
    conn: &mut AnyConnection,
    user_id: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<TaskRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM tasks WHERE user_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3"
    );
    Ok(sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(sql))
        .bind(user_id.to_string())
        .bind(limit)
        .bind(offset)
        .fetch_all(conn)
        .await?)
}

/// The files of a task, in order.
pub async fn attachments(conn: &mut AnyConnection, id: &str) -> Result<Vec<AttachmentRow>> {
    Ok(sqlx::query_as::<_, AttachmentRow>(
        "SELECT name, kind, content FROM task_attachments WHERE task_id = $1 ORDER BY position",
    )
    .bind(id.to_string())
    .fetch_all(conn)
    .await?)
}

/// Takes the oldest task that is PENDING, or RUNNING with a lease that ran out, for `owner`
/// until `lease_until`, and returns it as taken. One statement: a task is never taken by two
/// workers.
pub async fn claim(
    conn: &mut AnyConnection,
    backend: Backend,
    owner: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<TaskRow>> {
    let open = "(status = 'PENDING' OR (status = 'RUNNING' AND lease_until < $2))";
    let skip = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE tasks SET status = 'RUNNING', lease_owner = $1, lease_until = $3, \
         attempts = attempts + 1, updated_at = $2 \
         WHERE id = (SELECT id FROM tasks WHERE {open} ORDER BY seq LIMIT 1{skip}) AND {open} \
         RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(sql))
        .bind(owner.to_string())
        .bind(now)
        .bind(lease_until)
        .fetch_optional(conn)
        .await?)
}

/// Extends the lease and records the stage, while `owner` still holds the task. Returns the
/// cancel flag, or `None` when the lease was lost (another worker took the task, or it ended).
pub async fn renew(
    conn: &mut AnyConnection,
    id: &str,
    owner: &str,
    stage: &str,
    now: i64,
    lease_until: i64,
) -> Result<Option<bool>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE tasks SET lease_until = $3, stage = $4, updated_at = $5 \
         WHERE id = $1 AND lease_owner = $2 AND status = 'RUNNING' RETURNING cancel_requested",
    )
    .bind(id.to_string())
    .bind(owner.to_string())
    .bind(lease_until)
    .bind(stage.to_string())
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(flag,)| flag != 0))
}

/// Marks a RUNNING task held by `owner` COMPLETED with its result; false if it was not (the
/// lease was lost). Its attachments are deleted.
pub async fn complete(
    conn: &mut AnyConnection,
    id: &str,
    owner: &str,
    result: &str,
    at: i64,
) -> Result<bool> {
    let done = changed(
        conn,
        sqlx::query(
            "UPDATE tasks SET status = 'COMPLETED', stage = 'done', result = $3, lease_owner = NULL, \
             updated_at = $4 WHERE id = $1 AND lease_owner = $2 AND status = 'RUNNING'",
        )
        .bind(id.to_string())
        .bind(owner.to_string())
        .bind(result.to_string())
        .bind(at),
    )
    .await?;
    if done {
        drop_attachments(conn, id).await?;
    }
    Ok(done)
}

/// Marks a task FAILED with `reason` if it is still open: held by `owner` when given, else
/// PENDING (a cancellation before any worker took it). Returns the cost to refund and the
/// owner's id when it did. Run it in the transaction that records the refund.
pub async fn fail(
    conn: &mut AnyConnection,
    id: &str,
    owner: Option<&str>,
    reason: &str,
    at: i64,
) -> Result<Option<(i64, String)>> {
    // A worker's owner id is never empty, so "" stands for "no worker: only while PENDING".
    let row: Option<(i64, String)> = sqlx::query_as(
        "UPDATE tasks SET status = 'FAILED', stage = 'done', error = $3, lease_owner = NULL, \
         updated_at = $4 WHERE id = $1 AND ((status = 'RUNNING' AND lease_owner = $2) \
         OR (status = 'PENDING' AND $2 = '')) RETURNING cost, user_id",
    )
    .bind(id.to_string())
    .bind(owner.unwrap_or_default().to_string())
    .bind(reason.to_string())
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    if row.is_some() {
        drop_attachments(conn, id).await?;
    }
    Ok(row)
}

/// Gives a RUNNING task held by `owner` back (PENDING, this run not counted): the process is
/// stopping.
pub async fn release(conn: &mut AnyConnection, id: &str, owner: &str) -> Result<bool> {
    Ok(changed(
        conn,
        sqlx::query(
            "UPDATE tasks SET status = 'PENDING', lease_owner = NULL, lease_until = 0, \
             attempts = attempts - 1 WHERE id = $1 AND lease_owner = $2 AND status = 'RUNNING'",
        )
        .bind(id.to_string())
        .bind(owner.to_string()),
    )
    .await?)
}

/// Asks the worker running a task to stop. True when the task was still RUNNING.
pub async fn request_cancel(conn: &mut AnyConnection, id: &str, at: i64) -> Result<bool> {
    Ok(changed(
        conn,
        sqlx::query(
            "UPDATE tasks SET cancel_requested = 1, updated_at = $2 \
             WHERE id = $1 AND status = 'RUNNING'",
        )
        .bind(id.to_string())
        .bind(at),
    )
    .await?)
}

async fn drop_attachments(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM task_attachments WHERE task_id = $1")
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}
