//! The analysis workers: `CLARA_AGENT_WORKERS` loops per process, each claiming the oldest open
//! task with a lease, running the engine on it within the time limit while renewing the lease
//! and recording its stage, and ending it once: COMPLETED with the result, or FAILED with the
//! reason and a refund. A task whose process died is taken again when its lease runs out; one
//! that was interrupted [`MAX_ATTEMPTS`] times fails (refunded) instead of looping.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::tasks::{CANCELLED, end_failed};
use crate::{
    analysis::{Analysis, EngineError, File, Input, Kind, Progress, Verdict},
    app::App,
    crypto,
    error::{Error, Result},
    store::tasks::{self, TaskRow},
};

/// Runs of one task before it is given up on.
pub const MAX_ATTEMPTS: i64 = 3;
/// How often an idle worker looks for work that another process created.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Starts this process's workers; they stop when the app shuts down.
pub fn start(app: &App) {
    let process = crypto::new_id("worker");
    for n in 0..app.config().agent_workers {
        let worker = Worker {
            app: app.clone(),
            owner: format!("{process}-{n}"),
        };
        tokio::spawn(worker.run());
    }
}

struct Worker {
    app: App,
    owner: String,
}

/// How one run of a task ended.
enum Ended {
    Done(Box<Analysis>),
    Failed(String),
    /// The lease was lost: the task is someone else's now.
    Abandoned,
    /// The process is stopping: the task goes back to PENDING for the next worker.
    Stopping,
}

impl Worker {
    async fn run(self) {
        let stop = self.app.shutdown_token().clone();
        loop {
            if stop.is_cancelled() {
                return;
            }
            match self.claim().await {
                Ok(Some(task)) => {
                    if let Err(err) = self.run_task(task).await {
                        err.log();
                    }
                    continue;
                }
                Ok(None) => {}
                Err(err) => err.log(),
            }
            let jitter = Duration::from_millis(rand::random_range(0..500));
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.app.new_task().notified() => {}
                () = tokio::time::sleep(IDLE_POLL + jitter) => {}
            }
        }
    }

    fn lease(&self) -> i64 {
        self.app.config().agent_lease_secs
    }

    async fn claim(&self) -> Result<Option<TaskRow>> {
        let store = self.app.store();
        let mut conn = store.conn().await?;
        let now = self.app.now();
        tasks::claim(
            &mut conn,
            store.backend(),
            &self.owner,
            now,
            now + self.lease(),
        )
        .await
    }

    async fn run_task(&self, row: TaskRow) -> Result<()> {
        let id = row.id.as_str();
        if row.attempts > MAX_ATTEMPTS {
            let reason = format!("the analysis was interrupted {MAX_ATTEMPTS} times");
            end_failed(&self.app, id, Some(&self.owner), &reason).await?;
            return Ok(());
        }
        let files = {
            let mut conn = self.app.store().conn().await?;
            tasks::attachments(&mut conn, id).await?
        };
        let input = Input {
            text: row.input_text.clone(),
            files: files
                .into_iter()
                .filter_map(|f| {
                    Some(File {
                        kind: Kind::parse(&f.kind)?,
                        name: f.name,
                        bytes: f.content.into(),
                    })
                })
                .collect(),
        };
        tracing::info!(task = id, attempt = row.attempts, "analysis started");
        match self.analyse(id, &input).await {
            Ended::Done(analysis) => {
                let json = serde_json::to_string(&analysis).map_err(Error::internal)?;
                let mut conn = self.app.store().conn().await?;
                if tasks::complete(&mut conn, id, &self.owner, &json, self.app.now()).await? {
                    tracing::info!(task = id, "analysis completed");
                }
            }
            Ended::Failed(reason) => {
                if end_failed(&self.app, id, Some(&self.owner), &reason).await? {
                    tracing::info!(task = id, %reason, "analysis failed, refunded");
                }
            }
            Ended::Abandoned => tracing::info!(task = id, "analysis left to another worker"),
            Ended::Stopping => {
                let mut conn = self.app.store().conn().await?;
                tasks::release(&mut conn, id, &self.owner).await?;
                tracing::info!(task = id, "analysis put back: the server is stopping");
            }
        }
        Ok(())
    }

    /// Runs the engine beside a heartbeat that renews the lease, records the stage and
    /// watches for cancellation.
    async fn analyse(&self, id: &str, input: &Input) -> Ended {
        let (progress, mut stages) = Progress::new();
        let engine = self.app.engine();
        let timeout = self.app.config().agent_timeout;
        let work = tokio::time::timeout(timeout, engine.analyse(input, &progress));
        let stop = CancellationToken::new();
        let heartbeat = async {
            let beat = Duration::from_secs((self.lease() / 3).max(1) as u64);
            loop {
                let stage = *stages.borrow_and_update();
                let now = self.app.now();
                let renewed = async {
                    let mut conn = self.app.store().conn().await?;
                    tasks::renew(
                        &mut conn,
                        id,
                        &self.owner,
                        stage.as_str(),
                        now,
                        now + self.lease(),
                    )
                    .await
                };
                match renewed.await {
                    Ok(None) => return Ended::Abandoned,
                    Ok(Some(true)) => return Ended::Failed(CANCELLED.into()),
                    Ok(Some(false)) => {}
                    Err(err) => err.log(),
                }
                tokio::select! {
                    _ = stages.changed() => {}
                    () = tokio::time::sleep(beat) => {}
                    () = stop.cancelled() => return Ended::Abandoned,
                }
            }
        };
        let shutdown = self.app.shutdown_token();
        tokio::select! {
            outcome = work => {
                stop.cancel();
                match outcome {
                    Ok(Ok(analysis)) => match checked(analysis) {
                        Ok(analysis) => Ended::Done(Box::new(analysis)),
                        Err(EngineError(why)) => Ended::Failed(why),
                    },
                    Ok(Err(EngineError(why))) => Ended::Failed(why),
                    Err(_) => Ended::Failed(format!(
                        "the analysis took longer than {} s",
                        timeout.as_secs()
                    )),
                }
            }
            ended = heartbeat => ended,
            () = shutdown.cancelled() => Ended::Stopping,
        }
    }
}

/// What an engine returns is checked before it is stored: confidences within 0–1, and the
/// overall verdict consistent with the claims (labels are a closed enum already).
fn checked(mut analysis: Analysis) -> std::result::Result<Analysis, EngineError> {
    let valid = |c: f64| c.is_finite() && (0.0..=1.0).contains(&c);
    if !valid(analysis.confidence) || analysis.claims.iter().any(|c| !valid(c.confidence)) {
        return Err(EngineError(
            "the engine returned a confidence outside 0–1".into(),
        ));
    }
    if analysis.claims.is_empty() && analysis.verdict != Verdict::NotEnoughEvidence {
        analysis.verdict = Verdict::NotEnoughEvidence;
    }
    Ok(analysis)
}
