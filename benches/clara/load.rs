//! The load generator: rmcp's own client (Rust, so the client is not the bottleneck) over the
//! four lanes, N callers each running calls back to back for a fixed time.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use rmcp::{
    ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt,
    model::{CallToolRequestParams, JsonObject, ProtocolVersion},
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

use crate::servers::StdioCommand;

pub type Client = RunningService<RoleClient, ()>;

/// How a client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A child process over stdin/stdout; callers = requests in flight on that one pipe.
    Stdio,
    /// Streamable HTTP, protocol 2025-11-25: one session per caller.
    Http,
    /// Streamable HTTP, protocol 2026-07-28: no session, every request stands alone.
    Stateless,
    /// Legacy HTTP+SSE (2024-11-05): one event stream per caller.
    Sse,
}

impl Lane {
    pub const ALL: [Lane; 4] = [Lane::Stdio, Lane::Http, Lane::Stateless, Lane::Sse];

    /// Its name on the command line (`--lane`).
    pub fn flag(self) -> &'static str {
        match self {
            Lane::Stdio => "stdio",
            Lane::Http => "http",
            Lane::Stateless => "stateless",
            Lane::Sse => "sse",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Lane::Stdio => "stdio",
            Lane::Http => "HTTP 2025-11-25",
            Lane::Stateless => "HTTP 2026-07-28",
            Lane::Sse => "SSE",
        }
    }
}

/// Where one server is reachable on each lane (None: not served).
#[derive(Clone, Default)]
pub struct Endpoint {
    pub stdio: Option<StdioCommand>,
    pub mcp: Option<String>,
    pub sse: Option<String>,
    /// Sent as `Authorization` over HTTP and SSE.
    pub authorization: Option<String>,
}

impl Endpoint {
    pub async fn connect(&self, lane: Lane, http: &reqwest::Client) -> Result<Client> {
        let headers: Vec<(&str, &str)> = self
            .authorization
            .as_deref()
            .map(|v| ("authorization", v))
            .into_iter()
            .collect();
        match lane {
            Lane::Stdio => {
                let command = self.stdio.as_ref().context("no stdio")?.command();
                Ok(().serve(TokioChildProcess::new(command)?).await?)
            }
            Lane::Http | Lane::Stateless => {
                let map: HashMap<_, _> = headers
                    .iter()
                    .map(|(k, v)| Ok((http::HeaderName::from_bytes(k.as_bytes())?, v.parse()?)))
                    .collect::<Result<_>>()?;
                let config = StreamableHttpClientTransportConfig::with_uri(
                    self.mcp.clone().context("no /mcp")?,
                )
                .custom_headers(map);
                let transport = StreamableHttpClientTransport::with_client(http.clone(), config);
                if lane == Lane::Http {
                    Ok(().serve(transport).await?)
                } else {
                    let lifecycle = ClientLifecycleMode::Discover {
                        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                    };
                    Ok(().serve_with_lifecycle(transport, lifecycle).await?)
                }
            }
            Lane::Sse => {
                let url = self.sse.as_deref().context("no /sse")?;
                let transport = crate::sse::connect(url, &headers).await;
                Ok(().serve(transport).await?)
            }
        }
    }
}

/// Calls per second and latency percentiles of one run.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub calls: usize,
    pub secs: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Stats {
    pub fn from(mut latencies: Vec<Duration>, secs: f64) -> Self {
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len().max(1) - 1) as f64 * q).round() as usize)
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
        };
        Self {
            calls: latencies.len(),
            secs,
            p50: at(0.5),
            p99: at(0.99),
            max: at(1.0),
        }
    }

    pub fn rate(&self) -> f64 {
        self.calls as f64 / self.secs
    }
}

/// Calls a tool and fails on a tool error.
pub async fn call(peer: &rmcp::Peer<RoleClient>, params: CallToolRequestParams) -> Result<()> {
    let result = peer.call_tool(params).await?;
    ensure!(
        result.is_error != Some(true),
        "tool error: {:?}",
        result.content
    );
    Ok(())
}

/// Calls each caller makes before the clock starts.
pub const WARM_UP: usize = 5;

/// At most this many calls per run, whatever the duration.
const MAX_CALLS: usize = 500_000;

/// `callers` callers call `tool` back to back for `duration` or until `max_calls` in all
/// (after [`WARM_UP`] calls each). Caller n talks to `endpoints[n % len]`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    endpoints: &[Endpoint],
    lane: Lane,
    tool: &str,
    args: &JsonObject,
    callers: usize,
    duration: Duration,
    max_calls: usize,
    http: &reqwest::Client,
) -> Result<Stats> {
    let clients: Vec<Client> = if lane == Lane::Stdio {
        vec![endpoints[0].connect(lane, http).await?]
    } else {
        let connecting = (0..callers).map(|n| endpoints[n % endpoints.len()].connect(lane, http));
        futures::future::try_join_all(connecting).await?
    };
    let params = CallToolRequestParams::new(tool.to_string()).with_arguments(args.clone());
    let start = Arc::new(tokio::sync::Barrier::new(callers + 1));
    let per_caller = max_calls.min(MAX_CALLS) / callers;
    let mut tasks = Vec::with_capacity(callers);
    for n in 0..callers {
        let peer = clients[n % clients.len()].peer().clone();
        let (params, start) = (params.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..WARM_UP {
                call(&peer, params.clone()).await?;
            }
            start.wait().await;
            let deadline = Instant::now() + duration;
            let mut latencies = Vec::with_capacity(4096);
            while Instant::now() < deadline && latencies.len() < per_caller {
                let sent = Instant::now();
                call(&peer, params.clone()).await?;
                latencies.push(sent.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    start.wait().await;
    let began = Instant::now();
    let mut all = Vec::new();
    let mut failure = None;
    for task in tasks {
        match task.await? {
            Ok(latencies) => all.extend(latencies),
            Err(e) => failure = Some(e),
        }
    }
    let secs = began.elapsed().as_secs_f64();
    close(clients).await;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Stats::from(all, secs))
}

/// Ends every client (HTTP sessions are deleted, SSE streams and child processes closed).
pub async fn close(clients: Vec<Client>) {
    futures::future::join_all(clients.into_iter().map(|c| c.cancel())).await;
}

/// Spawn → initialize result of a stdio server, `runs` times: (median, max) in ms.
pub async fn cold_start(command: &StdioCommand, runs: usize) -> Result<(f64, f64)> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let began = Instant::now();
        let client = ().serve(TokioChildProcess::new(command.command())?).await?;
        times.push(began.elapsed());
        client.cancel().await?;
    }
    let stats = Stats::from(times, 0.0);
    Ok((stats.p50, stats.max))
}
