//! Credits and billing: the ledger under contention, transactions, Stripe Rate / Buy / Portal
//! against the Stripe stand-in, the signed settle webhook, reconciliation, admin routes.

use clara::{
    catalog::{admin, billing, credits as ops, users},
    model::{Credits, UserId},
    services::{
        NoInput, UserPage,
        billing::{Buy, Fulfilled},
        credits::{self, Applied, Entry},
        transactions::TransactionRef,
        users::UserRef,
    },
};
use serde_json::{Value, json};

use crate::support::{
    RestReply, TestApp,
    flows::TestUser,
    mcp::{self, Transport},
    stripe::{self, event, signature},
    typed::op,
};

const PRIVATE: &str = "clara_private_billing";

impl TestApp {
    /// Delivers a Stripe event to the webhook, signed now by the app's clock.
    async fn deliver(&self, body: &[u8]) -> RestReply {
        let header = signature(body, self.app.now());
        self.deliver_with(body, Some(&header)).await
    }

    async fn deliver_with(&self, body: &[u8], header: Option<&str>) -> RestReply {
        let mut request = self
            .http
            .post(self.api("/stripe/settle"))
            .body(body.to_vec());
        if let Some(header) = header {
            request = request.header("stripe-signature", header);
        }
        self.send(request).await
    }

    async fn balance(&self, user: &TestUser) -> f64 {
        let me = UserRef {
            user_id: Some(user.id.clone()),
        };
        let user = self
            .rest::<users::View>(Some(&user.bearer()), me)
            .await
            .unwrap();
        user.credits.as_f64()
    }

    /// The sum of the user's ledger, in hundredths.
    async fn ledger_sum(&self, user_id: &str) -> i64 {
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN type = 'CREDIT' THEN credits ELSE -credits END), 0) \
             AS BIGINT) FROM transactions WHERE user_id = '{user_id}'"
        );
        self.count(&sql).await
    }

    async fn buy(&self, user: &TestUser, amount: i64) -> Result<Value, clara::error::ErrorBody> {
        let input = Buy {
            amount,
            return_path: "billing".into(),
        };
        let checkout = self
            .rest::<billing::Buy>(Some(&user.bearer()), input)
            .await?;
        Ok(serde_json::to_value(checkout).unwrap())
    }
}

fn transactions(user: &TestUser, limit: i64, offset: i64) -> UserPage {
    UserPage {
        user_id: Some(user.id.clone()),
        limit: Some(limit),
        offset: Some(offset),
    }
}

#[tokio::test]
async fn a_purchase_is_credited_once_by_the_signed_webhook_and_shows_everywhere() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;

    // Buy: the documented body, a Checkout Session with the band's price per credit.
    let checkout = app.buy(&ann, 5).await.unwrap();
    assert_eq!(
        checkout,
        json!({"return_path": "billing", "url": checkout["url"], "value_in_credits": 500.0,
               "value_in_fiat": 5.0})
    );
    let session = app.stripe.session(None);
    assert_eq!(checkout["url"], session["url"]);
    assert_eq!(
        session["line_items_request"],
        json!({"price": stripe::PRICE, "quantity": 500})
    );
    assert_eq!(
        session["metadata"],
        json!({"user_id": ann.id, "value_in_credits": "500", "value_in_fiat": "5"})
    );
    assert_eq!(
        session["success_url"],
        "http://localhost:3000/billing?stripe_status=success"
    );
    assert_eq!(
        session["cancel_url"],
        "http://localhost:3000/billing?stripe_status=cancel"
    );
    assert_eq!(
        app.balance(&ann).await,
        0.0,
        "nothing before Stripe confirms"
    );

    // The signed webhook credits once; a replay and a second event for the session change nothing.
    let id = session["id"].as_str().unwrap();
    let paid = app.stripe.complete(id, true);
    let completed = event("evt_1", "checkout.session.completed", &paid);
    assert_eq!(app.deliver(&completed).await.status, 200);
    assert_eq!(app.balance(&ann).await, 500.0);
    assert_eq!(
        app.deliver(&completed).await.status,
        200,
        "a replay is acknowledged"
    );
    let succeeded = event("evt_2", "checkout.session.async_payment_succeeded", &paid);
    assert_eq!(app.deliver(&succeeded).await.status, 200);
    assert_eq!(
        app.balance(&ann).await,
        500.0,
        "one session is credited once"
    );

    // The CREDIT entry, in the list and on its own; the payment intent is never shown.
    let list = app
        .rest::<ops::List>(Some(&ann.bearer()), transactions(&ann, 20, 0))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    let entry = serde_json::to_value(&list.items[0]).unwrap();
    assert_eq!(entry["type"], "CREDIT");
    assert_eq!(entry["description"], "User bought 500 credits for $5.");
    assert_eq!(
        (
            entry["value_in_credits"].clone(),
            entry["value_in_fiat"].clone()
        ),
        (json!(500.0), json!(5.0))
    );
    assert!(!entry.to_string().contains("pi_"), "{entry}");
    let input = TransactionRef {
        user_id: Some(ann.id.clone()),
        transaction_id: list.items[0].id.clone(),
    };
    let one = app
        .rest::<ops::View>(Some(&ann.bearer()), input)
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(one).unwrap(), entry);
    assert_eq!(app.ledger_sum(&ann.id).await, 50_000);
}

#[tokio::test]
async fn the_purchase_flow_works_over_mcp() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let client = app
        .mcp_with(Transport::Http, &[("authorization", &ann.bearer())])
        .await;
    let rates = op::<billing::Rate>(&client, NoInput {}).await.unwrap();
    assert_eq!(rates.items[0].rate, 100);
    let input = Buy {
        amount: 7,
        return_path: String::new(),
    };
    let checkout = op::<billing::Buy>(&client, input).await.unwrap();
    assert!(
        checkout.url.starts_with("https://checkout.stripe.com/"),
        "{}",
        checkout.url
    );
    let session = app.stripe.session(None);
    let paid = app.stripe.complete(session["id"].as_str().unwrap(), true);
    app.deliver(&event("evt_mcp", "checkout.session.completed", &paid))
        .await;
    let me = op::<users::View>(&client, UserRef::default())
        .await
        .unwrap();
    assert_eq!(me.credits, Credits::whole(700));
    let list = op::<ops::List>(&client, UserPage::default()).await.unwrap();
    assert_eq!(list.items[0].description, "User bought 700 credits for $7.");
    let portal = op::<billing::Portal>(&client, NoInput {}).await.unwrap();
    assert!(portal.url.starts_with("https://billing.stripe.com/"));
    assert_eq!(
        app.stripe.customers(),
        1,
        "Buy and Portal share the customer"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn forged_stale_and_missing_signatures_are_400_and_change_nothing() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    app.buy(&ann, 5).await.unwrap();
    let id = app.stripe.session(None)["id"].as_str().unwrap().to_string();
    let body = event(
        "evt_forged",
        "checkout.session.completed",
        &app.stripe.complete(&id, true),
    );
    let now = app.app.now();
    let forged = clara::billing::signature::header("whsec_attacker", now, &body);
    let stale = signature(&body, now - 301);
    for header in [
        Some(forged.as_str()),
        Some(stale.as_str()),
        Some("t=1,v1=00"),
        None,
    ] {
        let reply = app.deliver_with(&body, header).await;
        assert_eq!(reply.status, 400, "{header:?}");
        assert_eq!(
            reply.message(),
            "The Stripe signature is missing, invalid or expired."
        );
    }
    // A body changed after signing.
    let header = signature(&body, now);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(app.deliver_with(&tampered, Some(&header)).await.status, 400);
    assert_eq!(app.balance(&ann).await, 0.0);
    assert_eq!(app.count("SELECT COUNT(*) FROM stripe_events").await, 0);

    // Moving the clock past the tolerance makes a once-good delivery stale.
    app.app.clock().advance(301);
    assert_eq!(app.deliver_with(&body, Some(&header)).await.status, 400);
    // And the event itself, signed freshly, still goes through.
    assert_eq!(app.deliver(&body).await.status, 200);
    assert_eq!(app.balance(&ann).await, 500.0);
}

#[tokio::test]
async fn fifty_concurrent_deliveries_of_one_event_credit_once() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    app.buy(&ann, 10).await.unwrap();
    let id = app.stripe.session(None)["id"].as_str().unwrap().to_string();
    let body = event(
        "evt_storm",
        "checkout.session.completed",
        &app.stripe.complete(&id, true),
    );
    let deliveries = (0..50).map(|_| app.deliver(&body));
    let replies = futures::future::join_all(deliveries).await;
    assert!(
        replies.iter().all(|r| r.status == 200),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(app.balance(&ann).await, 1000.0);
    assert_eq!(app.count("SELECT COUNT(*) FROM transactions").await, 1);
    assert_eq!(app.ledger_sum(&ann.id).await, 100_000);
}

#[tokio::test]
async fn concurrent_first_buy_calls_make_one_customer() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let buys = (0..8).map(|_| app.buy(&ann, 5));
    for result in futures::future::join_all(buys).await {
        result.unwrap();
    }
    assert_eq!(app.stripe.customers(), 1);
    let customer = app.stripe.session(None)["customer"]
        .as_str()
        .unwrap()
        .to_string();
    let sql = format!("SELECT COUNT(*) FROM users WHERE stripe_customer_id = '{customer}'");
    assert_eq!(app.count(&sql).await, 1);
}

#[tokio::test]
async fn amounts_outside_every_band_are_404_and_create_nothing() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    for amount in [-5, 0, 4, 1001] {
        let err = app.buy(&ann, amount).await.unwrap_err();
        assert_eq!(
            (err.status, err.message.as_str()),
            (404, "No credits rate found for the given amount.")
        );
    }
    assert_eq!(
        app.stripe.customers(),
        0,
        "nothing is created for a refused amount"
    );
    for (amount, credits) in [
        (5, 500.0),
        (100, 10_000.0),
        (101, 12_120.0),
        (1000, 120_000.0),
    ] {
        let checkout = app.buy(&ann, amount).await.unwrap();
        assert_eq!(checkout["value_in_credits"], json!(credits), "${amount}");
    }
    // A return path cannot leave the front end.
    for path in ["https://evil.example", "../admin", "a b", "x\\y"] {
        let input = Buy {
            amount: 5,
            return_path: path.into(),
        };
        let err = app
            .rest::<billing::Buy>(Some(&ann.bearer()), input)
            .await
            .unwrap_err();
        assert_eq!(err.status, 400, "{path}");
    }
    // Leading slashes are dropped: the path stays on the front end.
    let input = Buy {
        amount: 5,
        return_path: "//evil.example".into(),
    };
    app.rest::<billing::Buy>(Some(&ann.bearer()), input)
        .await
        .unwrap();
    let success = app.stripe.session(None)["success_url"].clone();
    assert_eq!(
        success,
        "http://localhost:3000/evil.example?stripe_status=success"
    );
}

#[tokio::test]
async fn a_delayed_payment_is_credited_when_it_succeeds_and_a_failed_one_is_mailed() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    app.buy(&ann, 5).await.unwrap();
    let id = app.stripe.session(None)["id"].as_str().unwrap().to_string();
    let unpaid = app.stripe.complete(&id, false);
    app.deliver(&event("evt_a", "checkout.session.completed", &unpaid))
        .await;
    assert_eq!(
        app.balance(&ann).await,
        0.0,
        "completed but unpaid: nothing yet"
    );
    let paid = app.stripe.settle(&id);
    app.deliver(&event(
        "evt_b",
        "checkout.session.async_payment_succeeded",
        &paid,
    ))
    .await;
    assert_eq!(app.balance(&ann).await, 500.0);

    app.buy(&ann, 6).await.unwrap();
    let id = app.stripe.session(None)["id"].as_str().unwrap().to_string();
    let failed = app.stripe.complete(&id, false);
    let reply = app
        .deliver(&event(
            "evt_c",
            "checkout.session.async_payment_failed",
            &failed,
        ))
        .await;
    assert_eq!(reply.status, 200);
    let mail = app.mail("ann@example.com").await;
    assert!(
        mail.subject().contains("purchase failed"),
        "{}",
        mail.subject()
    );
    assert!(mail.raw.contains("$6"), "{}", mail.raw);
    assert_eq!(app.balance(&ann).await, 500.0);
    // Events Clara does not act on are acknowledged.
    let other = event("evt_d", "customer.created", &json!({"id": "cus_1"}));
    assert_eq!(app.deliver(&other).await.status, 200);
}

#[tokio::test]
async fn reconcile_recovers_a_missed_webhook_and_the_late_webhook_adds_nothing() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    app.buy(&ann, 5).await.unwrap();
    let id = app.stripe.session(None)["id"].as_str().unwrap().to_string();
    let paid = app.stripe.complete(&id, true);
    // Another user's session, still open (abandoned checkout): not listed as complete.
    app.buy(&ann, 8).await.unwrap();

    let report = clara::services::billing::reconcile(&app.app, 3 * 24 * 3600)
        .await
        .unwrap();
    assert_eq!(report.sessions, 1);
    assert_eq!(
        report.credited,
        vec![(id.clone(), UserId::new(&ann.id), Credits::whole(500))]
    );
    assert_eq!(app.balance(&ann).await, 500.0);
    let again = clara::services::billing::reconcile(&app.app, 3 * 24 * 3600)
        .await
        .unwrap();
    assert_eq!(
        (again.credited.len(), again.already),
        (0, 1),
        "reconcile is idempotent"
    );

    app.deliver(&event("evt_late", "checkout.session.completed", &paid))
        .await;
    assert_eq!(app.balance(&ann).await, 500.0, "credited once in total");
    assert_eq!(app.ledger_sum(&ann.id).await, 50_000);
}

#[tokio::test]
async fn transactions_are_paged_newest_first_and_the_offset_is_honoured() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let id = UserId::new(&ann.id);
    for n in 1..=7 {
        credits::grant(
            &app.app,
            &id,
            Entry::credit(Credits::whole(n), format!("Grant {n}.")),
        )
        .await
        .unwrap();
    }
    let bearer = ann.bearer();
    let page =
        |limit, offset| app.rest::<ops::List>(Some(&bearer), transactions(&ann, limit, offset));
    let descriptions = |list: clara::services::transactions::Transactions| {
        list.items
            .into_iter()
            .map(|t| t.description)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        descriptions(page(3, 0).await.unwrap()),
        ["Grant 7.", "Grant 6.", "Grant 5."]
    );
    assert_eq!(
        descriptions(page(3, 3).await.unwrap()),
        ["Grant 4.", "Grant 3.", "Grant 2."]
    );
    assert_eq!(descriptions(page(3, 6).await.unwrap()), ["Grant 1."]);
    assert!(page(3, 7).await.unwrap().items.is_empty());
    // Defaults, and the documented 400 for bad values, typed from the query string.
    let reply = app
        .call(
            "GET",
            &format!("/users/{}/transactions", ann.id),
            Some(&ann.bearer()),
            None,
        )
        .await;
    assert_eq!(reply.data().as_array().unwrap().len(), 7);
    for query in ["limit=0", "limit=101", "offset=-1", "limit=x", "offset=1.5"] {
        let path = format!("/users/{}/transactions?{query}", ann.id);
        let reply = app.call("GET", &path, Some(&ann.bearer()), None).await;
        assert_eq!(reply.status, 400, "{query}");
        assert_eq!(
            reply.message(),
            "One or more required parameters are either not given or have invalid schema."
        );
    }
    assert_eq!(app.balance(&ann).await, 28.0);
}

#[tokio::test]
async fn another_users_transactions_are_403_by_path_and_404_under_ones_own() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let applied = credits::grant(
        &app.app,
        &UserId::new(&bob.id),
        Entry::credit(Credits::whole(1), "Bob's."),
    )
    .await
    .unwrap();
    let bobs = applied.transaction().id.clone();
    let by_path = TransactionRef {
        user_id: Some(bob.id.clone()),
        transaction_id: bobs.clone(),
    };
    let err = app
        .rest::<ops::View>(Some(&ann.bearer()), by_path)
        .await
        .unwrap_err();
    assert_eq!(err.status, 403);
    let own_path = TransactionRef {
        user_id: Some(ann.id.clone()),
        transaction_id: bobs,
    };
    let err = app
        .rest::<ops::View>(Some(&ann.bearer()), own_path)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status, err.message.as_str()),
        (404, "Transaction with the given identifier does not exist.")
    );
    let err = app
        .rest::<ops::List>(Some(&ann.bearer()), transactions(&bob, 5, 0))
        .await
        .unwrap_err();
    assert_eq!(err.status, 403);
}

#[tokio::test]
async fn admin_routes_take_the_private_key_only_and_write_through_the_ledger() {
    let app = TestApp::spawn_with(|s| s.private_api_key = Some(PRIVATE.into())).await;
    let ann = app.user("ann@example.com").await;
    let set = |credits: f64| clara::services::admin::SetCredits {
        user_id: ann.id.clone(),
        credits,
    };
    // A user token, the public key and no key are refused.
    let err = app
        .rest::<admin::SetCredits>(Some(&ann.bearer()), set(10.0))
        .await
        .unwrap_err();
    assert_eq!(err.status, 403);
    let err = app
        .rest::<admin::SetCredits>(None, set(10.0))
        .await
        .unwrap_err();
    assert_eq!(err.status, 401);
    let list = clara::services::admin::ListUsers {
        limit: Some(10),
        offset: Some(0),
    };
    let err = app
        .rest::<admin::ListUsers>(Some(&app.public_key()), list)
        .await
        .unwrap_err();
    assert_eq!(err.status, 403);

    // Set credits up and down: each change is one ledger entry valued at the reference rate.
    let user = app
        .rest::<admin::SetCredits>(Some(PRIVATE), set(10.0))
        .await
        .unwrap();
    assert_eq!(user.credits, Credits::whole(10));
    app.rest::<admin::SetCredits>(Some(PRIVATE), set(2.5))
        .await
        .unwrap();
    let list = app
        .rest::<ops::List>(Some(&ann.bearer()), transactions(&ann, 10, 0))
        .await
        .unwrap();
    let entries: Vec<Value> = list
        .items
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    assert_eq!(
        entries[1]["description"],
        "Admin updated credits from 0.0 to 10.0."
    );
    assert_eq!(
        (
            entries[1]["type"].clone(),
            entries[1]["value_in_fiat"].clone()
        ),
        (json!("CREDIT"), json!(0.1))
    );
    assert_eq!(
        entries[0]["description"],
        "Admin updated credits from 10.0 to 2.5."
    );
    assert_eq!(
        (
            entries[0]["type"].clone(),
            entries[0]["value_in_credits"].clone()
        ),
        (json!("DEBIT"), json!(7.5))
    );
    assert_eq!(
        app.rest::<admin::SetCredits>(Some(PRIVATE), set(-1.0))
            .await
            .unwrap_err()
            .status,
        400
    );

    // A manual entry moves the balance; a debit beyond it is refused and writes nothing.
    let manual = |kind: &str, credits: f64| {
        json!({"user_id": ann.id, "description": "Goodwill.", "value_in_credits": credits,
               "value_in_fiat": 0, "type": kind})
    };
    let path = format!("/users/{}/transactions", ann.id);
    let reply = app
        .call("POST", &path, Some(PRIVATE), Some(manual("CREDIT", 1.5)))
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let reply = app
        .call("POST", &path, Some(PRIVATE), Some(manual("DEBIT", 100.0)))
        .await;
    assert_eq!(
        (reply.status, reply.message()),
        (
            403,
            "You do not have enough credits to perform this action."
        )
    );
    assert_eq!(app.balance(&ann).await, 4.0);
    assert_eq!(app.ledger_sum(&ann.id).await, 400);

    // The ledger is append-only: no PATCH or DELETE on a transaction.
    let one = format!("{path}/{}", list.items[0].id);
    for method in ["PATCH", "DELETE"] {
        let reply = app
            .call(
                method,
                &one,
                Some(PRIVATE),
                Some(json!({"description": "x"})),
            )
            .await;
        assert_eq!(reply.status, 405, "{method}");
    }

    // List and delete users.
    let list = clara::services::admin::ListUsers {
        limit: Some(10),
        offset: Some(0),
    };
    let users = app
        .rest::<admin::ListUsers>(Some(PRIVATE), list)
        .await
        .unwrap();
    assert_eq!(users.items.len(), 1);
    let gone = clara::services::admin::DeleteUser {
        user_id: ann.id.clone(),
    };
    assert!(
        app.rest::<admin::DeleteUser>(Some(PRIVATE), gone)
            .await
            .is_ok()
    );
    let again = clara::services::admin::DeleteUser {
        user_id: ann.id.clone(),
    };
    assert_eq!(
        app.rest::<admin::DeleteUser>(Some(PRIVATE), again)
            .await
            .unwrap_err()
            .status,
        404
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM transactions").await, 0);
}

#[tokio::test]
async fn a_thousand_concurrent_spends_never_overdraw_and_the_ledger_agrees() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let id = UserId::new(&ann.id);
    credits::grant(&app.app, &id, Entry::credit(Credits::whole(500), "Float."))
        .await
        .unwrap();
    // 1,000 spends at once, at most 64 in flight so that the pool (16 connections) is the
    // contended resource rather than its acquire timeout on a loaded test machine.
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    let spends = (0..1000).map(|n| {
        let (app, id, gate) = (app.app.clone(), id.clone(), gate.clone());
        tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let entry = Entry::debit(Credits::whole(1), format!("Spend {n}."));
            credits::spend(&app, &id, entry).await
        })
    });
    let results = futures::future::join_all(spends).await;
    let ok = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let short = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(clara::error::Error::InsufficientCredits))))
        .count();
    let other: Vec<String> = results
        .iter()
        .filter_map(|r| match r {
            Ok(Err(clara::error::Error::InsufficientCredits)) | Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("{e:?}")),
            Err(e) => Some(e.to_string()),
        })
        .take(3)
        .collect();
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(
        (ok, short),
        (500, 500),
        "every spend either applied or was refused"
    );
    assert_eq!(app.balance(&ann).await, 0.0);
    assert_eq!(
        app.ledger_sum(&ann.id).await,
        0,
        "the balance equals the sum of its ledger"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM transactions").await, 501);
}

#[tokio::test]
async fn a_retried_charge_with_the_same_key_is_applied_once() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let id = UserId::new(&ann.id);
    credits::grant(&app.app, &id, Entry::credit(Credits::whole(50), "Float."))
        .await
        .unwrap();
    let charge = || Entry::debit(Credits::whole(20), "Analysis task_1.").key("task_1:charge");
    let first = credits::spend(&app.app, &id, charge()).await.unwrap();
    let retry = credits::spend(&app.app, &id, charge()).await.unwrap();
    assert!(matches!(first, Applied::New(_)) && matches!(retry, Applied::Before(_)));
    assert_eq!(first.transaction().id, retry.transaction().id);
    assert_eq!(app.balance(&ann).await, 30.0);
    let err = credits::spend(&app.app, &id, Entry::debit(Credits::whole(31), "Too much.")).await;
    assert!(matches!(err, Err(clara::error::Error::InsufficientCredits)));
    assert_eq!(
        app.balance(&ann).await,
        30.0,
        "a refused spend writes nothing"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM transactions").await, 2);
}

#[tokio::test]
async fn without_stripe_rate_answers_and_buy_and_portal_say_billing_is_not_configured() {
    let app = TestApp::spawn_with(|s| {
        s.stripe_secret_key = None;
        s.stripe_webhook_secret = None;
    })
    .await;
    let ann = app.user("ann@example.com").await;
    let rates = app
        .rest::<billing::Rate>(Some(&ann.bearer()), NoInput {})
        .await
        .unwrap();
    assert_eq!(rates.items.len(), 2);
    let err = app.buy(&ann, 5).await.unwrap_err();
    assert_eq!(
        (err.status, err.message.as_str()),
        (503, "Billing is not configured on this server.")
    );
    let err = app
        .rest::<billing::Portal>(Some(&ann.bearer()), NoInput {})
        .await
        .unwrap_err();
    assert_eq!(err.status, 503);
    assert_eq!(app.stripe.customers(), 0);
    assert_eq!(app.deliver(b"{}").await.status, 503);
}

#[tokio::test]
async fn signup_credits_are_granted_as_a_ledger_entry() {
    let app = TestApp::spawn_with(|s| s.signup_credits = 20).await;
    let ann = app.user("ann@example.com").await;
    assert_eq!(app.balance(&ann).await, 20.0);
    let list = app
        .rest::<ops::List>(Some(&ann.bearer()), transactions(&ann, 5, 0))
        .await
        .unwrap();
    assert_eq!(list.items[0].description, "Free credits on signup.");
    assert_eq!(app.ledger_sum(&ann.id).await, 2000);
}

#[tokio::test]
async fn fulfilment_is_a_domain_function_any_caller_can_use() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    app.buy(&ann, 5).await.unwrap();
    let id = app.stripe.session(None)["id"].as_str().unwrap().to_string();
    app.stripe.complete(&id, true);
    let session = clara::billing::CheckoutInfo {
        id: id.clone(),
        paid: true,
        metadata: [
            ("user_id", ann.id.as_str()),
            ("value_in_credits", "500"),
            ("value_in_fiat", "5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        payment_intent: Some(format!("pi_{id}")),
    };
    let first = clara::services::billing::fulfil(&app.app, &session)
        .await
        .unwrap();
    assert_eq!(
        first,
        Fulfilled::Credited(UserId::new(&ann.id), Credits::whole(500))
    );
    let second = clara::services::billing::fulfil(&app.app, &session)
        .await
        .unwrap();
    assert_eq!(second, Fulfilled::Already);
}

#[tokio::test]
async fn the_reconcile_command_credits_what_the_webhook_missed() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    app.buy(&ann, 5).await.unwrap();
    let id = app.stripe.session(None)["id"].as_str().unwrap().to_string();
    app.stripe.complete(&id, true);
    let run = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_clara"))
            .args(["billing", "reconcile", "--since", "1d"])
            .envs(app.child_env())
            .output()
    };
    let out = run().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("credited 500.00 credits to {} for {id}", ann.id)),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 complete sessions: 1 credited now"),
        "{stdout}"
    );
    assert_eq!(app.balance(&ann).await, 500.0);
    let again = run().await.unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains("0 credited now, 1 already credited"),
        "{stdout}"
    );
    assert_eq!(app.balance(&ann).await, 500.0);
}

/// A client that supports URL elicitation and accepts, remembering the URLs it was asked to open.
#[derive(Clone, Default)]
struct OpensUrls(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl rmcp::ClientHandler for OpensUrls {
    fn get_info(&self) -> rmcp::model::ClientConfig {
        let mut info = rmcp::model::ClientConfig::default();
        let url = rmcp::model::UrlElicitationCapability::new();
        info.capabilities.elicitation =
            Some(rmcp::model::ElicitationCapability::new().with_url(url));
        info
    }

    async fn create_elicitation(
        &self,
        request: rmcp::model::ElicitRequestParams,
        _context: rmcp::service::RequestContext<rmcp::RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        if let rmcp::model::ElicitRequestParams::UrlElicitationParams { url, .. } = request {
            self.0.lock().unwrap().push(url);
        }
        Ok(rmcp::model::ElicitResult::new(
            rmcp::model::ElicitationAction::Accept,
        ))
    }
}

#[tokio::test]
async fn over_mcp_buy_asks_clients_with_url_elicitation_to_open_the_checkout() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    for transport in crate::support::mcp::ALL {
        let opened = OpensUrls::default();
        let headers = [("authorization", ann.bearer())];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let client = app.mcp_handler(transport, &headers, opened.clone()).await;
        let before = app.stripe.sessions();
        let input = Buy {
            amount: 5,
            return_path: String::new(),
        };
        let checkout = op::<billing::Buy>(&client, input).await.unwrap();
        assert_eq!(
            *opened.0.lock().unwrap(),
            vec![checkout.url.clone()],
            "{transport:?}"
        );
        assert_eq!(
            app.stripe.sessions(),
            before + 1,
            "{transport:?}: one Checkout Session"
        );
        client.cancel().await.unwrap();
    }
    // A client without URL elicitation just gets the result.
    let client = app
        .mcp_with(Transport::Http, &[("authorization", &ann.bearer())])
        .await;
    let input = Buy {
        amount: 5,
        return_path: String::new(),
    };
    assert!(op::<billing::Buy>(&client, input).await.is_ok());
}

#[tokio::test]
async fn a_stateless_client_gets_an_input_required_url_elicitation_and_its_retry_runs_nothing_twice()
 {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let meta = mcp::stateless_meta("stateless-test", json!({"elicitation": {"url": {}}}));
    let first = app
        .stateless_call(
            Some(&ann.bearer()),
            json!({"name": "stripe_buy", "arguments": {"amount": 5}, "_meta": meta}),
        )
        .await;
    let result = &first["result"];
    assert_eq!(result["resultType"], "input_required", "{first}");
    let (key, request) = result["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_eq!(request["method"], "elicitation/create", "{request}");
    assert_eq!(request["params"]["mode"], "url");
    let url = request["params"]["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("https://checkout.stripe.com/"));
    let state = result["requestState"].as_str().unwrap();

    let responses = json!({ key.as_str(): {"action": "accept"} });
    let retry = json!({"name": "stripe_buy", "arguments": {"amount": 5}, "_meta": meta,
                       "inputResponses": responses, "requestState": state});
    let second = app.stateless_call(Some(&ann.bearer()), retry).await;
    assert_eq!(
        second["result"]["structuredContent"]["url"],
        url.as_str(),
        "{second}"
    );
    assert_eq!(
        app.stripe.sessions(),
        1,
        "the retry creates no second Checkout Session"
    );

    // A forged state is refused.
    let forged = json!({"name": "stripe_buy", "arguments": {"amount": 5}, "_meta": meta,
                        "inputResponses": responses, "requestState": "rs2.forged"});
    let third = app.stateless_call(Some(&ann.bearer()), forged).await;
    assert!(third["error"].is_object(), "{third}");
    assert_eq!(app.stripe.sessions(), 1);
}
