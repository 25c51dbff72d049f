//! The analysis agent: attachments checked before anything is charged, the charge and the task
//! in one transaction, tasks run once by leased workers (across processes, after a crash),
//! refunds once on failure, the offline engine's real extraction, and tasks over MCP (the
//! tasks extension, `wait` with progress, the task resource). Runs on SQLite, and on
//! PostgreSQL with `CLARA_TEST_DATABASE_URL`.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use clara::{
    analysis::{Analysis, Engine, EngineError, EngineFuture, Input, Progress, Stage, offline},
    app::App,
    catalog::{Operation, agent, credits as ledger_ops, users},
    model::{Credits, UserId},
    services::{
        UserPage,
        credits::{self, Entry},
        tasks::{PublicTask, Status, TaskRef},
        transactions::Kind,
        users::UserRef,
    },
    store,
};
use rmcp::{
    ClientHandler, RoleClient,
    model::{
        CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities,
        ClientConfig, GetTaskParams, ProgressNotificationParam, ProgressToken,
        ReadResourceRequestParams, RequestMetaObject, TaskStatus,
    },
    service::NotificationContext,
};
use serde_json::{Map, Value, json};

use crate::support::{
    TestApp,
    flows::TestUser,
    mcp::Transport,
    media::{self, attachment},
};

/// A user holding exactly `credits`.
async fn funded(app: &TestApp, email: &str, credits: i64) -> TestUser {
    let user = app.user(email).await;
    if credits > 0 {
        let entry = Entry::credit(Credits::whole(credits), "Test credits.");
        credits::grant(&app.app, &UserId::new(&user.id), entry)
            .await
            .unwrap();
    }
    user
}

async fn balance(app: &TestApp, user: &TestUser) -> Credits {
    let me = UserRef {
        user_id: Some(user.id.clone()),
    };
    app.rest::<users::View>(Some(&user.bearer()), me)
        .await
        .unwrap()
        .credits
}

async fn tasks_of(app: &TestApp, user: &TestUser) -> Vec<PublicTask> {
    let list = UserPage {
        user_id: Some(user.id.clone()),
        limit: Some(100),
        offset: None,
    };
    app.rest::<agent::List>(Some(&user.bearer()), list)
        .await
        .unwrap()
        .items
}

/// The user's ledger: (type, credits, description), newest first.
async fn ledger(app: &TestApp, user: &TestUser) -> Vec<(Kind, Credits, String)> {
    let list = UserPage {
        user_id: Some(user.id.clone()),
        limit: Some(100),
        offset: None,
    };
    let bearer = user.bearer();
    app.rest::<ledger_ops::List>(Some(&bearer), list)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|t| (t.kind, t.value_in_credits, t.description))
        .collect()
}

fn request(user: &TestUser, text: &str, files: Vec<Value>) -> Map<String, Value> {
    let mut args = Map::new();
    args.insert("user_id".into(), json!(user.id));
    args.insert("text".into(), json!(text));
    if !files.is_empty() {
        args.insert("attachments".into(), Value::Array(files));
    }
    args
}

/// Submits over REST (multipart); the reply's status and body.
async fn submit(app: &TestApp, user: &TestUser, args: Map<String, Value>) -> (u16, Value) {
    let reply = app
        .rest_raw(&agent::Analysis::CONTRACT, Some(&user.bearer()), args)
        .await;
    (reply.status, reply.body)
}

async fn finished(app: &TestApp, user: &TestUser, task_id: &str) -> PublicTask {
    app.task_ended(&user.bearer(), &user.id, task_id).await
}

#[tokio::test]
async fn every_kind_is_extracted_for_real_and_the_offline_engine_concludes_nothing() {
    let app = TestApp::spawn().await;
    let user = funded(&app, "media@example.com", 40).await;
    let text = "This photo shows the Eiffel Tower in 2023. The tower is 330 metres tall. \
                See https://example.org/story";
    let files = vec![
        attachment(
            "report.pdf",
            &media::pdf("The bridge opened to traffic in 1932."),
        ),
        attachment("photo.jpg", &media::jpeg(4000, 3000, "2019:05:04 10:11:12")),
        attachment(
            "shot.png",
            &media::png(640, 480, Some("2019:05:04 10:11:12")),
        ),
        attachment("voice.wav", &media::wav(3)),
        attachment("clip.mp4", &media::mp4(2)),
    ];
    let (status, body) = submit(&app, &user, request(&user, text, files)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["message"], "Task created successfully.");
    assert_eq!(body["data"]["status"], "PENDING");
    assert_eq!(body["data"]["result"], Value::Null);
    let task_id = body["data"]["id"].as_str().unwrap().to_string();
    assert!(task_id.starts_with("task_") && task_id.len() == 37);

    let task = finished(&app, &user, &task_id).await;
    assert_eq!(task.status, Status::Completed, "{:?}", task.error);
    assert_eq!(task.stage, Stage::Done);
    let result = task.result.expect("a result");
    assert_eq!(result.engine, "offline");
    assert_eq!(
        serde_json::to_value(result.verdict).unwrap(),
        "NOT_ENOUGH_EVIDENCE"
    );
    assert!(!result.retrieval && result.queries.is_empty() && result.model.is_none());
    let claims: Vec<&str> = result.claims.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        claims,
        [
            "This photo shows the Eiffel Tower in 2023.",
            "The tower is 330 metres tall."
        ]
    );
    assert!(result.claims.iter().all(|c| c.evidence.is_empty()));
    assert_eq!(result.links[0].url, "https://example.org/story");
    assert!(!result.links[0].fetched);

    let by_name = |name: &str| {
        result
            .attachments
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("{name} extracted"))
    };
    let pdf = by_name("report.pdf");
    assert_eq!(pdf.pages, Some(1));
    assert!(
        pdf.text
            .as_deref()
            .unwrap()
            .contains("The bridge opened to traffic in 1932."),
        "{pdf:?}"
    );
    let jpg = by_name("photo.jpg");
    assert_eq!((jpg.width, jpg.height), (Some(4000), Some(3000)));
    assert_eq!(jpg.taken_at.as_deref(), Some("2019-05-04 10:11:12"));
    let gps = jpg.gps.expect("GPS");
    assert!((gps.latitude - 48.8584).abs() < 1e-3, "{gps:?}");
    assert!((gps.longitude - 2.2945).abs() < 1e-3, "{gps:?}");
    assert_eq!(jpg.exif.as_ref().unwrap()["software"], "PhotoEditor 9");
    let png = by_name("shot.png");
    assert_eq!((png.width, png.height), (Some(640), Some(480)));
    assert!(png.gps.is_some(), "{png:?}");
    let wav = by_name("voice.wav");
    assert_eq!(wav.duration_seconds, Some(3.0));
    assert_eq!(wav.tracks[0].sample_rate, Some(8000));
    assert_eq!(wav.tracks[0].channels, Some(1));
    let mp4 = by_name("clip.mp4");
    assert_eq!(mp4.duration_seconds, Some(2.0));
    assert_eq!((mp4.width, mp4.height), (Some(320), Some(240)));
    assert_eq!(mp4.tracks[0].kind, "video");
    assert!(result.attachments.iter().all(|a| a.error.is_none()));

    // Observations from the files, never verdicts: the EXIF year contradicts the text's.
    let kinds: Vec<&str> = result
        .observations
        .iter()
        .map(|o| o.kind.as_str())
        .collect();
    for kind in [
        "exif_date",
        "date_mismatch",
        "gps",
        "editing_software",
        "media",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let mismatch = result
        .observations
        .iter()
        .find(|o| o.kind == "date_mismatch" && o.file == "photo.jpg")
        .unwrap();
    assert!(mismatch.text.contains("2023") && mismatch.text.contains("2019"));

    // Charged once, through the ledger.
    assert_eq!(balance(&app, &user).await, Credits::whole(20));
    let entries = ledger(&app, &user).await;
    assert_eq!(entries[0].0, Kind::Debit);
    assert_eq!(entries[0].1, Credits::whole(20));
    assert_eq!(entries[0].2, format!("Analysis {task_id}."));

    // Documents: CSV rows, HTML as text.
    let files = vec![
        attachment(
            "table.csv",
            b"city,population\nParis,2102650\nLyon,522250\n",
        ),
        attachment(
            "page.html",
            b"<html><body><h1>Budget</h1><p>The budget rose by 40 percent in 2024.</p>\
              <script>ignored()</script></body></html>",
        ),
    ];
    let (status, body) = submit(&app, &user, request(&user, "", files)).await;
    assert_eq!(status, 201, "{body}");
    let task = finished(&app, &user, body["data"]["id"].as_str().unwrap()).await;
    let result = task.result.unwrap();
    assert_eq!(result.attachments[0].rows, Some(3));
    let html = result.attachments[1].text.as_deref().unwrap();
    assert!(
        html.contains("The budget rose by 40 percent in 2024."),
        "{html}"
    );
    assert!(!html.contains("<p>"), "{html}");
    // Without a claim in the text, the claims come from the documents.
    assert!(
        result
            .claims
            .iter()
            .any(|c| c.text.contains("budget rose by 40 percent")),
        "{:?}",
        result.claims
    );
    assert_eq!(balance(&app, &user).await, Credits::ZERO);
}

#[tokio::test]
async fn a_refused_request_charges_nothing_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let user = funded(&app, "refused@example.com", 100).await;
    let png = media::png(10, 10, None);
    let cases: Vec<(Vec<Value>, &str, &str)> = vec![
        (
            vec![attachment("photo.jpg", &png)],
            "photo.jpg",
            "image/png",
        ),
        (
            vec![attachment("virus.exe", b"MZ\x90\0")],
            "virus.exe",
            "unsupported extension",
        ),
        (
            (0..6)
                .map(|n| attachment(&format!("n{n}.txt"), b"some text here"))
                .collect(),
            "n5.txt",
            "at most 5 files",
        ),
        (
            vec![attachment("big.txt", &vec![b'a'; 5 * 1024 * 1024 + 1])],
            "big.txt",
            "limit",
        ),
        (
            vec![attachment("fake.pdf", b"this is not a pdf")],
            "fake.pdf",
            "not a .pdf",
        ),
        (
            vec![json!({"name": "bad.txt", "content_base64": "***"})],
            "bad.txt",
            "base64",
        ),
    ];
    for (files, file, reason) in cases {
        let mut args = request(&user, "Is this real?", files.clone());
        // Multipart carries bytes, not base64: that case is MCP's only.
        if reason != "base64" {
            let (status, body) = submit(&app, &user, args.clone()).await;
            assert_eq!(status, 400, "{file}: {body}");
            assert_eq!(
                body["message"],
                "One or more required parameters are either not given or have invalid schema."
            );
            assert_eq!(body["data"]["file"], file, "{body}");
            let why = body["data"]["reason"].as_str().unwrap();
            assert!(why.contains(reason), "{file}: {why}");
        }
        // The same over MCP: a tool error naming the file.
        args.remove("user_id");
        let client = app
            .mcp_with(Transport::Http, &[("authorization", &user.bearer())])
            .await;
        let result = crate::support::typed::call_raw(&client, "agent_analysis", args).await;
        assert_eq!(result.is_error, Some(true));
        let error: Value =
            serde_json::from_str(&result.content[0].as_text().unwrap().text).unwrap();
        assert_eq!(error["status"], 400);
        assert_eq!(error["data"]["file"], file);
        assert!(error["data"]["reason"].as_str().unwrap().contains(reason));
        client.cancel().await.unwrap();
    }
    // Neither a text nor a file.
    let (status, _) = submit(&app, &user, request(&user, "   ", vec![])).await;
    assert_eq!(status, 400);
    assert!(tasks_of(&app, &user).await.is_empty());
    assert_eq!(balance(&app, &user).await, Credits::whole(100));
    assert_eq!(ledger(&app, &user).await.len(), 1, "only the grant");
}

#[tokio::test]
async fn short_of_credits_is_403_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let user = funded(&app, "poor@example.com", 19).await;
    let (status, body) = submit(
        &app,
        &user,
        request(&user, "Water boils at 90 C at sea level.", vec![]),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["message"],
        "You do not have enough credits to perform this action."
    );
    assert!(tasks_of(&app, &user).await.is_empty());
    assert_eq!(balance(&app, &user).await, Credits::whole(19));
    assert_eq!(ledger(&app, &user).await.len(), 1);
}

#[tokio::test]
async fn a_hundred_concurrent_analyses_with_credits_for_37_make_37_tasks() {
    let app = TestApp::spawn().await;
    let user = funded(&app, "race@example.com", 37 * 20).await;
    let attempts = (0..100).map(|n| {
        let args = request(&user, &format!("Claim number {n} is checked here."), vec![]);
        submit(&app, &user, args)
    });
    let answers = futures::future::join_all(attempts).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers.iter().filter(|(s, _)| *s == 403).count();
    assert_eq!(
        (created, refused),
        (37, 63),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert_eq!(balance(&app, &user).await, Credits::ZERO);
    let tasks = tasks_of(&app, &user).await;
    assert_eq!(tasks.len(), 37);
    let debits: Vec<_> = ledger(&app, &user)
        .await
        .into_iter()
        .filter(|(kind, ..)| *kind == Kind::Debit)
        .collect();
    assert_eq!(debits.len(), 37);
    for task in &tasks {
        let expected = format!("Analysis {}.", task.id);
        assert_eq!(debits.iter().filter(|(.., d)| *d == expected).count(), 1);
    }
    for task in tasks {
        let done = finished(&app, &user, &task.id).await;
        assert_eq!(done.status, Status::Completed);
    }
}

/// An engine that always fails.
#[derive(Debug)]
struct Failing;
impl Engine for Failing {
    fn name(&self) -> &'static str {
        "failing"
    }
    fn analyse<'a>(&'a self, _input: &'a Input, progress: &'a Progress) -> EngineFuture<'a> {
        Box::pin(async move {
            progress.report(Stage::Verifying);
            Err(EngineError("the model answered 502 twice".into()))
        })
    }
}

#[tokio::test]
async fn a_failed_analysis_is_refunded_once_and_keeps_its_reason() {
    let app = TestApp::spawn_engine(Arc::new(Failing), |_| {}).await;
    let user = funded(&app, "failing@example.com", 20).await;
    let (status, body) = submit(
        &app,
        &user,
        request(&user, "The moon is made of cheese.", vec![]),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let task = finished(&app, &user, body["data"]["id"].as_str().unwrap()).await;
    assert_eq!(task.status, Status::Failed);
    assert_eq!(task.error.as_deref(), Some("the model answered 502 twice"));
    assert!(task.result.is_none());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(balance(&app, &user).await, Credits::whole(20));
    let entries = ledger(&app, &user).await;
    let refunds: Vec<_> = entries
        .iter()
        .filter(|(k, ..)| *k == Kind::Credit)
        .collect();
    assert_eq!(refunds.len(), 2, "the grant and one refund: {entries:?}");
    assert!(
        entries[0]
            .2
            .starts_with(&format!("Refund for analysis {}", task.id))
    );
    // Cancelling an ended task changes nothing and refunds nothing more.
    let again = TaskRef {
        user_id: Some(user.id.clone()),
        task_id: task.id.clone(),
    };
    let after = app
        .rest::<agent::Cancel>(Some(&user.bearer()), again)
        .await
        .unwrap();
    assert_eq!(after.error.as_deref(), Some("the model answered 502 twice"));
    assert_eq!(ledger(&app, &user).await.len(), 3);
}

#[tokio::test]
async fn a_broken_pdf_and_a_decompression_bomb_fail_their_file_only() {
    let app = TestApp::spawn().await;
    let user = funded(&app, "bombs@example.com", 20).await;
    let mut broken = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\n".to_vec();
    broken.extend_from_slice(&[0xFF; 2000]);
    let files = vec![
        attachment("broken.pdf", &broken),
        attachment("bomb.png", &media::png(100_000, 100_000, None)),
        attachment("fine.txt", b"The river flooded the town in 1998."),
    ];
    let (status, body) = submit(&app, &user, request(&user, "", files)).await;
    assert_eq!(status, 201, "{body}");
    let task = finished(&app, &user, body["data"]["id"].as_str().unwrap()).await;
    assert_eq!(task.status, Status::Completed, "{:?}", task.error);
    let result = task.result.unwrap();
    let pdf = &result.attachments[0];
    assert!(pdf.error.as_deref().unwrap().contains("PDF"), "{pdf:?}");
    let bomb = &result.attachments[1];
    assert!(
        bomb.error
            .as_deref()
            .unwrap()
            .contains("decompression bomb"),
        "{bomb:?}"
    );
    assert_eq!(bomb.width, Some(100_000));
    let fine = &result.attachments[2];
    assert!(fine.error.is_none() && fine.text.is_some());
    assert!(
        result.summary.contains("broken.pdf could not be read"),
        "{}",
        result.summary
    );
}

/// The offline engine, counting its runs and taking a little while.
#[derive(Debug, Default)]
struct Counting(AtomicUsize);
impl Engine for Counting {
    fn name(&self) -> &'static str {
        "offline"
    }
    fn analyse<'a>(&'a self, input: &'a Input, progress: &'a Progress) -> EngineFuture<'a> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            offline::Offline.analyse(input, progress).await
        })
    }
}

/// Another process on the same database: an app with its own workers (and its own clock).
async fn second_process(app: &TestApp, engine: Arc<dyn Engine>, workers: usize) -> App {
    let mut settings =
        crate::support::settings(app.data_dir.path().to_path_buf(), &app.database_url);
    settings.agent_workers = Some(workers);
    let other = App::build_with_engine(&settings, engine).await.unwrap();
    clara::services::analysis::start(&other);
    other
}

#[tokio::test]
async fn two_processes_on_one_database_run_each_of_50_tasks_exactly_once() {
    let engine = Arc::new(Counting::default());
    let app = TestApp::spawn_engine(engine.clone(), |s| s.agent_workers = Some(2)).await;
    let other = second_process(&app, engine.clone(), 2).await;
    let user = funded(&app, "many@example.com", 50 * 20).await;
    let mut ids = Vec::new();
    for n in 0..50 {
        let args = request(&user, &format!("Statement {n} is to be checked."), vec![]);
        let (status, body) = submit(&app, &user, args).await;
        assert_eq!(status, 201);
        ids.push(body["data"]["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        assert_eq!(finished(&app, &user, id).await.status, Status::Completed);
    }
    assert_eq!(engine.0.load(Ordering::SeqCst), 50, "each task ran once");
    let mut conn = app.app.store().conn().await.unwrap();
    for id in &ids {
        let row = store::tasks::by_id(&mut conn, id).await.unwrap().unwrap();
        assert_eq!(row.attempts, 1, "{id}");
        assert!(
            store::tasks::attachments(&mut conn, id)
                .await
                .unwrap()
                .is_empty()
        );
    }
    other.shutdown_token().cancel();
    assert_eq!(balance(&app, &user).await, Credits::ZERO);
}

#[tokio::test]
async fn a_task_whose_worker_died_is_taken_up_again_and_charged_once() {
    // This process runs no worker: the task stays PENDING until a "dead" worker claims it.
    let app = TestApp::spawn_with(|s| s.agent_workers = Some(0)).await;
    let user = funded(&app, "crash@example.com", 20).await;
    let files = vec![attachment("note.txt", b"The dam was built in 1936.")];
    let (status, body) = submit(&app, &user, request(&user, "The dam is 221 m tall.", files)).await;
    assert_eq!(status, 201);
    let id = body["data"]["id"].as_str().unwrap().to_string();
    {
        // A worker in a process that then died: it holds a lease that ran out.
        let store = app.app.store();
        let mut conn = store.conn().await.unwrap();
        let now = app.app.now();
        let claimed = store::tasks::claim(&mut conn, store.backend(), "dead-worker", now, now - 1)
            .await
            .unwrap();
        assert_eq!(claimed.map(|t| t.id).as_deref(), Some(id.as_str()));
    }
    let seen = tasks_of(&app, &user).await;
    assert_eq!(seen[0].status, Status::Running);
    // A process starts: its worker takes the task up, with its attachments.
    let other = second_process(&app, Arc::new(offline::Offline), 1).await;
    let task = finished(&app, &user, &id).await;
    assert_eq!(task.status, Status::Completed, "{:?}", task.error);
    assert_eq!(task.result.unwrap().attachments[0].name, "note.txt");
    let mut conn = app.app.store().conn().await.unwrap();
    let row = store::tasks::by_id(&mut conn, &id).await.unwrap().unwrap();
    assert_eq!(row.attempts, 2);
    // The dead worker's late completion is refused: it no longer holds the task.
    assert!(
        !store::tasks::complete(&mut conn, &id, "dead-worker", "{}", 0)
            .await
            .unwrap()
    );
    let debits = ledger(&app, &user)
        .await
        .into_iter()
        .filter(|(k, ..)| *k == Kind::Debit)
        .count();
    assert_eq!(debits, 1);
    assert_eq!(balance(&app, &user).await, Credits::ZERO);
    other.shutdown_token().cancel();
}

/// An engine that never finishes on its own (until cancelled).
#[derive(Debug)]
struct Stuck;
impl Engine for Stuck {
    fn name(&self) -> &'static str {
        "stuck"
    }
    fn analyse<'a>(&'a self, _input: &'a Input, progress: &'a Progress) -> EngineFuture<'a> {
        Box::pin(async move {
            progress.report(Stage::Retrieving);
            std::future::pending::<Result<Analysis, EngineError>>().await
        })
    }
}

fn tasks_client() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.capabilities = ClientCapabilities::builder().enable_tasks().build();
    config
}

#[tokio::test]
async fn mcp_tasks_are_served_from_the_database_and_cancel_with_a_refund() {
    let app = TestApp::spawn_engine(Arc::new(Stuck), |s| s.agent_lease_secs = 3).await;
    let user = funded(&app, "tasks@example.com", 20).await;
    let auth = [("authorization", user.bearer())];
    let headers: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let client = app
        .mcp_handler(Transport::Http, &headers, tasks_client())
        .await;
    let mut args = Map::new();
    args.insert("text".into(), json!("The tower is 330 metres tall."));
    let response = client
        .call_tool_once(CallToolRequestParams::new("agent_analysis").with_arguments(args))
        .await
        .unwrap();
    let CallToolResponse::Task(created) = response else {
        panic!("a task handle, got {response:?}");
    };
    let task_id = created.task.task_id.clone();
    assert!(task_id.starts_with("task_"));
    assert_eq!(created.task.status, TaskStatus::Working);
    assert!(created.task.poll_interval_ms.is_some());
    client.cancel().await.unwrap();

    // A new connection (another session) sees the same task, from the database.
    let client = app
        .mcp_handler(Transport::Http, &headers, tasks_client())
        .await;
    let got = client
        .get_task(GetTaskParams::new(task_id.clone()))
        .await
        .unwrap();
    assert_eq!(got.task.status(), TaskStatus::Working);
    // Someone else's token cannot see it.
    let stranger = app.user("stranger@example.com").await;
    let other = app
        .mcp_with(Transport::Http, &[("authorization", &stranger.bearer())])
        .await;
    assert!(
        other
            .get_task(GetTaskParams::new(task_id.clone()))
            .await
            .is_err()
    );
    other.cancel().await.unwrap();

    client
        .cancel_task(CancelTaskParams::new(task_id.clone()))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got = client
            .get_task(GetTaskParams::new(task_id.clone()))
            .await
            .unwrap();
        if got.task.status() == TaskStatus::Cancelled {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not cancelled: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let task = finished(&app, &user, &task_id).await;
    assert_eq!(task.status, Status::Failed);
    assert_eq!(task.error.as_deref(), Some("cancelled"));
    assert_eq!(balance(&app, &user).await, Credits::whole(20));
    let refunds = ledger(&app, &user)
        .await
        .into_iter()
        .filter(|(k, _, d)| *k == Kind::Credit && d.starts_with("Refund"))
        .count();
    assert_eq!(refunds, 1);

    // The task is a resource too.
    let read = client
        .read_resource(ReadResourceRequestParams::new(format!(
            "clara://tasks/{task_id}"
        )))
        .await
        .unwrap();
    let text = serde_json::to_string(&read).unwrap();
    assert!(
        text.contains(&task_id) && text.contains("cancelled"),
        "{text}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn an_mcp_task_completes_with_the_result_inline() {
    let app = TestApp::spawn().await;
    let user = funded(&app, "inline@example.com", 20).await;
    let headers = [("authorization", user.bearer())];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let client = app
        .mcp_handler(Transport::Http, &headers, tasks_client())
        .await;
    let mut args = Map::new();
    args.insert("text".into(), json!("The tower is 330 metres tall."));
    let response = client
        .call_tool_once(CallToolRequestParams::new("agent_analysis").with_arguments(args))
        .await
        .unwrap();
    let CallToolResponse::Task(created) = response else {
        panic!("a task handle");
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let result = loop {
        let got = client
            .get_task(GetTaskParams::new(created.task.task_id.clone()))
            .await
            .unwrap();
        if got.task.status() == TaskStatus::Completed {
            break serde_json::to_value(&got).unwrap();
        }
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let task = &result["result"]["structuredContent"];
    assert_eq!(task["status"], "COMPLETED", "{result}");
    assert_eq!(
        task["result"]["claims"][0]["verdict"],
        "NOT_ENOUGH_EVIDENCE"
    );
    let link = &result["result"]["content"][1];
    assert_eq!(link["type"], "resource_link", "{result}");
    assert_eq!(
        link["uri"],
        format!("clara://tasks/{}", created.task.task_id)
    );
    client.cancel().await.unwrap();
}

/// Collects progress notifications.
#[derive(Debug, Clone, Default)]
struct Progressed(Arc<Mutex<Vec<ProgressNotificationParam>>>);
impl ClientHandler for Progressed {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.0.lock().unwrap().push(params);
    }
}

#[tokio::test]
async fn wait_returns_the_finished_task_with_progress_on_every_transport() {
    let app = TestApp::spawn().await;
    let user = funded(&app, "wait@example.com", 60).await;
    for transport in crate::support::mcp::ALL {
        let seen = Progressed::default();
        let headers = [("authorization", user.bearer())];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let client = app.mcp_handler(transport, &headers, seen.clone()).await;
        let mut args = Map::new();
        args.insert("text".into(), json!("The tower is 330 metres tall."));
        args.insert(
            "attachments".into(),
            json!([attachment("clip.mp4", &media::mp4(1))]),
        );
        args.insert("wait".into(), json!(true));
        let mut params = CallToolRequestParams::new("agent_analysis").with_arguments(args);
        params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
            rmcp::model::NumberOrString::Number(7),
        )));
        let result = client.call_tool(params).await.unwrap();
        let task = result.structured_content.expect("the task");
        assert_eq!(task["status"], "COMPLETED", "{transport:?}: {task}");
        assert_eq!(task["result"]["attachments"][0]["duration_seconds"], 1.0);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let progress = seen.0.lock().unwrap().clone();
        assert!(!progress.is_empty(), "{transport:?}: no progress");
        let last = progress.last().unwrap();
        assert_eq!(last.message.as_deref(), Some("done"), "{transport:?}");
        assert_eq!((last.progress, last.total), (4.0, Some(4.0)));
        assert!(progress.windows(2).all(|w| w[0].progress < w[1].progress));
        client.cancel().await.unwrap();
    }
    assert_eq!(balance(&app, &user).await, Credits::ZERO);
}

#[tokio::test]
async fn supported_attachments_lists_what_the_engine_processes() {
    let app = TestApp::spawn().await;
    let user = app.user("kinds@example.com").await;
    let input = clara::services::agent::SupportedInput {
        user_id: Some(user.id.clone()),
    };
    let kinds = app
        .rest::<agent::Supported>(Some(&user.bearer()), input)
        .await
        .unwrap();
    assert_eq!(kinds.max_files, 5);
    assert!(kinds.image.extensions.contains(&".jpg".to_string()));
    assert!(kinds.pdf.extensions == [".pdf"]);
    assert!(kinds.audio.extensions.contains(&".wav".to_string()));
    assert!(kinds.video.extensions.contains(&".mp4".to_string()));
    assert!(kinds.document.extensions.contains(&".csv".to_string()));
    assert_eq!(kinds.cost_in_credits, Credits::whole(20));
    // Every listed extension is accepted by the checks (and nothing else is).
    for ext in kinds.document.extensions {
        let name = format!("a{ext}");
        let body: &[u8] = if ext == ".json" { b"{}" } else { b"text" };
        assert!(clara::analysis::kinds::check(&name, body).is_ok(), "{name}");
    }
}

#[tokio::test]
async fn analysis_requests_need_a_credential_and_the_callers_own_id() {
    let app = TestApp::spawn().await;
    let ada = funded(&app, "ada-agent@example.com", 40).await;
    let bob = funded(&app, "bob-agent@example.com", 40).await;
    let (status, _) = submit(&app, &bob, request(&ada, "Someone else's credits.", vec![])).await;
    assert_eq!(status, 403);
    let reply = app
        .rest_raw(
            &agent::Analysis::CONTRACT,
            None,
            request(&ada, "No credential.", vec![]),
        )
        .await;
    assert_eq!(reply.status, 401);
    let (status, body) = submit(&app, &ada, request(&ada, "Mine.", vec![])).await;
    assert_eq!(status, 201);
    let theirs = TaskRef {
        user_id: Some(bob.id.clone()),
        task_id: body["data"]["id"].as_str().unwrap().into(),
    };
    let err = app
        .rest::<agent::View>(Some(&bob.bearer()), theirs)
        .await
        .unwrap_err();
    assert_eq!(err.status, 404);
    assert_eq!(
        err.message,
        "Task with the given identifier does not exist."
    );
    assert_eq!(balance(&app, &bob).await, Credits::whole(40));
}
