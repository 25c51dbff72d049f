//! Adversarial cases, each named for what it attacks: bad bytes at the edge, duplicate
//! headers, second-factor guessing, undeliverable mail, readable secrets.

use std::{os::unix::fs::PermissionsExt, time::Duration};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestApp, flows::basic};

const INVALID: &str =
    "One or more required parameters are either not given or have invalid schema.";

#[tokio::test]
async fn nul_and_control_bytes_in_emails_names_paths_and_basic_credentials_are_400_not_500() {
    let app = TestApp::spawn().await;
    let pk = app.public_key();
    let register = |email: &str, first: &str, password: &str| json!({"first_name": first, "last_name": "x", "email": email, "password": password});
    for body in [
        register("nul\u{0}@example.com", "ann", "long enough"),
        register("ann@example.com", "An\u{7}n", "long enough"),
        register("ann@example.com", "ann", "long\u{0}enough"),
        register("a\r\nBcc: x@evil.co@example.com", "ann", "long enough"),
    ] {
        let reply = app
            .call("POST", "/auth/register", Some(&pk), Some(body.clone()))
            .await;
        assert_eq!((reply.status, reply.message()), (400, INVALID), "{body}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users").await,
        0,
        "nothing stored"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox").await,
        0,
        "no mail queued"
    );

    // Any Unicode but NUL is a fine password.
    let ok = register("ann@example.com", "ann", "pässwörd\twith tab ✓");
    let reply = app
        .call("POST", "/auth/register", Some(&pk), Some(ok))
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);

    // A NUL in a path segment, or in Basic credentials.
    let reply = app
        .call(
            "POST",
            "/users/ann%00@example.com/otp/ACTIVATION",
            Some(&pk),
            None,
        )
        .await;
    assert_eq!((reply.status, reply.message()), (400, INVALID));
    let reply = app
        .call("GET", "/users/user_%00/transactions", Some(&pk), None)
        .await;
    assert_ne!(reply.status, 500);
    let reply = app
        .call(
            "POST",
            "/auth/session",
            Some(&basic("ann\u{0}@example.com", "x")),
            None,
        )
        .await;
    assert_eq!((reply.status, reply.message()), (400, INVALID));
    let reply = app
        .call(
            "POST",
            "/auth/session",
            Some(&basic("ann@example.com", "pässwörd\twith tab ✓")),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

/// Sends raw request bytes and returns the status line.
async fn raw(app: &TestApp, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn two_authorization_or_two_host_headers_are_400() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let path = format!("/api/v1/users/{}", ann.id);
    let one = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        ann.bearer()
    );
    assert!(
        raw(&app, &one).await.contains(" 200 "),
        "a single header is fine"
    );
    let two_auth = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        ann.bearer(),
        app.public_key()
    );
    assert!(raw(&app, &two_auth).await.contains(" 400 "));
    let two_hosts = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        ann.bearer()
    );
    assert!(raw(&app, &two_hosts).await.contains(" 400 "));
    let mcp = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    assert!(raw(&app, mcp).await.contains(" 400 "), "MCP routes too");
}

#[tokio::test]
async fn five_wrong_second_factors_lock_2fa_login_for_fifteen_minutes_and_mail_the_owner() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let code = app.otp("ann@example.com", "TWO_FACTOR_AUTH").await;
    let reply = app
        .call(
            "POST",
            &format!("/users/{}/2fa", ann.id),
            Some(&ann.bearer()),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(reply.status, 200);
    app.mail("ann@example.com").await; // "2FA enabled"
    let login = async |code: &str| {
        app.login("ann@example.com", &ann.password, Some(code))
            .await
    };

    // Four wrong, then right: the count starts over.
    for _ in 0..4 {
        assert_eq!(login("000000").await.status, 401);
    }
    let code = app.otp("ann@example.com", "TWO_FACTOR_AUTH").await;
    assert_eq!(login(&code).await.status, 200);
    for _ in 0..4 {
        assert_eq!(login("000000").await.status, 401);
    }
    // The fifth wrong code in a row locks: even the right code is refused, with Retry-After.
    assert_eq!(login("000000").await.status, 401);
    let mail = app.mail("ann@example.com").await;
    assert!(mail.subject().contains("locked"), "{}", mail.subject());
    app.app.clock().advance(61); // past the OTP cooldown
    let code = app.otp("ann@example.com", "TWO_FACTOR_AUTH").await;
    let locked = login(&code).await;
    assert_eq!(
        (locked.status, locked.message()),
        (429, "You have exceeded the rate limit.")
    );
    let retry: i64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((800..=900).contains(&retry), "{retry}");
    // A quarter of an hour later (that code has expired meanwhile) a fresh one works.
    app.app.clock().advance(15 * 60);
    let code = app.otp("ann@example.com", "TWO_FACTOR_AUTH").await;
    assert_eq!(login(&code).await.status, 200);
}

#[tokio::test]
async fn a_mail_that_can_never_be_sent_is_set_aside_and_does_not_block_the_others() {
    let app = TestApp::spawn().await;
    let mut conn = app.app.store().conn().await.unwrap();
    let bad = clara::mail::templates::otp("not an address", None, "ACTIVATION", "123456");
    clara::store::outbox::enqueue(&mut conn, &bad.row(), app.app.now())
        .await
        .unwrap();
    drop(conn);
    app.app.mailer().wake();
    app.user("ann@example.com").await; // its welcome mail still arrives
    let mut dead = 0;
    for _ in 0..100 {
        dead = app
            .count("SELECT COUNT(*) FROM outbox WHERE dead_at IS NOT NULL")
            .await;
        if dead == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead, 1);
    assert_eq!(
        app.count("SELECT attempts FROM outbox WHERE dead_at IS NOT NULL")
            .await,
        1,
        "not retried"
    );
    let bodies =
        app.count("SELECT COUNT(*) FROM outbox WHERE dead_at IS NOT NULL AND text_body = ''");
    assert_eq!(bodies.await, 1, "its code is dropped");
}

#[tokio::test]
async fn the_data_directory_database_secrets_and_outbox_are_the_owners_only() {
    let app = TestApp::spawn_with(|s| s.smtp_url = None).await;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("fresh").join("data");
    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_clara"))
        .arg("migrate")
        .env_clear()
        .env("CLARA_DATA_DIR", &dir)
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for file in ["clara.db", "secret.key", "public_api.key"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    // The outbox files hold codes.
    app.register("ann@example.com", "long enough").await;
    let outbox = app.data_dir.path().join("outbox");
    let mut found = None;
    for _ in 0..100 {
        found = std::fs::read_dir(&outbox)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok());
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(mode(&found.expect("an .eml file").path()), 0o600);
    assert_eq!(mode(&outbox), 0o700);
}

/// A client whose requests come from `ip` (any 127.x address reaches the server on Linux).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn one_flooder_holding_the_public_key_does_not_stop_registrations_from_elsewhere() {
    let app = TestApp::spawn_with(|s| s.rate_limit = "5/s".parse().unwrap()).await;
    let pk = app.public_key();
    let flooder = client_from("127.0.0.2");
    let mut limited = 0;
    for _ in 0..20 {
        let request = flooder
            .post(app.api("/auth/register"))
            .header("authorization", &pk);
        if app.send(request).await.status == 429 {
            limited += 1;
        }
    }
    assert!(limited >= 10, "the flooder is limited ({limited} of 20)");
    let body = json!({"first_name": "ann", "last_name": "lee", "email": "ann@example.com", "password": "long enough"});
    let request = client_from("127.0.0.3")
        .post(app.api("/auth/register"))
        .header("authorization", &pk)
        .json(&body);
    assert_eq!(
        app.send(request).await.status,
        201,
        "another address registers"
    );
}

#[tokio::test]
async fn random_bearer_tokens_spend_their_addresses_budget_before_any_lookup() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let path = format!("/users/{}", ann.id);
    let sprayer = client_from("127.0.0.4");
    let mut statuses = Vec::new();
    for n in 0..30 {
        let token = format!("Bearer clara_api_{n:032}");
        let request = sprayer.get(app.api(&path)).header("authorization", token);
        statuses.push(app.send(request).await.status);
    }
    let budget = clara::ratelimit::BAD_CREDENTIALS.max as usize;
    assert!(statuses[..budget].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[budget..].iter().all(|s| *s == 429), "{statuses:?}");
    let request = client_from("127.0.0.5")
        .get(app.api(&path))
        .header("authorization", ann.bearer());
    assert_eq!(
        app.send(request).await.status,
        200,
        "the owner elsewhere is unaffected"
    );
}

#[tokio::test]
async fn failed_logins_are_budgeted_per_address_and_account_without_locking_the_owner_out() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let guesser = client_from("127.0.0.6");
    let login = |client: &reqwest::Client, email: &str, password: &str| {
        client
            .post(app.api("/auth/session"))
            .header("authorization", basic(email, password))
    };
    let per_account = clara::ratelimit::LOGINS_PER_ACCOUNT.max;
    for _ in 0..per_account {
        assert_eq!(
            app.send(login(&guesser, "ann@example.com", "wrong guess"))
                .await
                .status,
            401
        );
    }
    let refused = app
        .send(login(&guesser, "ann@example.com", &ann.password))
        .await;
    assert_eq!(
        refused.status, 429,
        "even the right password, from the guesser's address"
    );
    assert!(refused.headers.contains_key("retry-after"));
    let owner = app
        .send(login(
            &client_from("127.0.0.7"),
            "ann@example.com",
            &ann.password,
        ))
        .await;
    assert_eq!(owner.status, 200, "the owner elsewhere logs in");

    // Many emails from one address: the address's budget.
    let sprayer = client_from("127.0.0.8");
    let per_address = clara::ratelimit::LOGINS_PER_ADDRESS.max;
    let mut statuses = Vec::new();
    for n in 0..per_address + 3 {
        let email = format!("nobody{n}@example.com");
        statuses.push(app.send(login(&sprayer, &email, "whatever1")).await.status);
    }
    let limit = per_address as usize;
    assert!(statuses[..limit].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[limit..].iter().all(|s| *s == 429), "{statuses:?}");
}

/// `initialize` on `/mcp` from `client`: the status and the session id, if one was opened.
async fn initialize(app: &TestApp, client: &reqwest::Client) -> (u16, Option<String>) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "abuse", "version": "1"}}});
    let reply = client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    let id = reply
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_string());
    (reply.status().as_u16(), id)
}

#[tokio::test]
async fn mcp_sessions_are_capped_per_address_and_in_total_and_a_closed_one_frees_its_slot() {
    let app = TestApp::spawn_with(|s| {
        s.max_mcp_sessions = 3;
        s.max_mcp_sessions_per_address = 2;
    })
    .await;
    let greedy = client_from("127.0.0.9");
    let (_, first) = initialize(&app, &greedy).await;
    let (_, second) = initialize(&app, &greedy).await;
    assert!(first.is_some() && second.is_some());
    let (status, none) = initialize(&app, &greedy).await;
    assert_eq!((status, none), (503, None), "a third from one address");
    let other = client_from("127.0.0.10");
    let (status, third) = initialize(&app, &other).await;
    assert_eq!(status, 200);
    let (status, _) = initialize(&app, &client_from("127.0.0.11")).await;
    assert_eq!(status, 503, "the total cap");
    // Closing a session frees its slot; the open ones keep working.
    let closed = greedy
        .delete(app.url("/mcp"))
        .header("mcp-session-id", first.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 204, "a status every client accepts");
    let (status, _) = initialize(&app, &greedy).await;
    assert_eq!(status, 200, "a slot was freed");
    assert!(third.is_some());

    // Legacy SSE streams: the same caps, counted on their own.
    let streams: Vec<_> = futures::future::join_all((0..2).map(|_| {
        client_from("127.0.0.12")
            .get(app.url("/sse"))
            .header("accept", "text/event-stream")
            .send()
    }))
    .await;
    assert!(streams.iter().all(|r| r.as_ref().unwrap().status() == 200));
    let refused = client_from("127.0.0.12")
        .get(app.url("/sse"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    drop(streams);
}

/// Reads until the server closes the connection or `within` passes; true when it closed.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // an error answer, then the close
            Err(_) => return false,
        }
    }
}

async fn connect_from(app: &TestApp, ip: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    socket.connect(app.addr).await.unwrap()
}

#[tokio::test]
async fn dribbled_headers_and_half_sent_bodies_are_cut_off_and_health_stays_quick() {
    let app = TestApp::spawn_with(|s| {
        s.header_timeout_secs = 1;
        s.body_timeout_secs = 1;
    })
    .await;
    // 100 connections that never finish their headers, 20 whose body never arrives.
    let mut dribblers = Vec::new();
    for _ in 0..100 {
        let mut stream = connect_from(&app, "127.0.0.14").await;
        stream
            .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        dribblers.push(stream);
    }
    let mut half_sent = Vec::new();
    for _ in 0..20 {
        let mut stream = connect_from(&app, "127.0.0.15").await;
        let head = "POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":";
        stream.write_all(head.as_bytes()).await.unwrap();
        half_sent.push(stream);
    }
    let started = std::time::Instant::now();
    assert_eq!(app.get("/health").await.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "health answers meanwhile"
    );
    for stream in dribblers.iter_mut().chain(half_sent.iter_mut()) {
        assert!(
            closed_within(stream, Duration::from_secs(5)).await,
            "cut off"
        );
    }
}

#[tokio::test]
async fn one_address_cannot_hold_more_connections_than_its_cap() {
    let app = TestApp::spawn_with(|s| s.max_connections_per_address = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(&app, "127.0.0.16").await);
    }
    // Give the server a moment to accept them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = connect_from(&app, "127.0.0.16").await;
    assert!(
        closed_within(&mut fourth, Duration::from_secs(2)).await,
        "the fourth is closed"
    );
    let reply = client_from("127.0.0.17")
        .get(app.api("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200, "other addresses are served");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reply = client_from("127.0.0.16")
        .get(app.api("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.status(),
        200,
        "slots come back when connections close"
    );
}

#[tokio::test]
async fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit = "3/s".parse().unwrap();
        s.trusted_proxies = vec!["127.0.0.20".parse().unwrap()];
    })
    .await;
    let pk = app.public_key();
    let send = async |from: &str, forwarded: &str| {
        let request = client_from(from)
            .get(app.api("/stripe/rate"))
            .header("authorization", &pk)
            .header("x-forwarded-for", forwarded);
        app.send(request).await.status
    };
    // Through the proxy: each forwarded client has its own bucket.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(send("127.0.0.20", "10.9.9.1").await);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_ne!(
        send("127.0.0.20", "10.9.9.2").await,
        429,
        "another client behind the proxy"
    );
    // From anyone else the header is ignored: changing it does not escape the limit.
    let mut statuses = Vec::new();
    for n in 0..5 {
        statuses.push(send("127.0.0.21", &format!("10.8.8.{n}")).await);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn large_uploads_share_one_memory_budget_and_the_excess_is_503() {
    // Budget: 64 MiB (the floor); each request below declares 6 MiB and never sends it.
    let app = TestApp::spawn_with(|s| s.max_upload_bytes = 8 * 1024 * 1024).await;
    let declared = 6 * 1024 * 1024;
    let mut held = Vec::new();
    for _ in 0..10 {
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {declared}\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // 10 × 6 MiB are in flight: one more does not fit, whoever sends it.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/users/u/agent/analysis HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {declared}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut reply = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut reply))
        .await
        .unwrap()
        .unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]).to_ascii_lowercase();
    assert!(reply.starts_with("http/1.1 503"), "{reply}");
    assert!(reply.contains("retry-after: 5"), "{reply}");
    // Small requests are not affected, and closing the held uploads frees the budget.
    assert_eq!(app.get("/health").await.status, 200);
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut first = [0u8; 12];
    let read = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut first)).await;
    if let Ok(Ok(n)) = read {
        let status = String::from_utf8_lossy(&first[..n]).to_string();
        assert!(
            !status.contains("503"),
            "still refused after the uploads ended: {status}"
        );
    }
}

#[tokio::test]
async fn a_login_flood_from_one_address_leaves_real_logins_and_health_working() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann-flood@example.com").await;
    let owner = client_from("127.0.0.9");
    let login = |client: &reqwest::Client, email: &str, password: &str| {
        client
            .post(app.api("/auth/session"))
            .header("authorization", basic(email, password))
    };
    let timed = async |request: reqwest::RequestBuilder| {
        let started = std::time::Instant::now();
        let status = request.send().await.unwrap().status().as_u16();
        (status, started.elapsed())
    };
    let health = || owner.get(app.api("/health"));
    let (_, idle_health) = timed(health()).await;
    let (status, idle_login) = timed(login(&owner, &ann.email, &ann.password)).await;
    assert_eq!(status, 200);

    // One address sprays 300 logins with made-up emails, 32 at a time.
    let flooder = client_from("127.0.0.10");
    let url = app.api("/auth/session");
    let flood = tokio::spawn(async move {
        use futures::StreamExt;
        futures::stream::iter(0..300)
            .map(|n| {
                let request = flooder.post(&url).header(
                    "authorization",
                    basic(&format!("spray{n}@example.com"), "guess1234"),
                );
                async move {
                    request
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<u16>>()
            .await
    });
    let mut during_health = Vec::new();
    let mut during_login = Vec::new();
    while !flood.is_finished() {
        let (status, took) = timed(health()).await;
        assert_eq!(status, 200);
        during_health.push(took);
        let (status, took) = timed(login(&owner, &ann.email, &ann.password)).await;
        assert_eq!(status, 200, "the owner's login during the flood");
        during_login.push(took);
    }
    let statuses = flood.await.unwrap();
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    // At most the address's budget was ever hashed; everything else was told to retry.
    assert!(evaluated >= 1, "{statuses:?}");
    assert!(evaluated <= clara::ratelimit::LOGINS_PER_ADDRESS.max as usize);
    assert_eq!(evaluated + refused, 300, "{statuses:?}");
    let max = |v: &[std::time::Duration]| v.iter().max().copied().unwrap_or_default();
    // Figures for the record (no timing is asserted: speed is measured by the benchmarks).
    eprintln!(
        "login flood: idle health {idle_health:?}, login {idle_login:?}; during the flood \
         ({} samples) health max {:?}, login max {:?}; flood: {evaluated} evaluated, {refused} \
         refused with 429",
        during_health.len(),
        max(&during_health),
        max(&during_login),
    );
}

#[tokio::test]
async fn one_address_may_only_queue_a_few_password_checks_at_once() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann-queue@example.com").await;
    let one = client_from("127.0.0.11");
    let attempts = (0..12).map(|_| {
        app.send(
            one.post(app.api("/auth/session"))
                .header("authorization", basic(&ann.email, &ann.password)),
        )
    });
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status)
        .collect();
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    assert!(admitted >= 1, "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "the rest are told to retry: {statuses:?}"
    );
    // The places free again: a later login from that address goes through.
    let later = app
        .send(
            one.post(app.api("/auth/session"))
                .header("authorization", basic(&ann.email, &ann.password)),
        )
        .await;
    assert_eq!(later.status, 200);
}

#[tokio::test]
async fn a_known_good_credential_goes_on_behind_a_nat_whose_budget_someone_else_spent() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann-nat@example.com").await;
    let bob = app.user("bob-nat@example.com").await;
    let path = |user: &crate::support::flows::TestUser| format!("/users/{}", user.id);
    let nat = client_from("127.0.0.12");
    // Ann works from behind the NAT: her token has resolved there.
    let mine = nat
        .get(app.api(&path(&ann)))
        .header("authorization", ann.bearer());
    assert_eq!(app.send(mine).await.status, 200);
    // Someone else behind the same NAT sprays bad tokens and spends the address's budget.
    for n in 0..clara::ratelimit::BAD_CREDENTIALS.max + 2 {
        let token = format!("Bearer clara_api_{n:032}");
        let spray = nat.get(app.api(&path(&ann))).header("authorization", token);
        app.send(spray).await;
    }
    let spray = nat.get(app.api(&path(&ann))).header(
        "authorization",
        "Bearer clara_api_00000000000000000000000000000099",
    );
    assert_eq!(app.send(spray).await.status, 429, "the sprayer is refused");
    // Ann's known-good token goes on; Bob's, new at that address, waits like everyone else.
    let mine = nat
        .get(app.api(&path(&ann)))
        .header("authorization", ann.bearer());
    assert_eq!(app.send(mine).await.status, 200);
    let new_here = nat
        .get(app.api(&path(&bob)))
        .header("authorization", bob.bearer());
    assert_eq!(app.send(new_here).await.status, 429);
}
