//! Health, readiness, metrics and request ids.

use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    let ready = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone_but_health_does_not() {
    let app = TestApp::spawn().await;
    app.db.clone().close().await.unwrap();

    let ready = app.http.get(app.url("/ready")).send().await.unwrap();
    let health = app.http.get(app.url("/health")).send().await.unwrap();

    assert_eq!(ready.status(), 503);
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_a_given_one() {
    let app = TestApp::spawn().await;
    let fresh = app.http.get(app.url("/health")).send().await.unwrap();
    let given = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    let id = fresh.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a generated uuid: {id}");
    assert_eq!(given.headers()["x-request-id"], "trace-me-123");
}

#[tokio::test]
async fn metrics_count_operations_by_outcome_and_show_the_pool() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("metrics").await;
    app.gql_as(&owner.access_token, "{ me { role } }", json!({}))
        .await
        .data("me");
    app.gql("{ me { role } }", json!({}))
        .await
        .expect_error("UNAUTHENTICATED");

    let text = app.metrics().await;

    let line = |needle: &str| text.lines().any(|l| l.contains(needle));
    assert!(
        line(r#"promohub_graphql_operations_total{operation="query:me",outcome="ok"}"#),
        "{text}"
    );
    assert!(
        line(r#"promohub_graphql_operations_total{operation="query:me",outcome="error"}"#),
        "{text}"
    );
    assert!(
        line("promohub_graphql_operation_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        line(r#"promohub_db_pool_connections{state="in_use"}"#),
        "{text}"
    );
    assert!(line("promohub_http_requests_total"), "{text}");
}

#[tokio::test]
async fn a_database_failure_during_authentication_is_503_not_401() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("acme").await;
    app.db.clone().close().await.unwrap();

    let response = app
        .gql_as(&owner.access_token, "{ me { role } }", json!({}))
        .await;

    assert_eq!(
        response.status, 503,
        "a valid token must not look rejected: {:?}",
        response.body
    );
    assert_eq!(response.code(), Some("INTERNAL"));
}

/// The release binary as a newcomer starts it (`cargo run`): SQLite, demo
/// data, any free port, its stdout a pipe as when written to a file.
struct Binary {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    base: String,
    _dir: tempfile::TempDir,
}

impl Binary {
    async fn start() -> Self {
        use tokio::io::AsyncBufReadExt;
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("first.db").display()
        );
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_promohub"))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .env("DATABASE_URL", url)
            .env_remove("RUST_LOG")
            .env_remove("PROMOHUB_LOG_FORMAT")
            .env_remove("PROMOHUB_PUBLIC_URL")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
                .await
                .expect("the server starts within a minute")
                .unwrap()
                .expect("the server is still running");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        Self {
            child,
            lines,
            base,
            _dir: dir,
        }
    }

    /// The next line of the log that contains `wanted`.
    async fn line_with(&mut self, wanted: &str) -> String {
        loop {
            let line =
                tokio::time::timeout(std::time::Duration::from_secs(10), self.lines.next_line())
                    .await
                    .unwrap_or_else(|_| panic!("no log line with {wanted}"))
                    .unwrap()
                    .unwrap();
            if line.contains(wanted) {
                return line;
            }
        }
    }
}

#[tokio::test]
async fn the_binary_logs_one_plain_line_per_request_with_its_status_operation_and_id() {
    let mut binary = Binary::start().await;
    let http = reqwest::Client::new();

    let response = http
        .post(format!("{}/graphql", binary.base))
        .header("x-request-id", "first-look-1")
        .json(&json!({ "query": "query FirstLook { __typename }", "operationName": "FirstLook" }))
        .send()
        .await
        .unwrap();
    let missing = http
        .get(format!("{}/nowhere", binary.base))
        .send()
        .await
        .unwrap();
    let answered = binary.line_with("first-look-1").await;
    let not_found = binary.line_with("/nowhere").await;
    binary.child.kill().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(missing.status(), 404);
    for part in [
        "INFO",
        "answered",
        "method=POST",
        "path=/graphql",
        "status=200",
        "operation=\"FirstLook\"",
        "latency_ms=",
    ] {
        assert!(answered.contains(part), "{part} missing in: {answered}");
    }
    assert!(not_found.contains("status=404"), "{not_found}");
    // No colour codes: stdout is a pipe, not a terminal.
    assert!(!answered.contains('\u{1b}'), "{answered:?}");
}
