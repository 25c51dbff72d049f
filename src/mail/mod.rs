//! Mail: every mail is first a row in the durable `outbox` table (written in the same
//! transaction as whatever caused it); the [`worker`] delivers it through lettre, over SMTP
//! when `CLARA_SMTP_URL` is set, else as an `.eml` file in `$CLARA_DATA_DIR/outbox/`.

pub mod templates;
pub mod worker;

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};
use tokio::sync::Notify;

pub use templates::Mail;

use crate::store::outbox::MailRow;

/// Where mail goes.
#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// Delivers queued mail. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// Wakes the worker when new mail is queued.
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.transport {
            Transport::Smtp(_) => "smtp".to_string(),
            Transport::Files(dir) => format!("files:{}", dir.display()),
        };
        f.debug_struct("Mailer")
            .field("transport", &kind)
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// Why a delivery failed, and whether a retry could succeed.
#[derive(Debug)]
pub struct Failure {
    pub permanent: bool,
    pub error: anyhow::Error,
}

/// Writes `dir/<id>.eml` readable by the owner only (it may hold a code), atomically: the
/// bytes go to a temporary file beside the directory, which is then renamed into it, so a
/// reader never sees a half-written mail.
async fn write_private(dir: &std::path::Path, id: &str, bytes: &[u8]) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    crate::secrets::private_dir(dir)?;
    let path = dir.join(format!("{id}.eml"));
    let temporary = dir.with_file_name(format!(".outbox-{id}.tmp"));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .await
        .with_context(|| format!("writing {}", temporary.display()))?;
    file.write_all(bytes).await?;
    file.sync_all().await?;
    tokio::fs::rename(&temporary, &path)
        .await
        .with_context(|| format!("moving the mail to {}", path.display()))?;
    Ok(())
}

impl Mailer {
    /// SMTP when `smtp_url` is given (`smtp://user:pass@host:port`, `smtps://…`; STARTTLS or TLS
    /// per URL), else files in `outbox_dir`.
    pub fn new(smtp_url: Option<&str>, from: &str, outbox_dir: PathBuf) -> anyhow::Result<Self> {
        let from: Mailbox = from
            .parse()
            .context("CLARA_MAIL_FROM is not a valid mailbox")?;
        let transport = match smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("CLARA_SMTP_URL is not a valid SMTP URL")?
                    .timeout(Some(Duration::from_secs(10)))
                    .build(),
            ),
            None => Transport::Files(outbox_dir),
        };
        Ok(Self {
            transport,
            from,
            wake: Arc::new(Notify::new()),
        })
    }

    /// Tells the worker that mail is waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn notified(&self) -> impl std::future::Future<Output = ()> + '_ {
        self.wake.notified()
    }

    /// Delivers one mail now. A failure says whether trying again could help.
    pub async fn deliver(&self, mail: &MailRow) -> Result<(), Failure> {
        let permanent = |e: anyhow::Error| Failure {
            permanent: true,
            error: e,
        };
        let recipient = mail.recipient.parse().context("recipient address");
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient.map_err(permanent)?)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                mail.text_body.clone(),
                mail.html_body.clone(),
            ))
            .context("building the message")
            .map_err(permanent)?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(|e| Failure {
                // A 5xx answer (no such mailbox, refused) will not change on a retry.
                permanent: e.is_permanent(),
                error: anyhow::Error::new(e).context("SMTP delivery"),
            }),
            Transport::Files(dir) => write_private(dir, &mail.id, &message.formatted())
                .await
                .map_err(|error| Failure {
                    permanent: false,
                    error,
                }),
        }
    }
}
