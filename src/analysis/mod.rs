//! The analysis engines: what an engine is given ([`Input`]), what it reports ([`Stage`]) and
//! what it returns ([`Analysis`], the result format of the contract's §4); the attachment kinds
//! and their checks ([`kinds`]); the extraction every engine starts from ([`extract`]); and the
//! offline engine ([`offline`]), the default. Infrastructure: knows nothing of tasks, credits or
//! adapters; the analysis workers in `services` run an engine and store what it returns.

pub mod claims;
pub mod extract;
pub mod kinds;
pub mod llm;
pub mod offline;

use std::{future::Future, pin::Pin};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use kinds::Kind;

/// The AVeriTeC label set: the only verdicts a result may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// The evidence supports the claim.
    Supported,
    /// The evidence contradicts the claim.
    Refuted,
    /// There is not enough evidence to decide (the offline engine's only verdict).
    NotEnoughEvidence,
    /// The evidence points both ways, or the claim is cherry-picked.
    ConflictingEvidence,
}

/// A source's position on a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stance {
    Supports,
    Refutes,
    Neutral,
}

/// One piece of evidence: a page the retrieval step returned and a quote found in its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    pub url: String,
    pub title: String,
    pub quote: String,
    pub stance: Stance,
}

/// One atomic, check-worthy claim and what was concluded about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimResult {
    /// The claim, as taken from the input.
    pub text: String,
    pub verdict: Verdict,
    /// How sure the engine is of this verdict, 0 to 1.
    pub confidence: f64,
    /// Why this verdict.
    pub explanation: String,
    /// Sources, each one the retrieval step returned (empty when nothing was retrieved).
    pub evidence: Vec<Evidence>,
}

/// A fact the attached files themselves support (an EXIF date, a GPS position, an edit
/// tag), reported beside the verdicts and never turned into one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// The file it comes from.
    pub file: String,
    /// What kind of fact: `exif_date`, `date_mismatch`, `gps`, `editing_software`, `media`.
    pub kind: String,
    /// The fact, in a sentence.
    pub text: String,
}

/// The result of an analysis (contract §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Analysis {
    /// The verdict on the input as a whole.
    pub verdict: Verdict,
    /// 0 to 1.
    pub confidence: f64,
    /// What was done, found and concluded, in a few sentences.
    pub summary: String,
    /// Per claim.
    pub claims: Vec<ClaimResult>,
    /// What was extracted from each attached file.
    pub attachments: Vec<extract::Extraction>,
    /// Facts the files themselves support.
    pub observations: Vec<Observation>,
    /// Links found in the text, and whether they were read.
    pub links: Vec<Link>,
    /// Which engine produced this result: `offline` or `llm`.
    pub engine: String,
    /// The language model used, if any.
    pub model: Option<String>,
    /// The web searches made (empty when nothing was retrieved).
    pub queries: Vec<String>,
    /// Whether any web retrieval took place.
    pub retrieval: bool,
    /// Citations the engine made that could not be traced to a retrieved page (the URL was
    /// not retrieved, or the quote is not in its text): dropped before the result was stored.
    #[serde(default)]
    pub evidence_dropped: u32,
}

/// A link found in the input text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Link {
    pub url: String,
    /// Whether its page was fetched and read.
    pub fetched: bool,
    /// Why it was not, when it was not.
    pub note: Option<String>,
}

/// Where an analysis is; reported as task progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Queued,
    Extracting,
    Retrieving,
    Verifying,
    Done,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Self::Queued,
        Self::Extracting,
        Self::Retrieving,
        Self::Verifying,
        Self::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Extracting => "extracting",
            Self::Retrieving => "retrieving",
            Self::Verifying => "verifying",
            Self::Done => "done",
        }
    }

    pub fn parse(text: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .unwrap_or(Self::Queued)
    }

    /// Progress through the pipeline as (steps done, steps in all): 0 of 4 queued … 4 of 4 done.
    pub fn progress(self) -> (f64, f64) {
        let step = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        (step as f64, (Self::ALL.len() - 1) as f64)
    }
}

/// One attached file, checked ([`kinds::check`]) before the task was created.
#[derive(Debug, Clone)]
pub struct File {
    pub name: String,
    pub kind: Kind,
    /// Shared, so handing the file to an extraction thread or a media reader copies nothing.
    pub bytes: bytes::Bytes,
}

/// What an engine analyses.
#[derive(Debug, Clone)]
pub struct Input {
    pub text: String,
    pub files: Vec<File>,
}

/// Where an engine reports its stage; the worker stores it with the task.
#[derive(Debug, Clone)]
pub struct Progress(watch::Sender<Stage>);

impl Progress {
    pub fn new() -> (Self, watch::Receiver<Stage>) {
        let (tx, rx) = watch::channel(Stage::Queued);
        (Self(tx), rx)
    }
    pub fn report(&self, stage: Stage) {
        self.0.send_replace(stage);
    }
}

/// Why an engine gave up. The task fails with this reason and is refunded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(pub String);

pub type EngineFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Analysis, EngineError>> + Send + 'a>>;

/// An analysis engine. Dropping the future cancels the analysis.
pub trait Engine: Send + Sync + std::fmt::Debug + 'static {
    /// `offline` or `llm`.
    fn name(&self) -> &'static str;
    fn analyse<'a>(&'a self, input: &'a Input, progress: &'a Progress) -> EngineFuture<'a>;
}
