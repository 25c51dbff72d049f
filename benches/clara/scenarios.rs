//! Sections 4–8: memory over a session's life, a login storm, credit contention, analysis
//! throughput, and two processes on one PostgreSQL.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use crate::{
    Ctx, Plan,
    load::{self, Endpoint, Lane, Stats},
    media,
    report::{Report, mib, ms, rate},
    servers::{self, Account, Clara},
};

fn object(value: Value) -> rmcp::model::JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

/// Section 4: a fresh server, idle → 10,000 calls → 500 SSE + 500 HTTP sessions → closed.
pub async fn memory(plan: &Plan, ctx: &Ctx, report: &mut Report) -> Result<()> {
    report.section("4. Memory (`clara serve`, RSS from /proc)");
    let clara = Clara::start(None).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = clara.proc.rss();
    let target = clara.endpoint(None);
    let calls = load::run(
        std::slice::from_ref(&target),
        Lane::Stateless,
        "misc_health",
        &object(json!({})),
        8,
        Duration::from_secs(120),
        plan.memory_calls,
        &ctx.http,
    )
    .await?;
    let after_calls = clara.proc.rss();
    let mut cycles = Vec::new();
    for _ in 0..plan.cycles {
        let mut sessions = Vec::new();
        for lane in [Lane::Sse, Lane::Http] {
            let opened: Vec<load::Client> = futures::stream::iter(0..plan.sessions)
                .map(|_| target.connect(lane, &ctx.http))
                .buffer_unordered(32)
                .try_collect()
                .await?;
            sessions.extend(opened);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let open = clara.proc.rss();
        load::close(sessions).await;
        tokio::time::sleep(plan.settle).await;
        cycles.push((open, clara.proc.rss()));
    }
    report.header(&["stage", "RSS"]);
    report.row(&["idle, 2 s after start".into(), mib(idle)]);
    report.row(&[
        format!(
            "after {} misc_health calls (8 callers, HTTP 2026-07-28, {} calls/s)",
            calls.calls + 8 * load::WARM_UP,
            rate(calls.rate())
        ),
        mib(after_calls),
    ]);
    for (n, (open, closed)) in cycles.iter().enumerate() {
        report.row(&[
            format!(
                "cycle {}: {} SSE + {} HTTP sessions open",
                n + 1,
                plan.sessions,
                plan.sessions
            ),
            mib(*open),
        ]);
        report.row(&[
            format!(
                "cycle {}: {:.0} s after they closed",
                n + 1,
                plan.settle.as_secs_f64()
            ),
            mib(*closed),
        ]);
    }
    let (open, closed) = cycles.last().copied().unwrap_or((f64::NAN, f64::NAN));
    report.set("memory/idle", idle);
    report.set("memory/calls", after_calls);
    report.set("memory/open", open);
    report.set("memory/closed", closed);
    clara.proc.stop().await;
    Ok(())
}

/// One argon2id hash with the server's parameters (the crate's defaults), ms.
fn argon2_ms() -> f64 {
    let argon2 = argon2::Argon2::default();
    let mut out = [0u8; 32];
    let runs = 4;
    let began = Instant::now();
    for _ in 0..runs {
        argon2
            .hash_password_into(servers::PASSWORD.as_bytes(), b"bench-salt-16byt", &mut out)
            .expect("argon2");
    }
    began.elapsed().as_secs_f64() * 1000.0 / f64::from(runs)
}

/// Calls `misc_health` back to back on one MCP session until `until` resolves: the latency of
/// a busy client, not of waking idle virtual CPUs between calls.
async fn probe(
    endpoint: Endpoint,
    http: reqwest::Client,
    until: impl Future<Output = ()>,
) -> Result<Stats> {
    let client = endpoint.connect(Lane::Http, &http).await?;
    let params = rmcp::model::CallToolRequestParams::new("misc_health");
    let mut latencies = Vec::new();
    let began = Instant::now();
    tokio::pin!(until);
    loop {
        let sent = Instant::now();
        load::call(client.peer(), params.clone()).await?;
        latencies.push(sent.elapsed());
        if futures::poll!(&mut until).is_ready() {
            break;
        }
    }
    load::close(vec![client]).await;
    Ok(Stats::from(latencies, began.elapsed().as_secs_f64()))
}

/// Section 5: rounds of concurrent logins, each from its own loopback address (the per-address
/// limits stay on), while one MCP session measures `misc_health`.
pub async fn login_storm(
    plan: &Plan,
    ctx: &Ctx,
    clara: &Clara,
    account: &Account,
    report: &mut Report,
) -> Result<()> {
    report.section("5. Login storm");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let hash = argon2_ms();
    let ceiling = cores as f64 * 1000.0 / hash;
    let clients: Vec<reqwest::Client> = (0..plan.logins)
        .map(|n| {
            let address = Ipv4Addr::new(127, 0, (2 + n / 250) as u8, (2 + n % 250) as u8);
            reqwest::Client::builder()
                .local_address(IpAddr::V4(address))
                .build()
        })
        .collect::<Result<_, _>>()?;
    let health = clara.endpoint(None);
    let quiet = probe(
        health.clone(),
        ctx.http.clone(),
        tokio::time::sleep(Duration::from_secs(1)),
    )
    .await?;
    let stop = Arc::new(tokio::sync::Notify::new());
    let during = {
        let stopped = stop.clone();
        let until = async move { stopped.notified().await };
        tokio::spawn(probe(health, ctx.http.clone(), until))
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = clara.api("/auth/session");
    let began = Instant::now();
    let (mut ok, mut refused) = (0usize, 0usize);
    for _ in 0..plan.login_rounds {
        let logins = clients
            .iter()
            .map(|http| servers::login(http, &url, &account.email));
        for outcome in futures::future::join_all(logins).await {
            match outcome {
                Ok(_) => ok += 1,
                Err(_) => refused += 1,
            }
        }
    }
    let storm = began.elapsed().as_secs_f64();
    stop.notify_one();
    let during = during.await??;
    let logins_per_sec = ok as f64 / storm;
    report.line(format!(
        "{} rounds of {} concurrent logins (Basic, one account, each from its own 127.0.x.y \
         address) while one MCP session (HTTP 2025-11-25) calls misc_health back to back. \
         argon2id (m=19 MiB, t=2, p=1) here: {} ms a hash × {cores} cores = a ceiling of {} \
         logins/s.",
        plan.login_rounds,
        plan.logins,
        ms(hash),
        rate(ceiling)
    ));
    report.line("");
    report.header(&["", "value"]);
    report.row(&[
        "logins answered 200 / refused".into(),
        format!("{ok} / {refused}"),
    ]);
    report.row(&[
        "logins/s (vs the argon2 ceiling)".into(),
        format!(
            "{} ({:.0} %)",
            rate(logins_per_sec),
            100.0 * logins_per_sec / ceiling
        ),
    ]);
    report.row(&[
        "misc_health quiet: p50 / p99 / max".into(),
        format!(
            "{} / {} / {} ms",
            ms(quiet.p50),
            ms(quiet.p99),
            ms(quiet.max)
        ),
    ]);
    report.row(&[
        format!(
            "misc_health during the storm ({} calls): p50 / p99 / max",
            during.calls
        ),
        format!(
            "{} / {} / {} ms",
            ms(during.p50),
            ms(during.p99),
            ms(during.max)
        ),
    ]);
    report.set("storm/health/p99", during.p99);
    report.set("storm/refused", refused as f64);
    Ok(())
}

/// Every ledger entry of a user: (credits in, credits out, number of DEBITs).
async fn ledger(http: &reqwest::Client, clara: &Clara, user: &str) -> Result<(f64, f64, usize)> {
    let (mut credit, mut debit, mut debits) = (0.0, 0.0, 0);
    let mut offset = 0;
    loop {
        let page = servers::data(
            http.get(clara.api(&format!(
                "/users/{user}/transactions?limit=100&offset={offset}"
            )))
            .header("authorization", servers::PRIVATE_KEY)
            .send()
            .await?,
        )
        .await?;
        // REST answers the list itself (MCP wraps it in `items`).
        let items = page
            .as_array()
            .or(page["items"].as_array())
            .context("items")?;
        for item in items {
            let value = item["value_in_credits"].as_f64().unwrap_or_default();
            if item["type"] == "DEBIT" {
                debit += value;
                debits += 1;
            } else {
                credit += value;
            }
        }
        if items.len() < 100 {
            return Ok((credit, debit, debits));
        }
        offset += 100;
    }
}

async fn balance(http: &reqwest::Client, clara: &Clara, user: &str) -> Result<f64> {
    let user = servers::data(
        http.get(clara.api(&format!("/users/{user}")))
            .header("authorization", servers::PRIVATE_KEY)
            .send()
            .await?,
    )
    .await?;
    user["credits"].as_f64().context("credits")
}

/// Section 6 on one database: `spends` concurrent 1-credit DEBITs of a balance of half that.
async fn contention(plan: &Plan, ctx: &Ctx, clara: &Clara, email: &str) -> Result<Vec<String>> {
    let account = clara.account(&ctx.http, email).await?;
    let start = (plan.spends / 2) as f64;
    clara.set_credits(&ctx.http, &account.id, start).await?;
    let (_, _, debits_before) = ledger(&ctx.http, clara, &account.id).await?;
    let http = reqwest::Client::new();
    let began = Instant::now();
    let spends = (0..plan.spends).map(|_| clara.entry(&http, &account.id, "DEBIT", 1.0));
    let answers = futures::future::join_all(spends).await;
    let secs = began.elapsed().as_secs_f64();
    let (mut ok, mut short, mut other) = (0usize, 0usize, 0usize);
    for answer in answers {
        match answer.map(|r| r.status().as_u16()) {
            Ok(200 | 201) => ok += 1,
            Ok(403) => short += 1,
            _ => other += 1,
        }
    }
    let balance = balance(&ctx.http, clara, &account.id).await?;
    let (credit, debit, debits) = ledger(&ctx.http, clara, &account.id).await?;
    let agree = (balance - (credit - debit)).abs() < 0.005
        && debits - debits_before == ok
        && (balance - (start - ok as f64)).abs() < 0.005
        && ok == plan.spends.min(start as usize);
    Ok(vec![
        rate(plan.spends as f64 / secs),
        format!("{ok} / {short} / {other}"),
        format!("{balance}"),
        format!("{credit} − {debit} = {}", credit - debit),
        if agree { "yes".into() } else { "**NO**".into() },
    ])
}

pub async fn credits(plan: &Plan, ctx: &Ctx, clara: &Clara, report: &mut Report) -> Result<()> {
    report.section("6. Credit contention");
    report.line(format!(
        "{} concurrent 1-credit DEBITs (`POST /users/{{id}}/transactions`, private key) of a \
         balance of {}: exactly {} must pass, the rest 403, and the balance must equal the sum of \
         the ledger.",
        plan.spends,
        plan.spends / 2,
        plan.spends / 2
    ));
    report.line("");
    report.header(&[
        "database",
        "spends/s",
        "passed / 403 / other",
        "balance after",
        "ledger",
        "agree",
    ]);
    let sqlite = contention(plan, ctx, clara, "spender@example.com").await;
    let row = [vec!["SQLite".to_string()], cells(report, sqlite)].concat();
    report.row(&row);
    match ctx.postgres().await {
        Ok(pg) => {
            let server = Clara::start(Some(&pg.url)).await?;
            let outcome = contention(plan, ctx, &server, "spender@example.com").await;
            let row = [vec!["PostgreSQL".to_string()], cells(report, outcome)].concat();
            report.row(&row);
            server.proc.stop().await;
            pg.drop().await;
        }
        Err(e) => report.line(format!("PostgreSQL: skipped ({e:#})")),
    }
    Ok(())
}

fn cells(report: &mut Report, outcome: Result<Vec<String>>) -> Vec<String> {
    outcome.unwrap_or_else(|e| {
        vec![
            report.failed(&e),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]
    })
}

/// A multipart body: a `text` field and files.
fn multipart(text: &str, files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = format!("clara-bench-{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n{text}\r\n")
            .as_bytes(),
    );
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The analysis attachments: a 10-page PDF, a 12-megapixel JPEG, a 3-minute WAV.
pub struct Sample {
    content_type: String,
    /// Shared by every submission (a clone is a reference count).
    body: bytes::Bytes,
}

impl Sample {
    pub fn new(wav_seconds: u32) -> Self {
        let pages: Vec<String> = (1..=10)
            .map(|n| format!("Page {n}: the bridge opened to traffic in 1932 and carried {n}0,000 cars a day."))
            .collect();
        let pages: Vec<&str> = pages.iter().map(String::as_str).collect();
        let pdf = media::pdf_pages(&pages);
        let jpeg = media::jpeg(4000, 3000, "2019:05:04 10:11:12");
        let wav = media::wav(wav_seconds);
        let (content_type, body) = multipart(
            "The Sydney Harbour Bridge opened in 1932. This photo was taken at its opening.",
            &[
                ("report.pdf", &pdf),
                ("photo.jpg", &jpeg),
                ("interview.wav", &wav),
            ],
        );
        Self {
            content_type,
            body: body.into(),
        }
    }
}

/// Submits one analysis and polls it to an end: (time to COMPLETED, status).
async fn analyse(
    http: &reqwest::Client,
    clara: &Clara,
    account: &Account,
    sample: &Sample,
) -> Result<Duration> {
    let began = Instant::now();
    let task = servers::data(
        http.post(clara.api(&format!("/users/{}/agent/analysis", account.id)))
            .header("authorization", account.bearer())
            .header("content-type", &sample.content_type)
            .body(sample.body.clone())
            .send()
            .await?,
    )
    .await
    .context("submit")?;
    let id = task["id"].as_str().context("task id")?.to_string();
    let url = clara.api(&format!("/users/{}/tasks/{id}", account.id));
    loop {
        let task = servers::data(
            http.get(&url)
                .header("authorization", account.bearer())
                .send()
                .await?,
        )
        .await?;
        match task["status"].as_str() {
            Some("COMPLETED") => return Ok(began.elapsed()),
            Some("FAILED") | Some("CANCELLED") => {
                bail!("task {id} ended {}: {}", task["status"], task["error"])
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Runs `tasks` analyses `in_flight` at a time: (latency stats, tasks/s).
async fn analyses(
    http: &reqwest::Client,
    clara: &Clara,
    account: &Account,
    sample: &Sample,
    tasks: usize,
    in_flight: usize,
) -> Result<Stats> {
    let began = Instant::now();
    let times: Vec<Duration> = futures::stream::iter(0..tasks)
        .map(|_| analyse(http, clara, account, sample))
        .buffer_unordered(in_flight)
        .try_collect()
        .await?;
    Ok(Stats::from(times, began.elapsed().as_secs_f64()))
}

/// Section 7.
pub async fn analysis(plan: &Plan, ctx: &Ctx, report: &mut Report) -> Result<()> {
    report.section("7. Analysis (offline engine)");
    let clara = Clara::start(None).await?;
    let account = clara.account(&ctx.http, "analyst@example.com").await?;
    clara
        .set_credits(&ctx.http, &account.id, 1_000_000.0)
        .await?;
    let sample = Sample::new(plan.wav_seconds);
    report.line(format!(
        "Each task: a text, a 10-page PDF, a 4000×3000 (12 MP) baseline JPEG with EXIF and a \
         {}-second 8 kHz WAV ({} KiB of multipart in all), submitted over REST and polled every \
         10 ms until COMPLETED. Default workers (one per core).",
        plan.wav_seconds,
        sample.body.len() / 1024
    ));
    report.line("");
    report.header(&[
        "in flight",
        "tasks",
        "tasks/s",
        "p50 submit→COMPLETED",
        "p99",
    ]);
    let idle = clara.proc.rss();
    for (in_flight, tasks) in [(1, plan.analyses_alone), (20, plan.analyses_together)] {
        let in_flight = in_flight.min(tasks);
        match analyses(&ctx.http, &clara, &account, &sample, tasks, in_flight).await {
            Ok(stats) => report.row(&[
                in_flight.to_string(),
                stats.calls.to_string(),
                format!("{:.1}", stats.rate()),
                format!("{} ms", ms(stats.p50)),
                format!("{} ms", ms(stats.p99)),
            ]),
            Err(e) => {
                let cell = report.failed(&e);
                report.row(&[
                    in_flight.to_string(),
                    cell,
                    String::new(),
                    String::new(),
                    String::new(),
                ])
            }
        }
    }
    report.line("");
    report.line(format!(
        "RSS before: {}; peak (VmHWM) over the whole run: {}.",
        mib(idle),
        mib(clara.proc.peak())
    ));
    report.set("analysis/peak", clara.proc.peak());
    clara.proc.stop().await;
    Ok(())
}

/// The machine's CPU time since a point, from /proc/stat: busy share of all cores, %.
struct Busy(u64, u64);

impl Busy {
    fn read() -> (u64, u64) {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let total: u64 = fields.iter().sum();
        let idle =
            fields.get(3).copied().unwrap_or_default() + fields.get(4).copied().unwrap_or_default();
        (total, idle)
    }

    fn now() -> Self {
        let (total, idle) = Self::read();
        Self(total, idle)
    }

    fn since(&self) -> f64 {
        let (total, idle) = Self::read();
        let (total, idle) = (total - self.0, idle - self.1);
        100.0 * (total - idle) as f64 / total.max(1) as f64
    }
}

fn count_mail(clara: &Clara) -> usize {
    std::fs::read_dir(clara.outbox()).map_or(0, |d| d.filter_map(|e| e.ok()).count())
}

/// Section 8.
pub async fn two_processes(plan: &Plan, ctx: &Ctx, report: &mut Report) -> Result<()> {
    report.section("8. Two processes on one PostgreSQL");
    let pg = match ctx.postgres().await {
        Ok(pg) => pg,
        Err(e) => {
            report.line(format!("skipped: {e:#}"));
            return Ok(());
        }
    };
    let a = Clara::start(Some(&pg.url)).await?;
    let b = Clara::start(Some(&pg.url)).await?;
    let account = a.account(&ctx.http, "pair@example.com").await?;
    a.credit_entries(&ctx.http, &account.id, 20).await?;
    let args = object(json!({"limit": 20, "offset": 0}));
    let ends_all = [a.endpoint(Some(&account)), b.endpoint(Some(&account))];
    let callers = 8;
    let run = |ends: &'static str| {
        let ends = if ends == "one" {
            &ends_all[..1]
        } else {
            &ends_all[..]
        };
        load::run(
            ends,
            Lane::Stateless,
            "transaction_list",
            &args,
            callers,
            plan.cell * 2,
            plan.cell_calls,
            &ctx.http,
        )
    };
    let busy = Busy::now();
    let one = run("one").await?;
    let one_busy = busy.since();
    let busy = Busy::now();
    let two = run("two").await?;
    let two_busy = busy.since();
    report.line(format!(
        "transaction_list (20 rows) over HTTP 2026-07-28, {callers} callers, {:.1} s each; \
         then the same client alternating between the two processes. Then, alternating and all \
         at once: {} analyses, {} registrations (one activation mail each) and {} DEBITs.",
        (plan.cell * 2).as_secs_f64(),
        plan.pair_tasks,
        plan.pair_mails,
        plan.pair_debits
    ));
    report.line("");
    report.header(&["", "calls/s", "p50", "p99", "machine CPU busy"]);
    report.row(&[
        "one process".into(),
        rate(one.rate()),
        ms(one.p50),
        ms(one.p99),
        format!("{:.0} %", one_busy),
    ]);
    report.row(&[
        "two processes".into(),
        rate(two.rate()),
        ms(two.p50),
        ms(two.p99),
        format!("{:.0} %", two_busy),
    ]);
    report.set("pair/ratio", two.rate() / one.rate());
    report.line("");
    report.line(format!(
        "Two processes / one: {:.2}×.",
        two.rate() / one.rate()
    ));

    // Nothing lost or doubled: tasks, mail, credits.
    let servers = [&a, &b];
    let start = 10_000.0;
    a.set_credits(&ctx.http, &account.id, start).await?;
    let (_, _, debits_before) = ledger(&ctx.http, &a, &account.id).await?;
    let mails_before = count_mail(&a) + count_mail(&b);
    let sample = Sample::new(plan.wav_seconds.min(10));
    let tasks = futures::future::join_all(
        (0..plan.pair_tasks).map(|n| analyse(&ctx.http, servers[n % 2], &account, &sample)),
    );
    let mails = futures::future::join_all((0..plan.pair_mails).map(|n| {
        let server = servers[n % 2];
        async move {
            server
                .register(&ctx.http, &format!("pair{n}@example.com"))
                .await
                .map(drop)
        }
    }));
    let debits = futures::future::join_all(
        (0..plan.pair_debits).map(|n| servers[n % 2].entry(&ctx.http, &account.id, "DEBIT", 1.0)),
    );
    let (tasks, mails, debits) = tokio::join!(tasks, mails, debits);
    let tasks_ok = tasks.iter().filter(|t| t.is_ok()).count();
    let mails_ok = mails.iter().filter(|m| m.is_ok()).count();
    let debits_ok = debits
        .iter()
        .filter(|d| d.as_ref().is_ok_and(|r| r.status().is_success()))
        .count();
    let cost = servers::ANALYSIS_COST;
    let balance = balance(&ctx.http, &a, &account.id).await?;
    let (credit, debit, debit_count) = ledger(&ctx.http, &b, &account.id).await?;
    let mails_sent = count_mail(&a) + count_mail(&b) - mails_before;
    let expected = start - cost * tasks_ok as f64 - debits_ok as f64;
    let checks = [
        (
            format!("analyses COMPLETED: {tasks_ok} of {}", plan.pair_tasks),
            tasks_ok == plan.pair_tasks,
        ),
        (
            format!(
                "activation mails in the two outboxes: {mails_sent} for {mails_ok} registrations"
            ),
            mails_sent == plan.pair_mails && mails_ok == plan.pair_mails,
        ),
        (
            format!(
                "DEBIT entries: {} = {tasks_ok} charges + {debits_ok} spends",
                debit_count - debits_before
            ),
            debit_count - debits_before == tasks_ok + debits_ok && debits_ok == plan.pair_debits,
        ),
        (
            format!(
                "balance {balance} = {start} − {cost} × {tasks_ok} − {debits_ok} = {expected}, \
                 ledger {credit} − {debit}"
            ),
            (balance - expected).abs() < 0.005 && (balance - (credit - debit)).abs() < 0.005,
        ),
    ];
    report.line("");
    report.header(&["check", "holds"]);
    let mut all = true;
    for (what, holds) in checks {
        all &= holds;
        report.row(&[what, if holds { "yes".into() } else { "**NO**".into() }]);
    }
    report.set("pair/intact", if all { 1.0 } else { 0.0 });
    a.proc.stop().await;
    b.proc.stop().await;
    pg.drop().await;
    ensure!(all, "two processes lost or doubled something");
    Ok(())
}
