//! Analysis tasks over MCP ([`Effect::Task`](crate::catalog::Effect::Task)): how a created
//! task is answered (an MCP task handle for clients with the tasks extension; the finished task
//! with progress for `wait: true`; else the created task at once), `tasks/get` and
//! `tasks/cancel` served from the database through the catalog's `task_view` and
//! `task_cancel` (so they survive a reconnect, a restart and a load balancer), and each task
//! as a resource, `clara://tasks/{task_id}`.

use rmcp::{
    ErrorData as McpError, RoleServer,
    model::{
        CallToolResponse, CallToolResult, ContentBlock, CreateTaskResult, DetailedTask,
        ListResourceTemplatesResult, ProgressNotificationParam, ReadResourceResult, Resource,
        ResourceContents, ResourceTemplate, Task, TaskPayload,
    },
    service::RequestContext,
};
use serde_json::json;

use crate::{
    analysis::Stage,
    app::App,
    caller::Caller,
    catalog,
    error::Error,
    services::tasks::{self, CANCELLED, PublicTask, Status},
};

pub const URI_PREFIX: &str = "clara://tasks/";
/// How often task-aware clients are asked to poll.
const POLL_INTERVAL_MS: u64 = 1000;

/// The tool result for a task: the task as structured content, linked to its resource. A
/// FAILED task is not a failed call (the call created it; `status` and `error` tell).
pub fn result(task: &PublicTask) -> CallToolResult {
    let data = serde_json::to_value(task).unwrap_or_default();
    let mut result = CallToolResult::structured(data);
    result.content.push(ContentBlock::resource_link(
        Resource::new(task.uri(), format!("Analysis {}", task.id))
            .with_mime_type("application/json"),
    ));
    result
}

/// Answers a successful `agent_analysis` call.
pub async fn answer(
    app: &App,
    context: &RequestContext<RoleServer>,
    wait: bool,
    created: CallToolResult,
) -> CallToolResponse {
    if created.is_error == Some(true) {
        return created.into();
    }
    let Some(task) = created
        .structured_content
        .as_ref()
        .and_then(|v| serde_json::from_value::<PublicTask>(v.clone()).ok())
    else {
        return created.into();
    };
    let tasks_extension = context
        .client_capabilities()
        .is_some_and(|caps| caps.supports_tasks());
    if tasks_extension {
        return CreateTaskResult::new(handle(&task)).into();
    }
    if !wait {
        return result(&task).into();
    }
    let waited = tokio::select! {
        waited = follow(app, context, &task) => waited,
        // The client gave up waiting: the task runs on; this answer is never read.
        () = context.ct.cancelled() => return result(&task).into(),
    };
    match waited {
        Ok(done) => result(&done).into(),
        Err(err) => {
            err.log();
            result(&task).into()
        }
    }
}

/// Follows the task until it ends, sending `notifications/progress` at each new stage when the
/// request carries a progress token.
async fn follow(
    app: &App,
    context: &RequestContext<RoleServer>,
    task: &PublicTask,
) -> crate::error::Result<PublicTask> {
    let token = context.meta.get_progress_token();
    let mut seen: Option<Stage> = None;
    loop {
        let now = tasks::current(app, &task.user_id, &task.id).await?;
        if let Some(token) = &token
            && seen != Some(now.stage)
        {
            let (done, total) = now.stage.progress();
            let param = ProgressNotificationParam::new(token.clone(), done)
                .with_total(total)
                .with_message(now.stage.as_str());
            let _ = context.peer.notify_progress(param).await;
        }
        seen = Some(now.stage);
        if now.status.is_final() {
            return Ok(now);
        }
        tokio::time::sleep(tasks::POLL).await;
    }
}

/// The MCP task handle of a Clara task.
fn handle(task: &PublicTask) -> Task {
    Task::new(
        task.id.clone(),
        rmcp::model::TaskStatus::Working,
        rfc3339(&task.created_at),
        rfc3339(&task.updated_at),
    )
    .with_status_message(format!(
        "{} ({})",
        status_word(task.status),
        task.stage.as_str()
    ))
    .with_poll_interval_ms(POLL_INTERVAL_MS)
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Pending => "PENDING",
        Status::Running => "RUNNING",
        Status::Completed => "COMPLETED",
        Status::Failed => "FAILED",
    }
}

/// `tasks/get`: the task from the database, its result inline once it ended.
pub async fn get(app: &App, caller: Caller, task_id: &str) -> Result<DetailedTask, McpError> {
    let task = call(app, caller, "task_view", task_id).await?;
    let payload = match (task.status, task.error.as_deref()) {
        (Status::Pending | Status::Running, _) => TaskPayload::Working,
        (Status::Failed, Some(CANCELLED)) => TaskPayload::Cancelled,
        (Status::Completed | Status::Failed, _) => {
            let result = serde_json::to_value(result(&task)).unwrap_or_default();
            TaskPayload::Completed {
                result: result.as_object().cloned().unwrap_or_default(),
            }
        }
    };
    Ok(DetailedTask::new(handle(&task), payload))
}

/// `tasks/cancel`: cooperative; the next `tasks/get` shows the outcome.
pub async fn cancel(app: &App, caller: Caller, task_id: &str) -> Result<(), McpError> {
    call(app, caller, "task_cancel", task_id).await.map(drop)
}

/// `resources/read` of `clara://tasks/{task_id}`.
pub async fn read(app: &App, caller: Caller, uri: &str) -> Result<ReadResourceResult, McpError> {
    let task_id = uri.strip_prefix(URI_PREFIX).unwrap_or_default();
    let task = call(app, caller, "task_view", task_id).await?;
    let text = serde_json::to_string_pretty(&task).unwrap_or_default();
    Ok(ReadResourceResult::new(vec![
        ResourceContents::TextResourceContents {
            uri: uri.into(),
            mime_type: Some("application/json".into()),
            text,
            meta: None,
        },
    ]))
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{URI_PREFIX}{{task_id}}"), "analysis_task")
            .with_title("Analysis task")
            .with_description(
                "One of your analyses: its status and, once COMPLETED, the verdicts, \
                 per-claim explanations and what was extracted from each file.",
            )
            .with_mime_type("application/json"),
    ]
}

pub fn list_templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult {
        resource_templates: templates(),
        ..Default::default()
    }
}

/// Runs a task operation of the catalog for the caller (rate limit, credential, ownership).
async fn call(
    app: &App,
    caller: Caller,
    name: &str,
    task_id: &str,
) -> Result<PublicTask, McpError> {
    let op = catalog::find(name).expect("task operations are in the catalog");
    let outcome = (op.invoke)(app.clone(), caller, json!({ "task_id": task_id }))
        .await
        .map_err(to_mcp)?;
    serde_json::from_value(outcome.data).map_err(|e| McpError::internal_error(e.to_string(), None))
}

fn to_mcp(err: Error) -> McpError {
    err.log();
    let body = serde_json::to_value(err.body()).ok();
    match err {
        Error::NotFound(_) | Error::InvalidInput(_) | Error::Forbidden => {
            McpError::invalid_params(err.to_string(), body)
        }
        Error::Internal(_) | Error::Unavailable(_) => {
            McpError::internal_error(err.to_string(), body)
        }
        _ => McpError::invalid_request(err.to_string(), body),
    }
}

/// `Thu, 27 Nov 2025 00:39:09 GMT` → `2025-11-27T00:39:09Z`.
fn rfc3339(http_date: &str) -> String {
    let secs = httpdate::parse_http_date(http_date)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_from_http_dates() {
        assert_eq!(
            super::rfc3339("Thu, 27 Nov 2025 00:39:09 GMT"),
            "2025-11-27T00:39:09Z"
        );
        assert_eq!(
            super::rfc3339("Thu, 29 Feb 2024 23:59:59 GMT"),
            "2024-02-29T23:59:59Z"
        );
    }
}
