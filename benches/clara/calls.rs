//! Sections 1–3: MCP tool calls on every lane beside the bare rmcp server and the Python SDK,
//! REST with wrk, and cold start.

use std::process::Command;

use anyhow::{Context, Result, bail};
use rmcp::model::JsonObject;
use serde_json::json;

use crate::{
    Ctx, Plan,
    load::{self, Endpoint, Lane},
    report::{Report, mib, ms, rate},
    servers::{self, Account, Clara, Proc},
};

/// Tools to call, with their arguments.
type Tools = Vec<(&'static str, JsonObject)>;

/// The three Clara tools measured, with their arguments.
fn tools() -> Tools {
    let object = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    vec![
        ("misc_version", object(json!({}))),
        ("misc_health", object(json!({}))),
        (
            "transaction_list",
            object(json!({"limit": 20, "offset": 0})),
        ),
    ]
}

/// The servers of sections 1–3, kept for the sections after (the Clara server and its user).
pub struct Lineup {
    pub clara: Clara,
    pub account: Account,
    clara_endpoint: Endpoint,
    bare: (Proc, Proc),
    python: Option<(Proc, Proc, std::path::PathBuf)>,
    /// RSS of the Clara, bare and Python HTTP servers after setup, before any load.
    idle: Vec<f64>,
}

impl Lineup {
    pub async fn start(ctx: &Ctx) -> Result<Self> {
        let clara = Clara::start(None).await?;
        let account = clara.account(&ctx.http, "bench@example.com").await?;
        clara.credit_entries(&ctx.http, &account.id, 20).await?;
        let clara_endpoint = clara.endpoint(Some(&account));
        let bare = (servers::bare("http").await?, servers::bare("sse").await?);
        let python = match &ctx.python {
            Some(python) => Some((
                servers::python_server(python, "http").await?,
                servers::python_server(python, "sse").await?,
                python.clone(),
            )),
            None => None,
        };
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let mut idle = vec![clara.proc.rss(), bare.0.rss()];
        idle.extend(python.as_ref().map(|(http, _, _)| http.rss()));
        Ok(Self {
            clara,
            account,
            clara_endpoint,
            bare,
            python,
            idle,
        })
    }

    fn bare_endpoint(&self) -> Endpoint {
        Endpoint {
            stdio: Some(servers::bare_stdio()),
            mcp: Some(self.bare.0.url("/mcp")),
            sse: Some(self.bare.1.url("/sse")),
            authorization: None,
        }
    }

    fn python_endpoint(&self) -> Option<Endpoint> {
        self.python.as_ref().map(|(http, sse, python)| Endpoint {
            stdio: Some(servers::python_stdio(python)),
            mcp: Some(http.url("/mcp")),
            sse: Some(sse.url("/sse")),
            authorization: None,
        })
    }

    pub async fn stop(self) -> Clara {
        self.bare.0.stop().await;
        self.bare.1.stop().await;
        if let Some((http, sse, _)) = self.python {
            http.stop().await;
            sse.stop().await;
        }
        self.clara
    }
}

pub fn key(server: &str, tool: &str, lane: Lane, callers: usize) -> String {
    format!("{server}/{tool}/{}/{callers}", lane.label())
}

/// Section 1.
pub async fn mcp_calls(plan: &Plan, ctx: &Ctx, lineup: &Lineup, report: &mut Report) {
    report.section("1. MCP tool calls");
    report.line(format!(
        "Each cell: the callers call one tool back to back for {:.1} s after 5 warm-up calls each \
         (stdio: requests in flight on one process; HTTP and SSE: one session or stream per \
         caller). Latencies in ms. `vs bare` = Clara's rate / the bare rmcp server's; \
         `vs Python` = Clara's rate / the Python SDK server's, same tool, lane and callers.",
        plan.cell.as_secs_f64()
    ));
    report.line("");
    report.header(&[
        "lane",
        "callers",
        "server",
        "tool",
        "calls/s",
        "p50",
        "p99",
        "vs bare",
        "vs Python",
    ]);
    let bare = lineup.bare_endpoint();
    let python = lineup.python_endpoint();
    let mut servers: Vec<(&str, &Endpoint, Tools)> = vec![
        ("clara", &lineup.clara_endpoint, tools()),
        ("bare rmcp", &bare, tools()[..1].to_vec()),
    ];
    if let Some(python) = &python {
        servers.push(("python", python, tools()));
    } else {
        report.line("(Python SDK not installed: its rows are missing.)");
    }
    let lanes = Lane::ALL
        .into_iter()
        .filter(|lane| plan.lane.as_deref().is_none_or(|l| l == lane.flag()));
    for lane in lanes {
        for &callers in &plan.callers {
            let mut rows = Vec::new();
            for (name, endpoint, tools) in &servers {
                let tools = tools
                    .iter()
                    .filter(|(tool, _)| plan.tool.as_deref().is_none_or(|t| t == *tool));
                for (tool, args) in tools {
                    let outcome = load::run(
                        std::slice::from_ref(*endpoint),
                        lane,
                        tool,
                        args,
                        callers,
                        plan.cell,
                        plan.cell_calls,
                        &ctx.http,
                    )
                    .await;
                    let key = key(name, tool, lane, callers);
                    let figures = match outcome {
                        Ok(stats) => {
                            report.set(format!("{key}/rate"), stats.rate());
                            report.set(format!("{key}/p99"), stats.p99);
                            vec![rate(stats.rate()), ms(stats.p50), ms(stats.p99)]
                        }
                        Err(e) => vec![report.failed(&e), "—".into(), "—".into()],
                    };
                    let cells = [
                        lane.label().to_string(),
                        callers.to_string(),
                        name.to_string(),
                        tool.to_string(),
                    ];
                    rows.push((key, cells.into_iter().chain(figures).collect::<Vec<_>>()));
                }
            }
            for (key, mut cells) in rows {
                let ratio = |other: &str| {
                    let (server, rest) = key.split_once('/').unwrap_or_default();
                    let own = report.get(&format!("{key}/rate"));
                    let base = report.get(&format!("{other}/{rest}/rate"));
                    match (server, own, base) {
                        ("clara", Some(own), Some(base)) => format!("{:.2}×", own / base),
                        _ => String::new(),
                    }
                };
                let rest = key
                    .split_once('/')
                    .map(|(_, r)| r.to_string())
                    .unwrap_or_default();
                let versus_bare = if rest.starts_with("misc_version") {
                    ratio("bare rmcp")
                } else {
                    String::new()
                };
                cells.push(versus_bare);
                cells.push(ratio("python"));
                report.row(&cells);
            }
        }
    }
}

/// One wrk run: requests/s, p50, p99 (ms).
fn wrk(
    url: &str,
    authorization: &str,
    connections: usize,
    seconds: u64,
) -> Result<(f64, f64, f64)> {
    let output = Command::new("wrk")
        .args([
            "-t",
            &connections.min(2).to_string(),
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--latency",
            "-H",
            &format!("Authorization: {authorization}"),
            url,
        ])
        .output()
        .context("run wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || text.contains("Non-2xx") {
        bail!(
            "wrk: {}",
            text.lines()
                .filter(|l| l.contains("Non-2xx"))
                .collect::<String>()
        );
    }
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
    };
    let parse_ms = |v: Option<String>| -> f64 {
        let v = v.unwrap_or_default();
        let (number, factor) = if let Some(n) = v.strip_suffix("us") {
            (n, 0.001)
        } else if let Some(n) = v.strip_suffix("ms") {
            (n, 1.0)
        } else if let Some(n) = v.strip_suffix('s') {
            (n, 1000.0)
        } else {
            (v.as_str(), f64::NAN)
        };
        number.trim().parse::<f64>().unwrap_or(f64::NAN) * factor
    };
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    Ok((rps, parse_ms(field("50%")), parse_ms(field("99%"))))
}

/// Section 2.
pub fn rest(plan: &Plan, lineup: &Lineup, report: &mut Report) {
    report.section("2. REST (wrk)");
    let seconds = plan.cell.as_secs().max(1);
    report.line(format!(
        "`wrk -t min(2,c) -c c -d {seconds}s --latency` with the user's API key, every answer 200."
    ));
    report.line("");
    report.header(&["route", "connections", "requests/s", "p50", "p99"]);
    let account = &lineup.account;
    let routes = [
        (
            format!("/users/{}", account.id),
            "GET /api/v1/users/{user_id}",
        ),
        (
            format!("/users/{}/transactions?limit=20&offset=0", account.id),
            "GET …/transactions?limit=20&offset=0",
        ),
    ];
    for (path, label) in routes {
        for &connections in &plan.callers {
            let url = lineup.clara.api(&path);
            match wrk(&url, &account.bearer(), connections, seconds) {
                Ok((rps, p50, p99)) => report.row(&[
                    label.into(),
                    connections.to_string(),
                    rate(rps),
                    ms(p50),
                    ms(p99),
                ]),
                Err(e) => {
                    let cell = report.failed(&e);
                    report.row(&[
                        label.into(),
                        connections.to_string(),
                        cell,
                        "—".into(),
                        "—".into(),
                    ])
                }
            }
        }
    }
}

/// Section 3.
pub async fn cold_start(plan: &Plan, lineup: &Lineup, report: &mut Report) {
    report.section("3. Cold start and idle memory");
    report.line(format!(
        "Spawn → initialize result over stdio, {} runs each (Clara: `clara stdio` on an existing \
         SQLite database, with an API key it resolves at start). Idle RSS: the HTTP server \
         process after its setup (for Clara: one registration and login, whose argon2 memory \
         the allocator has not returned yet; section 4 has a fresh server's), before any load.",
        plan.cold_runs
    ));
    report.line("");
    report.header(&["server", "median", "max", "idle RSS (HTTP server)"]);
    let mut rows = vec![
        ("clara", lineup.clara_endpoint.stdio.clone()),
        ("bare rmcp", Some(servers::bare_stdio())),
    ];
    if let Some((_, _, python)) = &lineup.python {
        rows.push(("python", Some(servers::python_stdio(python))));
    }
    for ((name, command), rss) in rows.into_iter().zip(lineup.idle.iter().copied()) {
        let Some(command) = command else { continue };
        match load::cold_start(&command, plan.cold_runs).await {
            Ok((median, max)) => {
                report.set(format!("{name}/cold"), median);
                report.set(format!("{name}/cold/max"), max);
                report.row(&[name.into(), ms(median), ms(max), mib(rss)]);
            }
            Err(e) => {
                let cell = report.failed(&e);
                report.row(&[name.into(), cell, "—".into(), mib(rss)])
            }
        }
    }
}
