//! The database failing under the server: connections killed by
//! `pg_terminate_backend`, and a restart of PostgreSQL while opens are
//! recorded. PostgreSQL only (SQLite has no server to lose).
//!
//! The restart test needs a PostgreSQL server of its own, which it restarts:
//! `TEST_RESTARTABLE_PG_URL` (its admin URL) and `TEST_RESTARTABLE_PG_RESTART`
//! (a shell command that restarts it; CI uses `scripts/throwaway-pg.sh`).
//! Without them it is skipped.

use std::time::{Duration, Instant};

use futures::future::join_all;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::json;

use crate::helpers::{TestApp, on_postgres};
use crate::messaging::{
    create_lead, create_sender, create_template, send, token_in, wait_for_status,
};
use crate::smtp_server::TestSmtpServer;

const LEADS: &str = "{ leads(first: 5) { totalCount edges { node { id } } } }";

/// Ends every connection to the server's database but `admin`'s own.
async fn terminate_backends(admin: &DatabaseConnection) -> i64 {
    let row = admin
        .query_one_raw(Statement::from_string(
            admin.get_database_backend(),
            "SELECT count(pg_terminate_backend(pid)) AS killed FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ))
        .await
        .expect("terminate backends")
        .expect("a row");
    row.try_get("", "killed").expect("killed")
}

#[tokio::test]
async fn requests_after_the_database_killed_every_connection_are_answered() {
    if !on_postgres() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,sqlx=warn")
        .with_test_writer()
        .try_init();
    // Arrange: a pool with several connections open.
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    join_all((0..10).map(|_| app.gql_as(&owner.access_token, LEADS, json!({})))).await;
    let admin = Database::connect(&app.config.database_url)
        .await
        .expect("admin connection");
    assert!(terminate_backends(&admin).await > 0);

    // Act: one request at a time, then many at once, then a change.
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(app.gql_as(&owner.access_token, LEADS, json!({})).await);
    }
    terminate_backends(&admin).await;
    answers
        .extend(join_all((0..10).map(|_| app.gql_as(&owner.access_token, LEADS, json!({})))).await);
    terminate_backends(&admin).await;
    let created = app
        .gql_as(
            &owner.access_token,
            "mutation { createLead(input: { firstName: \"Ada\", email: \"ada@example.org\" }) { id } }",
            json!({}),
        )
        .await;

    // Assert: every one answered, with data.
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.data("leads")["totalCount"], 0, "{}", answer.body);
    }
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.data("createLead")["id"].is_string());
}

#[tokio::test]
async fn every_answered_open_is_stored_once_across_a_database_restart() {
    let (Ok(admin_url), Ok(restart)) = (
        std::env::var("TEST_RESTARTABLE_PG_URL"),
        std::env::var("TEST_RESTARTABLE_PG_RESTART"),
    ) else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,sqlx=warn")
        .with_test_writer()
        .try_init();
    // Arrange: a sent message on a server whose database will restart.
    let app = TestApp::spawn_on_postgres(&admin_url, |c| {
        c.messaging.worker_poll_ms = 50;
        c.messaging.machine_window_ms = 0;
    })
    .await;
    let owner = app.sign_up("acme").await;
    let smtp = TestSmtpServer::start();
    create_sender(&app, &owner, "primary", smtp.port(), 10).await;
    let lead = create_lead(&app, &owner, "Ada", "ada@example.org").await;
    let template = create_template(&app, &owner).await;
    let queued = send(&app, &owner, &lead, &template).await;
    let message = wait_for_status(&app, &owner, queued["id"].as_str().unwrap(), "SENT").await;
    let pixel = app.url(&format!(
        "/t/o/{}",
        token_in(message["htmlBody"].as_str().unwrap(), "/t/o/")
    ));

    // Act: 200 opens a second for 6 s; the database restarts (down 2 s)
    // after the first 1.5 s.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .user_agent("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko)")
        .build()
        .unwrap();
    let restarting = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&restart)
            .status()
            .await
            .expect("run the restart command");
        assert!(status.success(), "{restart}: {status}");
    });
    let start = Instant::now();
    let mut hits = Vec::new();
    for i in 0..1_200u64 {
        tokio::time::sleep_until((start + Duration::from_millis(i * 5)).into()).await;
        let (http, pixel) = (http.clone(), pixel.clone());
        hits.push(tokio::spawn(async move {
            http.get(&pixel).send().await.map(|r| r.status().as_u16())
        }));
    }
    let answers: Vec<_> = join_all(hits)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    restarting.await.unwrap();

    // Assert: every hit answered with the pixel, and each stored once.
    let answered = answers.iter().filter(|a| matches!(a, Ok(200))).count();
    assert_eq!(
        answered,
        answers.len(),
        "unanswered: {:?}",
        answers
            .iter()
            .filter(|a| !matches!(a, Ok(200)))
            .take(5)
            .collect::<Vec<_>>()
    );
    let db = Database::connect(&app.config.database_url)
        .await
        .expect("connect");
    let sql = format!(
        "SELECT count(*) AS n FROM engagement_events \
         WHERE message_id = '{}' AND event_type = 'opened'",
        message["id"].as_str().unwrap()
    );
    let stored: i64 = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("count")
        .expect("a row")
        .try_get("", "n")
        .expect("n");
    assert_eq!(stored, answered as i64);
}
