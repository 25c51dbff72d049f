//! `clara`: parse the command line, set up logging, dispatch.

use clara::{
    app::App,
    config::{BillingCommand, Cli, Command},
    schemas, server,
    services::billing,
    telemetry,
};

/// jemalloc with background threads purges freed pages after a short decay, so memory that a
/// burst of sessions used goes back to the system once they close (glibc kept it).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse_args();
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Serve(settings) => {
            let app = App::build(&settings).await?;
            let listener = tokio::net::TcpListener::bind(settings.bind).await?;
            tracing::info!(addr = %listener.local_addr()?, "clara listening: REST /api/v1, MCP /mcp and /sse");
            server::serve(app.clone(), listener, shutdown_signal()).await?;
            app.store().close().await;
        }
        Command::Stdio(settings) => {
            let app = App::build(&settings).await?;
            let (key, user) = (settings.api_key, settings.user_id);
            server::stdio(app.clone(), key, user, shutdown_signal()).await?;
            app.store().close().await;
        }
        Command::Migrate(settings) => {
            App::build(&settings).await?;
            tracing::info!("migrations applied");
        }
        Command::Billing(BillingCommand::Reconcile { since, settings }) => {
            let app = App::build(&settings).await?;
            let report = billing::reconcile(&app, since)
                .await
                .map_err(|e| anyhow::anyhow!("reconcile: {e}"))?;
            for (session, user, credits) in &report.credited {
                println!("credited {credits} credits to {user} for {session}");
            }
            println!(
                "{} complete sessions: {} credited now, {} already credited, {} not paid yet",
                report.sessions,
                report.credited.len(),
                report.already,
                report.unpaid
            );
            app.store().close().await;
        }
        Command::Schemas { check: false, dir } => schemas::write(&dir)?,
        Command::Schemas { check: true, dir } => {
            let drift = schemas::drift(&dir)?;
            anyhow::ensure!(
                drift.is_empty(),
                "schemas are out of date ({}); run `clara schemas`",
                drift.join(", ")
            );
        }
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}
