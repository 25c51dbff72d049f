//! The agent: what it accepts (Supported Attachments) and Analysis, which checks the request
//! completely, then charges the cost and creates the task in one transaction, so a refused
//! request is never charged and a charge never lacks its task. The task runs later, on a
//! worker (`services::analysis`).

use std::collections::BTreeMap;

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    auth::{Actor, require_active},
    credits::{self, Entry},
    tasks::{PublicTask, Status},
};
use crate::{
    analysis::{
        Stage,
        kinds::{self, Kind},
    },
    app::App,
    crypto::{self, http_date},
    error::{Error, Result},
    store::tasks::{self, AttachmentRow},
};

/// Longest `text`, in characters.
pub const MAX_TEXT_CHARS: usize = 50_000;

/// What one kind of attachment may be.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct KindLimits {
    /// The accepted extensions, e.g. `.jpg`.
    pub extensions: Vec<String>,
    /// The largest file of this kind, in bytes.
    pub max_bytes: u64,
}

/// The attachments the agent processes, by kind, and the limits of one request.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SupportedAttachments {
    pub audio: KindLimits,
    pub document: KindLimits,
    pub image: KindLimits,
    pub pdf: KindLimits,
    pub video: KindLimits,
    /// At most this many files per analysis.
    pub max_files: usize,
    /// Images over this many pixels are not processed.
    pub max_image_pixels: u64,
    /// The most `text` may hold, in characters.
    pub max_text_chars: usize,
    /// What one analysis costs, in credits.
    pub cost_in_credits: crate::model::Credits,
}

/// Supported Attachments takes only the optional `user_id`.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportedInput {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
}

pub async fn supported(
    app: &App,
    actor: &Actor,
    input: SupportedInput,
) -> Result<SupportedAttachments> {
    actor.target_user(app, input.user_id.as_deref()).await?;
    let limits = |kind: Kind| KindLimits {
        extensions: kinds::extensions(kind),
        max_bytes: kind.max_bytes(),
    };
    Ok(SupportedAttachments {
        audio: limits(Kind::Audio),
        document: limits(Kind::Document),
        image: limits(Kind::Image),
        pdf: limits(Kind::Pdf),
        video: limits(Kind::Video),
        max_files: kinds::MAX_FILES,
        max_image_pixels: kinds::MAX_IMAGE_PIXELS,
        max_text_chars: MAX_TEXT_CHARS,
        cost_in_credits: app.config().analysis_cost,
    })
}

/// One attached file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// The file name with its extension, e.g. `photo.jpg` (the kind is checked against the
    /// content).
    pub name: String,
    /// The file's bytes, base64 (standard alphabet, padded).
    pub content_base64: String,
}

/// What to analyse: a claim, a question, a link or a post, and up to five files.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    {"required": ["text"], "properties": {"text": {"pattern": "\\S"}}},
    {"required": ["attachments"], "properties": {"attachments": {"minItems": 1}}}
]))]
pub struct AnalysisRequest {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The claim, question, link or post to check, at most 50,000 characters. Needed unless
    /// a file is attached.
    #[serde(default)]
    #[schemars(length(max = 50_000))]
    pub text: Option<String>,
    /// Up to 5 files (see agent_supported_attachments for kinds and sizes).
    #[serde(default)]
    #[schemars(length(max = 5))]
    pub attachments: Vec<Attachment>,
    /// MCP only: wait for the analysis to end and return it, with progress notifications
    /// when a progress token is given (default false: return the created task at once). A
    /// cancelled wait leaves the task running.
    #[serde(default)]
    pub wait: Option<bool>,
}

pub async fn analysis(app: &App, actor: &Actor, input: AnalysisRequest) -> Result<PublicTask> {
    let user = actor.target_user(app, input.user_id.as_deref()).await?;
    require_active(&user)?;
    let text = input.text.as_deref().unwrap_or("").trim().to_string();
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::invalid(format!(
            "text must be at most {MAX_TEXT_CHARS} characters"
        )));
    }
    let files = checked_files(&input.attachments)?;
    if text.is_empty() && files.is_empty() {
        return Err(Error::invalid(
            "give a text (a claim, question, link or post) or at least one file",
        ));
    }
    let id = crypto::new_id("task");
    let cost = app.config().analysis_cost;
    let at = app.now();
    let mut tx = app.store().begin().await?;
    let charge = Entry::debit(cost, format!("Analysis {id}.")).key(format!("charge:{id}"));
    credits::record(app, &mut tx, &user.id, &charge).await?;
    tasks::insert(
        &mut tx,
        &id,
        user.id.as_str(),
        &text,
        cost.hundredths(),
        &files,
        at,
    )
    .await?;
    tx.commit().await?;
    app.new_task().notify_one();
    // The task as created: a worker may already hold it, but this answer is the creation.
    Ok(PublicTask {
        created_at: http_date(at),
        error: None,
        id: id.clone(),
        result: None,
        stage: Stage::Queued,
        status: Status::Pending,
        updated_at: http_date(at),
        user_id: user.id.to_string(),
    })
}

/// Every file checked (count, name, base64, extension, content, size), or the first failure
/// as the documented 400 naming the file.
fn checked_files(attachments: &[Attachment]) -> Result<Vec<AttachmentRow>> {
    if attachments.len() > kinds::MAX_FILES {
        return Err(Error::BadAttachment {
            file: attachments[kinds::MAX_FILES].name.clone(),
            reason: format!(
                "is one file too many: at most {} files per analysis ({} were sent)",
                kinds::MAX_FILES,
                attachments.len()
            ),
        });
    }
    let mut seen = BTreeMap::new();
    attachments
        .iter()
        .map(|file| {
            let bad = |reason: String| Error::BadAttachment {
                file: file.name.clone(),
                reason,
            };
            let name = file.name.trim();
            if name.is_empty() || name.chars().count() > 255 {
                return Err(bad("needs a file name of 1 to 255 characters".into()));
            }
            if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
                return Err(bad("has a path or a control character in its name".into()));
            }
            if seen.insert(name.to_lowercase(), ()).is_some() {
                return Err(bad("is attached twice".into()));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(file.content_base64.trim())
                .map_err(|_| bad("is not valid base64".into()))?;
            let kind = kinds::check(name, &bytes).map_err(bad)?;
            Ok(AttachmentRow {
                name: name.to_string(),
                kind: kind.as_str().to_string(),
                content: bytes,
            })
        })
        .collect()
}
