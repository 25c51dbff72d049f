//! The agent and its tasks: Supported Attachments, Analysis (a credit-charged task), and the
//! task list and view.

use http::StatusCode;

use super::{Accepts, Body, Contract, Effect, Hints, Operation, RestData};
use crate::{
    app::App,
    error::Result,
    services::{
        UserPage,
        agent::{self, AnalysisRequest, SupportedAttachments, SupportedInput},
        auth::Actor,
        tasks::{self, PublicTask, TaskRef, Tasks},
    },
};

const READERS: Accepts = Accepts::USER_TOKEN
    .or(Accepts::API_KEY)
    .or(Accepts::PRIVATE_KEY);

pub struct Supported;
impl Operation for Supported {
    const CONTRACT: Contract = Contract {
        name: "agent_supported_attachments",
        title: "Supported attachments",
        description: "The files agent_analysis accepts, by kind (audio, document, image, pdf, \
            video): extensions and the largest size of each, the most files per analysis, and \
            what one analysis costs.",
        accepts: READERS,
        hints: Hints::READ_ONLY,
        message: "Supported attachments fetched successfully.",
        ..Contract::get("/users/{user_id}/agent/supported_attachments")
    };
    type In = SupportedInput;
    type Out = SupportedAttachments;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<SupportedAttachments> {
        agent::supported(app, actor, input).await
    }
}

pub struct Analysis;
impl Operation for Analysis {
    const CONTRACT: Contract = Contract {
        name: "agent_analysis",
        title: "Fact-check a claim",
        description: "Fact-check a claim, question, link or post, with up to 5 attached files \
            (base64). Costs credits (see agent_supported_attachments), refunded if the analysis \
            fails. Creates a task and returns it; the result arrives in the task (task_view, \
            or the clara://tasks/{task_id} resource). With wait=true the call returns the \
            finished task and reports progress; clients that support MCP Tasks get a task to \
            poll instead.",
        accepts: Accepts::USER_TOKEN.or(Accepts::API_KEY),
        hints: Hints::WRITE.open_world(),
        body: Body::Multipart,
        status: StatusCode::CREATED,
        message: "Task created successfully.",
        effect: Effect::Task,
        ..Contract::post("/users/{user_id}/agent/analysis")
    };
    type In = AnalysisRequest;
    type Out = PublicTask;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<PublicTask> {
        agent::analysis(app, actor, input).await
    }
}

pub struct List;
impl Operation for List {
    const CONTRACT: Contract = Contract {
        name: "task_list",
        title: "List analysis tasks",
        description: "The caller's analyses, newest first, with their status and results. \
            Page with limit (1-100, default 20) and offset.",
        accepts: READERS,
        hints: Hints::READ_ONLY,
        message: "Tasks fetched successfully.",
        rest_data: RestData::Items,
        ..Contract::get("/users/{user_id}/tasks")
    };
    type In = UserPage;
    type Out = Tasks;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<Tasks> {
        tasks::list(app, actor, input).await
    }
}

pub struct View;
impl Operation for View {
    const CONTRACT: Contract = Contract {
        name: "task_view",
        title: "View analysis task",
        description: "One analysis: PENDING, RUNNING, COMPLETED (result holds the verdicts, \
            per-claim explanations, evidence, what was extracted from each file) or FAILED \
            (error says why; the cost was refunded).",
        accepts: READERS,
        hints: Hints::READ_ONLY,
        message: "Task fetched successfully.",
        ..Contract::get("/users/{user_id}/tasks/{task_id}")
    };
    type In = TaskRef;
    type Out = PublicTask;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<PublicTask> {
        tasks::view(app, actor, input).await
    }
}

pub struct Cancel;
impl Operation for Cancel {
    const CONTRACT: Contract = Contract {
        name: "task_cancel",
        title: "Cancel analysis task",
        description: "Stop an analysis that has not ended: it ends FAILED with the error \
            `cancelled` and its cost is refunded. A task that has ended is left as it is.",
        accepts: Accepts::USER_TOKEN.or(Accepts::API_KEY),
        hints: Hints::DESTRUCTIVE.idempotent(),
        message: "Task cancelled successfully.",
        ..Contract::delete("/users/{user_id}/tasks/{task_id}")
    };
    type In = TaskRef;
    type Out = PublicTask;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<PublicTask> {
        tasks::cancel(app, actor, input).await
    }
}
