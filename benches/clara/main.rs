//! Clara's benchmark: one command, one report.
//!
//! ```sh
//! cargo bench --bench clara                  # the whole report (~10 minutes), also in target/bench/report.md
//! cargo bench --bench clara -- --smoke       # every section, tiny and quick (CI runs this)
//! cargo bench --bench clara -- --only calls,memory
//! cargo bench --bench clara -- --only calls --lane stdio --tool transaction_list --cell 20
//! ```
//!
//! Sections: `calls` (MCP tool calls on every lane beside a bare rmcp server and the official
//! Python SDK server), `rest` (wrk), `cold` (cold start), `memory`, `login` (login storm),
//! `credits` (contention on SQLite and PostgreSQL), `analysis`, `pair` (two processes on one
//! PostgreSQL). Everything runs on 127.0.0.1 with bounded durations and counts. PostgreSQL:
//! `CLARA_BENCH_DATABASE_URL` (an admin URL; default `postgres://postgres@127.0.0.1:5432/postgres`),
//! where the bench creates and drops its own databases. Python: `BENCH_PYTHON`, or a venv
//! made under `target/bench-venv` on the first full run.

mod bare;
mod calls;
mod load;
mod report;
mod scenarios;
mod servers;

#[allow(dead_code)]
#[path = "../../tests/it/support/media.rs"]
mod media;
#[allow(dead_code)]
#[path = "../../tests/it/support/sse.rs"]
mod sse;

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, Result};
use sqlx::{Connection, Executor, PgConnection};

use crate::{load::Lane, report::Report};

/// How big each section is: the full run, or the smoke run.
pub struct Plan {
    pub smoke: bool,
    /// `--lane stdio|http|stateless|sse` and `--tool NAME`: only those cells of section 1 (for
    /// profiling one of them).
    pub lane: Option<String>,
    pub tool: Option<String>,
    pub cell: Duration,
    pub cell_calls: usize,
    pub callers: Vec<usize>,
    pub cold_runs: usize,
    pub memory_calls: usize,
    pub sessions: usize,
    pub cycles: usize,
    pub settle: Duration,
    pub logins: usize,
    pub login_rounds: usize,
    pub spends: usize,
    pub wav_seconds: u32,
    pub analyses_alone: usize,
    pub analyses_together: usize,
    pub pair_tasks: usize,
    pub pair_mails: usize,
    pub pair_debits: usize,
}

impl Plan {
    fn new(smoke: bool) -> Self {
        if smoke {
            Self {
                smoke,
                lane: None,
                tool: None,
                cell: Duration::from_millis(100),
                cell_calls: 2_000,
                callers: vec![1, 8],
                cold_runs: 2,
                memory_calls: 200,
                sessions: 10,
                cycles: 1,
                settle: Duration::from_secs(1),
                logins: 5,
                login_rounds: 1,
                spends: 40,
                wav_seconds: 5,
                analyses_alone: 1,
                analyses_together: 2,
                pair_tasks: 2,
                pair_mails: 2,
                pair_debits: 10,
            }
        } else {
            Self {
                smoke,
                lane: None,
                tool: None,
                cell: Duration::from_secs(2),
                cell_calls: 200_000,
                callers: vec![1, 8, 64],
                cold_runs: 20,
                memory_calls: 10_000,
                sessions: 500,
                cycles: 2,
                settle: Duration::from_secs(12),
                logins: 50,
                login_rounds: 4,
                spends: 1_000,
                wav_seconds: 180,
                analyses_alone: 10,
                analyses_together: 60,
                pair_tasks: 20,
                pair_mails: 20,
                pair_debits: 200,
            }
        }
    }
}

/// What every section shares.
pub struct Ctx {
    pub http: reqwest::Client,
    pub python: Option<PathBuf>,
    pg_admin: String,
}

/// A PostgreSQL database of the bench's own, dropped at the end.
pub struct Database {
    pub url: String,
    name: String,
    admin: String,
}

impl Ctx {
    pub async fn postgres(&self) -> Result<Database> {
        let mut admin = PgConnection::connect(&self.pg_admin)
            .await
            .with_context(|| format!("PostgreSQL at {}", self.pg_admin))?;
        let name = format!("clara_bench_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await?;
        let (base, _) = self.pg_admin.rsplit_once('/').context("database URL")?;
        Ok(Database {
            url: format!("{base}/{name}"),
            name,
            admin: self.pg_admin.clone(),
        })
    }
}

impl Database {
    pub async fn drop(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.admin).await {
            let _ = admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )))
                .await;
        }
    }
}

const SECTIONS: [&str; 8] = [
    "calls", "rest", "cold", "memory", "login", "credits", "analysis", "pair",
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("bare-server") {
        let port = args.get(2).and_then(|p| p.parse().ok());
        return runtime.block_on(bare::main(args.get(1).map_or("stdio", |m| m), port));
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let smoke = args.iter().any(|a| a == "--smoke");
    let only: Vec<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').map(str::to_string).collect())
        .unwrap_or_else(|| SECTIONS.iter().map(|s| s.to_string()).collect());
    if let Some(unknown) = only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        anyhow::bail!(
            "unknown section {unknown}; sections: {}",
            SECTIONS.join(",")
        );
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mut plan = Plan::new(smoke);
    plan.lane = value("--lane");
    plan.tool = value("--tool");
    if let Some(secs) = value("--cell") {
        plan.cell = Duration::from_secs_f64(secs.parse().context("--cell SECONDS")?);
    }
    runtime.block_on(run(plan, only))
}

async fn run(plan: Plan, only: Vec<String>) -> Result<()> {
    let wants = |s: &str| only.iter().any(|o| o == s);
    let ctx = Ctx {
        http: reqwest::Client::new(),
        python: servers::python(!plan.smoke),
        pg_admin: std::env::var("CLARA_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
    };
    let mut report = Report::default();
    report.line(format!(
        "# Clara benchmark{}",
        if plan.smoke {
            " (smoke run: sizes too small to mean anything)"
        } else {
            ""
        }
    ));
    report.line("");
    report.line(machine());
    let mut failures = Vec::new();

    let lineup = if ["calls", "rest", "cold", "login", "credits"]
        .iter()
        .any(|s| wants(s))
    {
        Some(calls::Lineup::start(&ctx).await?)
    } else {
        None
    };
    if let Some(lineup) = &lineup {
        if wants("calls") {
            calls::mcp_calls(&plan, &ctx, lineup, &mut report).await;
        }
        if wants("rest") {
            calls::rest(&plan, lineup, &mut report);
        }
        if wants("cold") {
            calls::cold_start(&plan, lineup, &mut report).await;
        }
        if wants("login") {
            let outcome =
                scenarios::login_storm(&plan, &ctx, &lineup.clara, &lineup.account, &mut report)
                    .await;
            failures.extend(outcome.err().map(|e| format!("login: {e:#}")));
        }
        if wants("credits") {
            let outcome = scenarios::credits(&plan, &ctx, &lineup.clara, &mut report).await;
            failures.extend(outcome.err().map(|e| format!("credits: {e:#}")));
        }
    }
    if let Some(lineup) = lineup {
        lineup.stop().await.proc.stop().await;
    }
    if wants("memory") {
        let outcome = scenarios::memory(&plan, &ctx, &mut report).await;
        failures.extend(outcome.err().map(|e| format!("memory: {e:#}")));
    }
    if wants("analysis") {
        let outcome = scenarios::analysis(&plan, &ctx, &mut report).await;
        failures.extend(outcome.err().map(|e| format!("analysis: {e:#}")));
    }
    if wants("pair") {
        let outcome = scenarios::two_processes(&plan, &ctx, &mut report).await;
        failures.extend(outcome.err().map(|e| format!("pair: {e:#}")));
    }
    summary(&plan, &mut report);
    targets(&plan, &mut report);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/report.md");
    std::fs::create_dir_all(path.parent().context("report dir")?)?;
    std::fs::write(&path, report.text())?;
    println!("\n(report written to {})", path.display());
    // A smoke run is a check that every measurement works: a failed cell fails it too.
    if plan.smoke {
        failures.extend(report.errors().iter().cloned());
    }
    if !failures.is_empty() {
        anyhow::bail!("sections failed:\n{}", failures.join("\n"));
    }
    Ok(())
}

/// The machine line: CPU model, cores, memory, build profile.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let kib: f64 = m.lines().next()?.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024.0 / 1024.0)
        })
        .unwrap_or(f64::NAN);
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!(
        "Machine: {model}, {cores} cores, {memory:.0} GiB; client and servers share the cores. \
         Clara {} ({profile} build).",
        env!("CARGO_PKG_VERSION")
    )
}

/// Section 1 at a glance: calls/s (p99 ms) per lane and callers, one column per server and tool.
fn summary(plan: &Plan, report: &mut Report) {
    let columns = [
        ("clara", "misc_version"),
        ("clara", "misc_health"),
        ("clara", "transaction_list"),
        ("bare rmcp", "misc_version"),
        ("python", "misc_version"),
    ];
    if report
        .get(&format!(
            "{}/rate",
            calls::key("clara", "misc_version", Lane::Stdio, 1)
        ))
        .is_none()
    {
        return;
    }
    report.section("Summary: MCP calls/s (p99 ms)");
    report.header(&[
        "lane",
        "callers",
        "Clara misc_version",
        "Clara misc_health",
        "Clara transaction_list",
        "bare rmcp",
        "Python SDK",
    ]);
    for lane in Lane::ALL {
        for &callers in &plan.callers {
            let mut cells = vec![lane.label().to_string(), callers.to_string()];
            for (server, tool) in columns {
                let key = calls::key(server, tool, lane, callers);
                cells.push(
                    match (
                        report.get(&format!("{key}/rate")),
                        report.get(&format!("{key}/p99")),
                    ) {
                        (Some(rate), Some(p99)) => {
                            format!("{} ({})", report::rate(rate), report::ms(p99))
                        }
                        _ => "—".into(),
                    },
                );
            }
            report.row(&cells);
        }
    }
}

/// The issue's targets against this run's figures.
fn targets(plan: &Plan, report: &mut Report) {
    report.section("Targets");
    report.header(&["target", "measured", "met"]);
    let check = |report: &mut Report, target: String, measured: Option<(String, bool)>| {
        let (value, met) = measured.unwrap_or(("not measured".into(), false));
        let met = if met { "yes" } else { "no" };
        report.row(&[target, value, met.into()]);
    };
    // own / base ≥ min, for one tool pair on one lane and number of callers.
    let ratio = |report: &mut Report,
                 target: String,
                 own: (&str, &str),
                 base: (&str, &str),
                 lane,
                 c,
                 min: f64| {
        let rate = |(server, tool): (&str, &str)| {
            report.get(&format!("{}/rate", calls::key(server, tool, lane, c)))
        };
        let value = rate(own)
            .zip(rate(base))
            .map(|(o, b)| (format!("{:.2}×", o / b), o >= min * b));
        check(
            report,
            format!("{target}, {}, {c} caller(s)", lane.label()),
            value,
        );
    };
    let version = ("clara", "misc_version");
    let callers: Vec<usize> = plan.callers.iter().copied().filter(|&c| c <= 8).collect();
    for lane in Lane::ALL {
        for &c in &callers {
            let bare = ("bare rmcp", "misc_version");
            ratio(
                report,
                "misc_version ≥ 0.9× bare rmcp".into(),
                version,
                bare,
                lane,
                c,
                0.9,
            );
        }
    }
    for (lane, factor) in [
        (Lane::Http, 4.0),
        (Lane::Stateless, 4.0),
        (Lane::Stdio, 10.0),
    ] {
        for &c in &callers {
            let python = ("python", "misc_version");
            ratio(
                report,
                format!("misc_version ≥ {factor}× Python"),
                version,
                python,
                lane,
                c,
                factor,
            );
        }
    }
    for lane in Lane::ALL {
        for &c in &plan.callers {
            let list = ("clara", "transaction_list");
            ratio(
                report,
                "transaction_list ≥ 0.5× misc_version".into(),
                list,
                version,
                lane,
                c,
                0.5,
            );
        }
    }
    for tool in ["misc_version", "misc_health", "transaction_list"] {
        let p99 = report.get(&format!(
            "{}/p99",
            calls::key("clara", tool, Lane::Stdio, 1)
        ));
        check(
            report,
            format!("stdio p99 < 1 ms at 1 caller ({tool})"),
            p99.map(|v| (format!("{} ms", report::ms(v)), v < 1.0)),
        );
    }
    let cold = report.get("clara/cold");
    check(
        report,
        "cold start < 10 ms (median)".into(),
        cold.map(|v| (format!("{} ms", report::ms(v)), v < 10.0)),
    );
    let idle = report.get("memory/idle");
    check(
        report,
        "idle RSS < 20 MB".into(),
        idle.map(|v| (report::mib(v), v * 1.048_576 < 20.0)),
    );
    let calls = report.get("memory/calls");
    check(
        report,
        "RSS < 40 MB after 10,000 calls".into(),
        calls.map(|v| (report::mib(v), v * 1.048_576 < 40.0)),
    );
    let closed = report.get("memory/closed");
    check(
        report,
        "back near idle after the sessions close (≤ after-calls + 10 MiB)".into(),
        closed
            .zip(calls)
            .map(|(c, a)| (report::mib(c), c <= a + 10.0)),
    );
    let storm = report.get("storm/health/p99");
    check(
        report,
        "misc_health p99 < 5 ms during the login storm".into(),
        storm.map(|v| (format!("{} ms", report::ms(v)), v < 5.0)),
    );
    let pair = report.get("pair/ratio");
    check(
        report,
        "two processes ≥ 1.6× one (transaction_list)".into(),
        pair.map(|v| (format!("{v:.2}×"), v >= 1.6)),
    );
    let intact = report.get("pair/intact");
    check(
        report,
        "two processes: nothing lost or doubled".into(),
        intact.map(|v| ("checked".into(), v == 1.0)),
    );
}
