//! The outbox worker: delivers due mail, retries failures with exponential backoff (1 s, 2 s,
//! 4 s … capped at 10 minutes), and resumes after a restart because the queue is the database.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Mailer;
use crate::{clock::Clock, store::Store, store::outbox};

const BATCH: i64 = 20;
/// How long a claimed mail is reserved for the worker delivering it (SMTP times out sooner).
const LEASE_SECS: i64 = 60;
const MAX_BACKOFF_SECS: i64 = 600;
/// After this many failed attempts (about twelve hours of retrying) a mail is set aside.
pub const MAX_ATTEMPTS: i64 = 80;
/// How often the worker looks at the queue when nobody wakes it.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// What the worker needs: the queue, the transport, the time.
#[derive(Debug, Clone)]
pub struct Worker {
    pub store: Store,
    pub mailer: Mailer,
    pub clock: Clock,
}

/// Runs until `stop` is cancelled.
pub async fn run(worker: Worker, stop: CancellationToken) {
    let app = &worker;
    loop {
        let sleep_for = match deliver_due(app).await {
            Ok(delay) => delay,
            Err(err) => {
                tracing::warn!(error = %err, "mail outbox unavailable");
                IDLE_POLL
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = app.mailer.notified() => {}
            () = tokio::time::sleep(sleep_for) => {}
        }
    }
}

/// Sends what is due; returns how long to sleep before the next pending attempt.
async fn deliver_due(app: &Worker) -> crate::error::Result<Duration> {
    loop {
        let batch = {
            let mut conn = app.store.conn().await?;
            outbox::due(&mut conn, app.clock.now(), BATCH).await?
        };
        if batch.is_empty() {
            break;
        }
        for mail in &batch {
            {
                let mut conn = app.store.conn().await?;
                if !outbox::claim(
                    &mut conn,
                    &mail.id,
                    app.clock.now(),
                    app.clock.now() + LEASE_SECS,
                )
                .await?
                {
                    continue; // another process took it
                }
            }
            let result = app.mailer.deliver(mail).await;
            let mut conn = app.store.conn().await?;
            match result {
                Ok(()) => {
                    tracing::info!(mail = %mail.id, "mail delivered");
                    outbox::mark_sent(&mut conn, &mail.id, app.clock.now()).await?;
                }
                Err(failure) if failure.permanent || mail.attempts + 1 >= MAX_ATTEMPTS => {
                    let reason = format!("{:#}", failure.error);
                    tracing::error!(mail = %mail.id, attempts = mail.attempts + 1, error = %reason, "mail set aside: it cannot be delivered");
                    outbox::mark_dead(&mut conn, &mail.id, &reason, app.clock.now()).await?;
                }
                Err(failure) => {
                    let reason = format!("{:#}", failure.error);
                    let backoff = (1i64 << mail.attempts.min(20)).min(MAX_BACKOFF_SECS);
                    tracing::warn!(mail = %mail.id, attempt = mail.attempts + 1, retry_in_s = backoff, error = %reason, "mail delivery failed");
                    let retry_at = app.clock.now() + backoff;
                    outbox::mark_failed(&mut conn, &mail.id, &reason, retry_at).await?;
                }
            }
        }
        if (batch.len() as i64) < BATCH {
            break;
        }
    }
    let mut conn = app.store.conn().await?;
    Ok(match outbox::next_due(&mut conn).await? {
        Some(at) => Duration::from_secs((at - app.clock.now()).clamp(0, 5) as u64)
            .max(Duration::from_millis(200)),
        None => IDLE_POLL,
    })
}
