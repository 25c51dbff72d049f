//! Tasks: the user's analyses (View All, paged; View), and what the MCP adapter needs around
//! them: waiting for one to end while reporting its stage, and cancelling one. A task's state
//! lives only in the database, so any process can answer for any task.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    UserPage,
    auth::{Actor, require_active},
    credits::{self, Entry},
};
use crate::{
    analysis::{Analysis, Stage},
    app::App,
    crypto::http_date,
    error::{Error, Result},
    model::{Credits, UserId},
    store::tasks::{self, TaskRow},
};

/// The reason a cancelled task keeps.
pub const CANCELLED: &str = "cancelled";

/// A task's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Waiting for a worker.
    Pending,
    /// A worker is analysing it.
    Running,
    /// Done: `result` holds the analysis.
    Completed,
    /// Ended without a result (`error` says why); its cost was refunded.
    Failed,
}

impl Status {
    fn parse(text: &str) -> Self {
        match text {
            tasks::RUNNING => Self::Running,
            tasks::COMPLETED => Self::Completed,
            tasks::FAILED => Self::Failed,
            _ => Self::Pending,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// An analysis task, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PublicTask {
    /// When it was submitted, e.g. `Thu, 27 Nov 2025 00:39:09 GMT`.
    pub created_at: String,
    /// Why it failed (`cancelled`, a timeout, an engine error); null otherwise.
    pub error: Option<String>,
    /// `task_<32 hex>`.
    pub id: String,
    /// The analysis once COMPLETED; null before.
    pub result: Option<Analysis>,
    /// Where the analysis is: queued, extracting, retrieving, verifying, done.
    pub stage: Stage,
    /// PENDING, RUNNING, COMPLETED or FAILED.
    pub status: Status,
    /// When it last changed.
    pub updated_at: String,
    /// The owner.
    pub user_id: String,
}

impl PublicTask {
    pub fn new(row: &TaskRow) -> Self {
        let status = Status::parse(&row.status);
        Self {
            created_at: http_date(row.created_at),
            error: row.error.clone(),
            id: row.id.clone(),
            result: row
                .result
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok()),
            stage: Stage::parse(&row.stage),
            status,
            updated_at: http_date(row.updated_at),
            user_id: row.user_id.clone(),
        }
    }

    /// The MCP resource this task is readable at.
    pub fn uri(&self) -> String {
        format!("clara://tasks/{}", self.id)
    }
}

/// A list of tasks.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Tasks {
    /// Newest first.
    pub items: Vec<PublicTask>,
}

pub async fn list(app: &App, actor: &Actor, input: UserPage) -> Result<Tasks> {
    let (user, limit, offset) = input.resolve(app, actor).await?;
    let mut conn = app.store().conn().await?;
    let rows = tasks::page(&mut conn, user.id.as_str(), limit, offset).await?;
    Ok(Tasks {
        items: rows.iter().map(PublicTask::new).collect(),
    })
}

/// One of the user's tasks.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRef {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
    /// `task_<32 hex>`.
    pub task_id: String,
}

pub async fn view(app: &App, actor: &Actor, input: TaskRef) -> Result<PublicTask> {
    let user = actor.target_user(app, input.user_id.as_deref()).await?;
    require_active(&user)?;
    current(app, user.id.as_str(), input.task_id.trim()).await
}

/// How often a waiting caller looks at the task.
pub const POLL: Duration = Duration::from_millis(200);

/// One of the user's tasks as it is now (404 when the user has no such task). It reads the
/// database, so a caller waiting for a task follows it whichever process runs it.
pub async fn current(app: &App, user_id: &str, task_id: &str) -> Result<PublicTask> {
    let mut conn = app.store().conn().await?;
    let row = tasks::one(&mut conn, user_id, task_id).await?;
    row.map(|r| PublicTask::new(&r))
        .ok_or(Error::NotFound("Task"))
}

/// Cancels the caller's task: one that no worker has taken yet ends FAILED (`cancelled`) and
/// is refunded at once; a running one is told to stop, and its worker ends it the same way.
/// A task that has ended stays as it is.
pub async fn cancel(app: &App, actor: &Actor, input: TaskRef) -> Result<PublicTask> {
    let user = actor.target_user(app, input.user_id.as_deref()).await?;
    require_active(&user)?;
    let (user_id, task_id) = (user.id.as_str(), input.task_id.trim());
    let task = current(app, user_id, task_id).await?;
    if !task.status.is_final() && !end_failed(app, task_id, None, CANCELLED).await? {
        let mut conn = app.store().conn().await?;
        tasks::request_cancel(&mut conn, task_id, app.now()).await?;
    }
    current(app, user_id, task_id).await
}

/// Ends an open task FAILED with `reason` and refunds its cost, in one transaction: held by
/// `owner` (a worker) or, without one, still PENDING. False when the task was not in that
/// state (it ended, or someone else holds it): then nothing changed and nothing is refunded.
pub async fn end_failed(
    app: &App,
    task_id: &str,
    owner: Option<&str>,
    reason: &str,
) -> Result<bool> {
    let mut tx = app.store().begin().await?;
    let Some((cost, user_id)) = tasks::fail(&mut tx, task_id, owner, reason, app.now()).await?
    else {
        return Ok(false);
    };
    let cost = Credits::from_hundredths(cost);
    if cost.hundredths() > 0 {
        let entry = Entry::credit(cost, format!("Refund for analysis {task_id} ({reason})."))
            .key(format!("refund:{task_id}"));
        credits::record(app, &mut tx, &UserId::new(user_id), &entry).await?;
    }
    tx.commit().await?;
    Ok(true)
}
